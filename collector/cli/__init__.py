"""The `collector` command."""
