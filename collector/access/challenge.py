"""The answer to a missing or bad credential: AuthError, and the `WWW-Authenticate: Bearer` header every 401 carries.

Kept apart from the token store, which needs DuckDB, so that the ingest door of a scale-out node can raise and
render it without importing a database.
"""

from __future__ import annotations

from collector.errors import ClientError

CHALLENGE = 'Bearer realm="collector"'


def challenge(status: int) -> dict[str, str]:
    """The header every 401 carries (RFC 9110, 15.5.2): the collector's credentials are bearer tokens."""
    return {"WWW-Authenticate": CHALLENGE} if status == 401 else {}


def raw_challenge(status: int) -> list[tuple[bytes, bytes]]:
    """challenge() as raw ASGI headers, for the routes answered before Starlette."""
    return [(b"www-authenticate", CHALLENGE.encode())] if status == 401 else []


class AuthError(ClientError):
    """401 (no valid token), 403 (the token may not do this) or 503; no field is at fault."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, None, status)
