"""CLI operations of the privacy engine (run in the server when it runs, else on the file): erase, export,
the privacy request log, and the retention purge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb

from collector.admin.ops import Op, OpError
from collector.identifiers.keys import load_keys
from collector.privacy.retention import purge
from collector.privacy.rights import (
    RightsError,
    Subject,
    complete_request,
    erase,
    export,
    list_requests,
    record_request,
    subject_for,
)
from collector.settings import Settings
from collector.storage.salts import renew_today

Right = Callable[[duckdb.DuckDBPyConnection, Settings, Subject, str, Any], dict[str, Any]]


def _subject(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> Subject:
    if bool(args.get("visitor_id")) == bool(args.get("account")):
        raise OpError("give exactly one of --visitor-id or --account")
    pepper = load_keys(settings.key_path, create=False).pepper
    try:
        return subject_for(
            con, pepper, settings, args.get("site") or "", args.get("visitor_id"), args.get("account"), args.get("kind")
        )
    except RightsError as exc:
        raise OpError(exc.message) from None


def _right(run: Right) -> Op:
    def right_op(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
        try:
            return run(con, settings, _subject(con, settings, args), "cli", args.get("request"))
        except RightsError as exc:
            raise OpError(exc.message) from None

    return right_op


erase_op = _right(erase)
export_op = _right(export)


def requests_op(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> list[dict[str, Any]]:
    return list_requests(con, everything=bool(args.get("all")))


def request_add_op(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
    """Record a request received another way (e-mail, phone, letter), so that its deadline is tracked."""
    subject = _subject(con, settings, args).subject if (args.get("visitor_id") or args.get("account")) else None
    site = args.get("site") or ""
    if settings.site(site) is None:
        raise OpError("site is not registered")
    try:
        kind = str(args.get("type") or "")
        request_id = record_request(con, settings, kind, site.lower(), subject, "cli", args.get("note"))
    except RightsError as exc:
        raise OpError(exc.message) from None
    return {"request": request_id}


def request_done_op(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
    try:
        complete_request(con, str(args.get("request") or ""), None, args.get("note"))
    except RightsError as exc:
        raise OpError(exc.message) from None
    return {"request": args.get("request"), "completed": True}


def purge_op(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
    return purge(con, settings)


def salts_renew_op(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
    return {"day": renew_today(con).isoformat()}
