"""`collector token create|list|revoke` and `collector audit`: operations on API tokens and the audit log.

They run as ops, so they work whether the server runs (through its admin socket) or not (on the file).
Creating and revoking are themselves written to audit_log, as the local administrator.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import duckdb
import orjson

from collector.access.auth import SCOPES, audit, create_token, list_tokens, revoke_token
from collector.admin.ops import OpError, op
from collector.settings import Settings

log = logging.getLogger("collector.tokens")
LOCAL_ADMIN = "(local admin)"
Run = Callable[[Settings, str, dict[str, Any]], Any]


@op("token.create")
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


@op("token.list")
def token_list(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> list[dict[str, Any]]:
    return list_tokens(con, include_revoked=bool(args.get("all")))


@op("token.revoke")
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


@op("audit")
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


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _time(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)[:19].replace("T", " ") if value else "-"


def add_commands(sub: Any, common: Callable[[argparse.ArgumentParser], None], run: Run) -> None:
    """Register `token` and `audit` on the CLI's subparsers; `run` runs an op with or without the server."""

    def create(settings: Settings, ns: argparse.Namespace) -> int:
        args = {"name": ns.name, "scopes": _split(ns.scope), "sites": _split(ns.site)}
        result = run(settings, "token.create", args)
        sites = ", ".join(result["sites"]) if result["sites"] else "all sites"
        print(f"created token {result['name']} (id {result['id']}): {', '.join(result['scopes'])} on {sites}")
        print("the token is shown only this once; store it now:")
        print(result["token"])
        return 0

    def show(settings: Settings, ns: argparse.Namespace) -> int:
        rows = run(settings, "token.list", {"all": ns.all})
        if ns.json:
            print(orjson.dumps(rows, default=str, option=orjson.OPT_INDENT_2).decode())
            return 0
        if not rows:
            print("no tokens")
        for r in rows:
            sites = ",".join(r["sites"]) if r["sites"] else "*"
            state = f" revoked {_time(r['revoked_at'])}" if r["revoked_at"] else ""
            print(f"{r['id']}  {r['name']:<20} {','.join(r['scopes']):<30} {sites:<24} {_time(r['created_at'])}{state}")
        return 0

    def revoke(settings: Settings, ns: argparse.Namespace) -> int:
        result = run(settings, "token.revoke", {"token": ns.token})
        print(f"revoked {', '.join(result['revoked'])}")
        return 0

    def trail(settings: Settings, ns: argparse.Namespace) -> int:
        rows = run(settings, "audit", {"limit": ns.limit, "token": ns.token})
        if ns.json:
            print(orjson.dumps(rows, default=str, option=orjson.OPT_INDENT_2).decode())
            return 0
        for r in rows:
            print(
                f"{_time(r['ts'])}  {r['token']:<20} {r['action']:<32} {r['site'] or '-':<16} "
                f"{r['target'] or '-':<16} {r['outcome']}"
            )
        return 0

    token = sub.add_parser("token", help="create, list and revoke API tokens")
    actions = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    p = actions.add_parser("create", help="create a token; it is printed once, alone on the last line")
    common(p)
    p.add_argument("--name", required=True, help="who or what uses it (e.g. crm)")
    p.add_argument("--scope", action="append", required=True, help=f"repeat or comma-separate: {', '.join(SCOPES)}")
    p.add_argument("--site", action="append", help="limit the token to these sites (default: all)")
    p.set_defaults(handler=create)
    p = actions.add_parser("list", help="list tokens (never their secrets)")
    common(p)
    p.add_argument("--all", action="store_true", help="include revoked tokens")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=show)
    p = actions.add_parser("revoke", help="revoke a token by name or id")
    common(p)
    p.add_argument("token", help="the token's name or id")
    p.set_defaults(handler=revoke)

    p = sub.add_parser("audit", help="who called which API, newest first")
    common(p)
    p.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    p.add_argument("--token", help="only this token name")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=trail)
