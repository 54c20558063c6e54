"""Admin operations and the local socket through which the CLI reaches a running server."""
