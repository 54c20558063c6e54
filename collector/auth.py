"""API tokens and scopes: `Authorization: Bearer col_<id>_<secret>`; only a hash of the secret is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

SCOPES = ("stats:read", "segments:read", "identify", "erase", "admin")
_PREFIX = "col_"


class AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: str
    name: str
    scopes: frozenset[str]
    sites: frozenset[str] | None  # None: every site

    def allows(self, scope: str, site: str | None = None) -> bool:
        if "admin" not in self.scopes and scope not in self.scopes:
            return False
        return site is None or self.sites is None or site in self.sites


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def create_token(
    con: duckdb.DuckDBPyConnection, name: str, scopes: list[str], sites: list[str] | None = None
) -> tuple[str, str]:
    """Store a new token; return (token_id, token). The token itself is never stored."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"unknown scope(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(SCOPES)}")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    con.execute(
        "INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, NULL)",
        [token_id, name, _hash(secret), sorted(set(scopes)), sorted(set(sites)) if sites else None, _now()],
    )
    return token_id, f"{_PREFIX}{token_id}_{secret}"


def authenticate(con: duckdb.DuckDBPyConnection, authorization: str | None) -> Principal:
    """The principal for an Authorization header; AuthError(401) when missing, malformed, unknown or revoked."""
    if not authorization or not authorization.startswith("Bearer "):
        raise AuthError(401, "an API token is required (Authorization: Bearer ...)")
    token = authorization[len("Bearer ") :].strip()
    parts = token.split("_", 2)
    if len(parts) != 3 or f"{parts[0]}_" != _PREFIX:
        raise AuthError(401, "the API token is not valid")
    _, token_id, secret = parts
    row = con.execute(
        "SELECT name, secret_hash, scopes, sites FROM tokens WHERE token_id = ? AND revoked_at IS NULL", [token_id]
    ).fetchone()
    expected = bytes(row[1]) if row else _hash("")
    if not hmac.compare_digest(expected, _hash(secret)) or row is None:
        raise AuthError(401, "the API token is not valid")
    return Principal(token_id, row[0], frozenset(row[2]), frozenset(row[3]) if row[3] is not None else None)


def authorize(principal: Principal, scope: str, site: str | None = None) -> None:
    if not principal.allows(scope, site):
        where = f" for site {site}" if site else ""
        raise AuthError(403, f"this token lacks the {scope} scope{where}")


def audit(
    con: duckdb.DuckDBPyConnection,
    token_name: str,
    action: str,
    site: str | None,
    target: str | None,
    outcome: str,
) -> None:
    con.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?)", [_now(), token_name, action, site, target, outcome])
