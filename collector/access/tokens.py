"""Operations on API tokens and the audit log, behind `collector token create|list|revoke` and `collector audit`.

They run as ops, so they work whether the server runs (through its admin socket) or not (on the file).
Creating and revoking are themselves written to audit_log, as the local administrator.
"""

from __future__ import annotations

import logging
from typing import Any

import duckdb

from collector.access.auth import audit, create_token, list_tokens, revoke_token
from collector.admin.ops import OpError
from collector.settings import Settings

log = logging.getLogger("collector.tokens")
LOCAL_ADMIN = "(local admin)"


def token_create(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
    name = str(args.get("name") or "").strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise OpError("a token needs a --name of 1 to 64 printable characters")
    scopes = [str(s) for s in args.get("scopes") or []]
    sites = [str(s).lower() for s in args.get("sites") or []] or None
    unknown_sites = sorted(set(sites or []) - {s.domain for s in settings.sites})
    if unknown_sites:
        raise OpError(f"site(s) not registered in the config: {', '.join(unknown_sites)}")
    if any(t["name"] == name for t in list_tokens(con)):
        raise OpError(f"an active token named {name!r} exists; revoke it first or choose another name")
    try:
        token_id, token = create_token(con, name, scopes, sites)
    except ValueError as exc:
        raise OpError(str(exc)) from None
    audit(con, LOCAL_ADMIN, "token.create", None, token_id, "ok")
    log.info("token created", extra={"token": name, "id": token_id, "scopes": sorted(set(scopes)), "sites": sites})
    return {"id": token_id, "name": name, "scopes": sorted(set(scopes)), "sites": sites, "token": token}


def token_list(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> list[dict[str, Any]]:
    return list_tokens(con, include_revoked=bool(args.get("all")))


def token_revoke(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
    which = str(args.get("token") or "")
    named = [t["id"] for t in list_tokens(con) if t["name"] == which]
    if len(named) > 1:
        raise OpError(f"{len(named)} active tokens are named {which!r}; revoke one by id: {', '.join(named)}")
    revoked = revoke_token(con, which)
    if not revoked:
        raise OpError(f"no active token is named or has the id {which!r}")
    for token_id in revoked:
        audit(con, LOCAL_ADMIN, "token.revoke", None, token_id, "ok")
        log.info("token revoked", extra={"id": token_id})
    return {"revoked": revoked}


def audit_show(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> list[dict[str, Any]]:
    limit = int(args.get("limit") or 50)
    if not 0 < limit <= 100_000:
        raise OpError("--limit must be between 1 and 100000")
    token = args.get("token")
    rows = con.execute(
        "SELECT ts, token_name, action, site, target, outcome FROM audit_log"
        " WHERE ? IS NULL OR token_name = ? ORDER BY ts DESC LIMIT ?",
        [token, token, limit],
    ).fetchall()
    keys = ("ts", "token", "action", "site", "target", "outcome")
    return [dict(zip(keys, row, strict=True)) for row in rows]
