"""The dashboard: the people's view of the numbers, behind a login."""
