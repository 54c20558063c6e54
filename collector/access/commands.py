"""`collector user`, `collector token` and `collector audit`: who may read the data, and who did."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime
from typing import Any

import orjson

from collector.access.auth import SCOPES
from collector.access.users import check_password, hash_password
from collector.admin.ops import OpError
from collector.feature import Common, Run
from collector.settings import Settings


def user(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    if ns.action == "list":
        for row in run(settings, "user_list", {}):
            sites = ", ".join(row["sites"]) if row["sites"] else "all sites"
            print(f"{row['name']:<24} {' '.join(row['scopes']):<18} {sites}")
        return 0
    if not ns.name:
        raise OpError(f"collector user {ns.action} needs a NAME")
    if ns.action == "remove":
        run(settings, "user_remove", {"name": ns.name})
        print(f"removed user {ns.name} and ended their sessions")
        return 0
    if ns.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():
        raise OpError("no terminal to ask for the password: pipe it in and add --password-stdin")
    else:
        try:
            password = getpass.getpass(f"password for {ns.name}: ")
            if getpass.getpass("again: ") != password:
                raise OpError("the two passwords differ")
        except EOFError:
            raise OpError("no password given (to pipe one in, use --password-stdin)") from None
    if problem := check_password(password):
        raise OpError(problem)
    scopes = ["stats:read", "admin"] if ns.admin else ["stats:read"]
    args = {"name": ns.name, "password_hash": hash_password(password), "scopes": scopes, "sites": ns.site}
    added = run(settings, "user_add", args)
    if added.get("replaced"):
        print(f"replaced the password, scopes and sites of the existing user {ns.name}")
    print(f"user {ns.name} can log in at /dashboard ({', '.join(ns.site) if ns.site else 'all sites'})")
    return 0


def user_arguments(parser: argparse.ArgumentParser, common: Common) -> None:
    common(parser)
    parser.add_argument("action", choices=("add", "list", "remove"))
    parser.add_argument("name", nargs="?", help="the user's name")
    parser.add_argument("--site", action="append", help="a site the user may see (repeat; default: all sites)")
    parser.add_argument("--admin", action="store_true", help="also the admin scope")
    parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _time(value: Any) -> str:
    """A stored time (UTC) for a person to read, with its zone."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")[:19] + " UTC"
    return str(value)[:19].replace("T", " ") + " UTC" if value else "-"


def _create(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    args = {"name": ns.name, "scopes": _split(ns.scope), "sites": _split(ns.site)}
    result = run(settings, "token.create", args)
    sites = ", ".join(result["sites"]) if result["sites"] else "all sites"
    print(f"created token {result['name']} (id {result['id']}): {', '.join(result['scopes'])} on {sites}")
    print("the token is shown only this once; store it now:")
    print(result["token"])
    return 0


def _show(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    rows = run(settings, "token.list", {"all": ns.all})
    if ns.json:
        print(orjson.dumps(rows, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC).decode())
        return 0
    if not rows:
        print("no tokens")
    for r in rows:
        sites = ",".join(r["sites"]) if r["sites"] else "*"
        state = f" revoked {_time(r['revoked_at'])}" if r["revoked_at"] else ""
        print(f"{r['id']}  {r['name']:<20} {','.join(r['scopes']):<30} {sites:<24} {_time(r['created_at'])}{state}")
    return 0


def _revoke(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    result = run(settings, "token.revoke", {"token": ns.token})
    print(f"revoked {', '.join(result['revoked'])}")
    return 0


def token(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    """The token action the command line named (see token_arguments)."""
    action: Any = ns.token_action
    status: int = action(settings, ns, run)
    return status


def token_arguments(token: argparse.ArgumentParser, common: Common) -> None:
    actions = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    p = actions.add_parser("create", help="create a token; it is printed once, alone on the last line")
    common(p)
    p.add_argument("--name", required=True, help="who or what uses it (e.g. crm)")
    p.add_argument("--scope", action="append", required=True, help=f"repeat or comma-separate: {', '.join(SCOPES)}")
    p.add_argument("--site", action="append", help="limit the token to these sites (default: all)")
    p.set_defaults(token_action=_create)
    p = actions.add_parser("list", help="list tokens (never their secrets)")
    common(p)
    p.add_argument("--all", action="store_true", help="include revoked tokens")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(token_action=_show)
    p = actions.add_parser("revoke", help="revoke a token by name or id")
    common(p)
    p.add_argument("token", help="the token's name or id")
    p.set_defaults(token_action=_revoke)


def audit(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    rows = run(settings, "audit", {"limit": ns.limit, "token": ns.token})
    if ns.json:
        print(orjson.dumps(rows, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC).decode())
        return 0
    for r in rows:
        print(
            f"{_time(r['ts'])}  {r['token']:<20} {r['action']:<32} {r['site'] or '-':<16} "
            f"{r['target'] or '-':<16} {r['outcome']}"
        )
    return 0


def audit_arguments(p: argparse.ArgumentParser, common: Common) -> None:
    common(p)
    p.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
    p.add_argument("--token", help="only this token name")
    p.add_argument("--json", action="store_true", help="print JSON")
