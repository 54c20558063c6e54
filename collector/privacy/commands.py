"""The privacy engine's commands: erase, export-visitor, requests, purge, csp."""

from __future__ import annotations

import argparse
from typing import Any

import orjson

from collector.feature import Command, Common, Run
from collector.privacy.csp import recommended_header
from collector.settings import ConfigError, Settings


def _dump(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC, default=str).decode()


def _subject_args(ns: argparse.Namespace) -> dict[str, Any]:
    return {
        "site": ns.site,
        "visitor_id": ns.visitor_id,
        "account": ns.account,
        "kind": ns.kind,
        "request": getattr(ns, "request", None),
    }


def _erase(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    result = run(settings, "erase", _subject_args(ns))
    print(f"request {result['request']}: erased {result['erased']} row(s)")
    for table, n in sorted(result["tables"].items()):
        print(f"  {table}: {n}")
    return 0


def _export(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    result = run(settings, "export-visitor", _subject_args(ns))
    text = _dump(result)
    if ns.output and ns.output != "-":
        with open(ns.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        rows = sum(len(r) for r in result["tables"].values())
        print(f"request {result['request']}: {rows} row(s) written to {ns.output}")
    else:
        print(text)
    return 0


def _requests(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    action = ns.action or "list"
    if action == "add":
        result = run(
            settings,
            "request-add",
            {"type": ns.kind_of_request, "site": ns.site, "account": ns.account, "kind": ns.kind, "note": ns.note},
        )
        print(f"recorded {result['request']}")
        return 0
    if action == "done":
        run(settings, "request-done", {"request": ns.request, "note": ns.note})
        print(f"completed {ns.request}")
        return 0
    rows = run(settings, "requests", {"all": ns.all})
    if ns.json:
        print(_dump(rows))
        return 1 if any(r["overdue"] for r in rows) else 0
    if not rows:
        print("no open privacy requests")
    for r in rows:
        state = "OVERDUE" if r["overdue"] else ("done" if r["completed"] else "open")
        when = f"received {r['received'][:19].replace('T', ' ')} UTC  due {r['due'][:10]}"
        print(f"{r['request']}  {r['kind']:<9} {r['site']:<20} {when}  {state}")
    return 1 if any(r["overdue"] for r in rows) else 0


def _purge(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    result = run(settings, "purge", {})
    for table, n in sorted(result["deleted"].items()):
        print(f"{table}: {n} row(s) older than {result['cutoffs'][table][:10]} deleted")
    return 0


def _salts(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    day = run(settings, "salts-renew", {})["day"]
    print(f"the salt of {day} is replaced: visitors seen from now on cannot be linked to earlier ones today")
    print("(a running server takes it at its next maintenance tick, within a minute)")
    return 0


def _salts_arguments(p: argparse.ArgumentParser, common: Common) -> None:
    common(p)
    p.add_argument("action", choices=("renew",), help="renew: replace today's salt with a fresh one now")


def _csp(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    site = settings.site(ns.site)
    if site is None:
        raise ConfigError(f"site {ns.site!r} is not registered")
    url = ns.collector_url or f"http://{settings.host}:{settings.port}"
    for name, value in recommended_header(site, url, report_only=ns.report_only).items():
        print(f"{name}: {value}")
    return 0


def _subject(parser: argparse.ArgumentParser, common: Common) -> None:
    common(parser)
    parser.add_argument("--site", required=True, help="the registered site")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--visitor-id", help="the consented id the visitor's browser holds")
    who.add_argument("--account", help="an account identifier linked through /api/identify (e-mail, phone, ...)")
    parser.add_argument("--kind", choices=("email", "phone", "account"), help="the account's kind (guessed if omitted)")
    parser.add_argument("--request", help="complete this recorded privacy request (see: collector requests)")


def _export_arguments(parser: argparse.ArgumentParser, common: Common) -> None:
    _subject(parser, common)
    parser.add_argument("--output", "-o", help="write to this file (default: stdout)")


def _requests_arguments(p: argparse.ArgumentParser, common: Common) -> None:
    common(p)
    p.add_argument("action", nargs="?", choices=("list", "add", "done"), help="list (default), add or done")
    p.add_argument("request", nargs="?", help="for done: the request id")
    p.add_argument("--all", action="store_true", help="list completed requests too")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--type", dest="kind_of_request", default="erase", help="for add: erase, export, rectify, complaint, ..."
    )
    p.add_argument("--site", help="for add: the site")
    p.add_argument("--account", help="for add: the subject's account identifier (stored as a keyed hash)")
    p.add_argument("--kind", choices=("email", "phone", "account"), help="for add: the account's kind")
    p.add_argument("--note", help="a free-text note (no personal data, please)")


def _csp_arguments(p: argparse.ArgumentParser, common: Common) -> None:
    common(p)
    p.add_argument("--site", required=True, help="the registered site")
    p.add_argument("--collector-url", help="the collector's public URL (default: http://HOST:PORT)")
    p.add_argument("--report-only", action="store_true", help="print the Report-Only variant (a safe first step)")


COMMANDS = (
    Command("erase", "erase one visitor's data (every table with a visitor column)", _erase, _subject),
    Command("export-visitor", "export one visitor's data as JSON (data-subject access)", _export, _export_arguments),
    Command(
        "requests",
        "privacy requests: open and overdue ones (exit 1 if any is overdue)",
        _requests,
        _requests_arguments,
    ),
    Command("purge", "delete rows older than the [retention] windows now", _purge),
    Command("csp", "print a Content-Security-Policy that allows only first-party sources", _csp, _csp_arguments),
    Command("salts", "renew today's salt now (unlinks today's visitors before and after)", _salts, _salts_arguments),
)
