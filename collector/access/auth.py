"""API tokens and scopes: `Authorization: Bearer col_<id>_<secret>`; only a hash of the secret is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from collector.access.challenge import AuthError

SCOPES = ("stats:read", "segments:read", "identify", "erase", "ingest", "admin")
_PREFIX = "col_"


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
    changed()
    return token_id, f"{_PREFIX}{token_id}_{secret}"


def _split(authorization: str | None) -> tuple[str, str]:
    if not authorization or not authorization.startswith("Bearer "):
        raise AuthError(401, "an API token is required (Authorization: Bearer ...)")
    parts = authorization[len("Bearer ") :].strip().split("_", 2)
    if len(parts) != 3 or f"{parts[0]}_" != _PREFIX:
        raise AuthError(401, "the API token is not valid")
    return parts[1], parts[2]


def authenticate(con: duckdb.DuckDBPyConnection, authorization: str | None) -> Principal:
    """The principal for an Authorization header; AuthError(401) when missing, malformed, unknown or revoked."""
    token_id, secret = _split(authorization)
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


def list_tokens(con: duckdb.DuckDBPyConnection, include_revoked: bool = False) -> list[dict[str, Any]]:
    rows = con.execute(
        "SELECT token_id, name, scopes, sites, created_at, revoked_at FROM tokens"
        " WHERE revoked_at IS NULL OR ? ORDER BY created_at, name",
        [include_revoked],
    ).fetchall()
    return [
        {
            "id": i,
            "name": n,
            "scopes": list(sc),
            "sites": list(st) if st is not None else None,
            "created_at": c,
            "revoked_at": r,
        }
        for i, n, sc, st, c, r in rows
    ]


def revoke_token(con: duckdb.DuckDBPyConnection, name_or_id: str) -> list[str]:
    """Revoke the active token with this name or id; return the ids revoked (empty when none matched)."""
    rows = con.execute(
        "UPDATE tokens SET revoked_at = ? WHERE revoked_at IS NULL AND (name = ? OR token_id = ?) RETURNING token_id",
        [_now(), name_or_id, name_or_id],
    ).fetchall()
    changed()
    return [r[0] for r in rows]


# Bumped whenever tokens change in this process, so every TokenIndex reloads before its next lookup.
_generation = 0
_generation_lock = threading.Lock()


def changed() -> None:
    global _generation
    with _generation_lock:
        _generation += 1


def generation() -> int:
    return _generation


@dataclass(frozen=True, slots=True)
class _Entry:
    secret_hash: bytes
    principal: Principal


class TokenIndex:
    """The active tokens held in memory, so authenticating a request never waits for DuckDB.

    Reloaded when a token is created or revoked in this process (see changed()) and at most
    max_age seconds after the last load, in case the table was changed by other means.
    """

    def __init__(self, max_age: float = 30.0) -> None:
        self.max_age = max_age
        self._entries: dict[str, _Entry] = {}
        self._verified: dict[str, Principal] = {}  # Authorization headers already checked since the last load
        self._generation = -1
        self._loaded_at = float("-inf")

    def stale(self, now: float) -> bool:
        return self._generation != _generation or now - self._loaded_at > self.max_age

    def load(self, con: duckdb.DuckDBPyConnection, now: float) -> None:
        seen = _generation
        rows = con.execute("SELECT token_id, name, secret_hash, scopes, sites FROM tokens WHERE revoked_at IS NULL")
        self._entries = {
            tid: _Entry(bytes(h), Principal(tid, name, frozenset(sc), frozenset(st) if st is not None else None))
            for tid, name, h, sc, st in rows.fetchall()
        }
        self._verified = {}
        self._generation, self._loaded_at = seen, now

    def authenticate(self, authorization: str | None) -> Principal:
        # Read before the entries: load() replaces the entries first, so a memo never outlives its load.
        verified = self._verified
        known = verified.get(authorization) if authorization else None
        if known is not None:
            return known
        token_id, secret = _split(authorization)
        entry = self._entries.get(token_id)
        expected = entry.secret_hash if entry else _hash("")
        if not hmac.compare_digest(expected, _hash(secret)) or entry is None:
            raise AuthError(401, "the API token is not valid")
        if authorization and len(verified) < 1000:
            verified[authorization] = entry.principal
        return entry.principal
