"""People who log in to the dashboard with a name and a password, hashed with argon2id.

argon2id (RFC 9106) is memory-hard, so guessing on GPUs costs memory as well as time; argon2-cffi's
defaults are the RFC's low-memory profile (64 MiB, t=3, p=4). The hash is a PHC string that names its
parameters, so stronger settings later re-hash old passwords at their next login. The CLI hashes the
password in its own process: only the hash travels over the admin socket.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

import argon2
import duckdb

from collector.access.auth import SCOPES, Principal
from collector.admin.ops import OpError
from collector.settings import Settings

USER_SCOPES = ("stats:read", "admin")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_hasher = argon2.PasswordHasher()


@cache
def _dummy() -> str:
    """Verified against when the user does not exist, so a wrong name costs as long as a wrong password."""
    return _hasher.hash("not a password of anyone")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def check_password(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password must have at most {MAX_PASSWORD} characters"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def add_user(
    con: duckdb.DuckDBPyConnection, name: str, password_hash: str, scopes: list[str], sites: list[str] | None
) -> None:
    """Store a user (or replace the password, scopes and sites of an existing one)."""
    if not _NAME.match(name):
        raise ValueError("a user name is 1 to 64 letters, digits, '.', '_', '@' or '-'")
    if not password_hash.startswith("$argon2id$"):
        raise ValueError("the password hash must be an argon2id PHC string")
    unknown = sorted(set(scopes) - set(USER_SCOPES))
    if unknown or not scopes:
        raise ValueError(f"a user's scopes are {' and '.join(USER_SCOPES)}, not {', '.join(unknown) or 'none'}")
    con.execute(
        "INSERT INTO users VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT (name) DO UPDATE SET "
        "password_hash = EXCLUDED.password_hash, scopes = EXCLUDED.scopes, sites = EXCLUDED.sites, disabled_at = NULL",
        [name, password_hash, sorted(set(scopes)), sorted(set(sites)) if sites else None, _now()],
    )


def verify_user(con: duckdb.DuckDBPyConnection, name: str, password: str) -> Principal | None:
    """The user's principal when the password is right; None otherwise (same cost either way)."""
    row = con.execute(
        "SELECT password_hash, scopes, sites FROM users WHERE name = ? AND disabled_at IS NULL", [name]
    ).fetchone()
    try:
        _hasher.verify(row[0] if row else _dummy(), password[:MAX_PASSWORD])
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return None
    if row is None:
        return None
    if _hasher.check_needs_rehash(row[0]):
        con.execute("UPDATE users SET password_hash = ? WHERE name = ?", [_hasher.hash(password), name])
    scopes = frozenset(s for s in row[1] if s in SCOPES)
    return Principal(f"user:{name}", name, scopes, frozenset(row[2]) if row[2] is not None else None)


def remove_user(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Delete the user and end their sessions."""
    gone = con.execute("DELETE FROM users WHERE name = ? RETURNING name", [name]).fetchall()
    con.execute("DELETE FROM dashboard_sessions WHERE kind = 'user' AND principal = ?", [name])
    return bool(gone)


def list_users(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows = con.execute("SELECT name, scopes, sites, created_at FROM users ORDER BY name").fetchall()
    return [
        {
            "name": n,
            "scopes": list(sc),
            "sites": list(st) if st is not None else None,
            "created_at": c.replace(tzinfo=UTC).isoformat(),
        }
        for n, sc, st, c in rows
    ]


def user_add_op(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
    sites = list(args.get("sites") or []) or None
    for site in sites or []:
        if settings.site(site) is None:
            raise OpError(f"site {site!r} is not registered")
    existing = con.execute("SELECT 1 FROM users WHERE name = ?", [str(args["name"])]).fetchone()
    try:
        add_user(con, str(args["name"]), str(args["password_hash"]), list(args["scopes"]), sites)
    except ValueError as exc:
        raise OpError(str(exc)) from None
    return {"name": args["name"], "replaced": existing is not None}


def user_list_op(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> list[dict[str, Any]]:
    return list_users(con)


def user_remove_op(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
    if not remove_user(con, str(args["name"])):
        raise OpError(f"no user named {args['name']!r}")
    return {"name": args["name"]}
