"""Who may do what: API tokens and their scopes, dashboard users and sessions, the audit trail."""
