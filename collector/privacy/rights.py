"""Data-subject rights: link an account to a visitor, erase or export one visitor's data, log every request.

Erase and export cover every table that has a `visitor` column (found in information_schema, so tables
added by later migrations are covered without a change here), plus the account's identity links.
Every request is recorded in privacy_requests with its due date (received + 15 days by default).
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from collector.errors import ClientError
from collector.identifiers.identity import IdentityError, account_hash, normalize, subject_hash
from collector.identifiers.visitor import consented_hasher, consented_id_visitor
from collector.settings import Settings

CHANNELS = ("browser", "backend", "cli")
REQUEST_KINDS = ("erase", "export", "rectify", "access", "complaint", "other")


class RightsError(ClientError, ValueError):
    """A request that cannot be served as given (400); `field` names the argument at fault."""


@dataclass(frozen=True, slots=True)
class Subject:
    """Whose data a request is about: the visitor hashes it covers and the account hash, if any."""

    site: str
    visitors: tuple[int, ...]
    account: str | None
    subject: str  # keyed hash recorded in privacy_requests


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def visitor_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, bool]]:
    """(table, has a site column) for every base table of the database with a `visitor` column."""
    rows = con.execute(
        """
        SELECT c.table_name, bool_or(s.column_name IS NOT NULL)
        FROM information_schema.columns c
        JOIN information_schema.tables t
          ON t.table_catalog = c.table_catalog AND t.table_schema = c.table_schema AND t.table_name = c.table_name
        LEFT JOIN information_schema.columns s
          ON s.table_catalog = c.table_catalog AND s.table_schema = c.table_schema
         AND s.table_name = c.table_name AND s.column_name = 'site'
        WHERE c.column_name = 'visitor' AND c.table_catalog = current_database() AND t.table_type = 'BASE TABLE'
        GROUP BY c.table_name
        ORDER BY c.table_name
        """
    ).fetchall()
    return [(str(name), bool(has_site)) for name, has_site in rows]


def check_site(settings: Settings, site: Any) -> str:
    if not isinstance(site, str) or settings.site(site) is None:
        raise RightsError("site is not registered", "site")
    return site.lower()


def visitor_of(pepper: bytes, site: str, raw_id: Any) -> int:
    """The consented visitor hash of a raw consented id; RightsError (field `id`) when it is not one."""
    visitor = consented_id_visitor(consented_hasher(pepper), site, raw_id)
    if visitor is None:
        raise RightsError("id must be the consented id (8 to 128 letters, digits, - or _)", "id")
    return visitor


def subject_for(
    con: duckdb.DuckDBPyConnection,
    pepper: bytes,
    settings: Settings,
    site: str,
    visitor_id: Any = None,
    account: Any = None,
    kind: Any = None,
) -> Subject:
    """Resolve a raw consented id or an account identifier to the visitor hashes it proves ownership of."""
    site = check_site(settings, site)
    if visitor_id is not None:
        visitor = visitor_of(pepper, site, visitor_id)
        return Subject(site, (visitor,), None, subject_hash(pepper, site, f"visitor:{visitor}"))
    if account is None:
        raise RightsError("give the consented id or an account identifier", "account")
    try:
        kind, normalized = normalize(account, kind, settings.privacy.default_country_code)
    except IdentityError as exc:
        raise RightsError(str(exc), "account") from None
    hashed = account_hash(pepper, site, kind, normalized)
    rows = con.execute(
        "SELECT DISTINCT visitor FROM identities WHERE site = ? AND account = ? ORDER BY visitor", [site, hashed]
    ).fetchall()
    return Subject(site, tuple(int(r[0]) for r in rows), hashed, subject_hash(pepper, site, f"account:{hashed}"))


def link_identity(
    con: duckdb.DuckDBPyConnection,
    pepper: bytes,
    settings: Settings,
    site: str,
    visitor_id: Any,
    account: Any,
    kind: Any = None,
) -> str:
    """Link a consented visitor to an account identifier (stored as an HMAC); return the identifier's kind."""
    site = check_site(settings, site)
    visitor = visitor_of(pepper, site, visitor_id)
    try:
        found, normalized = normalize(account, kind, settings.privacy.default_country_code)
    except IdentityError as exc:
        raise RightsError(str(exc), "account") from None
    at = now()
    con.execute(
        "INSERT INTO identities VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET last_seen = EXCLUDED.last_seen",
        [site, visitor, account_hash(pepper, site, found, normalized), found, at, at],
    )
    return found


def record_request(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    kind: str,
    site: str,
    subject: str | None,
    channel: str,
    note: str | None = None,
    received: datetime | None = None,
) -> str:
    if kind not in REQUEST_KINDS:
        raise RightsError(f"kind must be one of {', '.join(REQUEST_KINDS)}", "kind")
    received = received or now()
    request_id = "pr_" + secrets.token_hex(6)
    due = received + timedelta(days=settings.privacy.request_due_days)
    con.execute(
        "INSERT INTO privacy_requests VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?)",
        [request_id, kind, site, subject, channel, received, due, note],
    )
    return request_id


def complete_request(
    con: duckdb.DuckDBPyConnection, request_id: str, rows: int | None, note: str | None = None
) -> None:
    found = con.execute(
        "UPDATE privacy_requests SET completed = ?, rows_affected = ?, note = coalesce(?, note) "
        "WHERE request_id = ? AND completed IS NULL RETURNING request_id",
        [now(), rows, note, request_id],
    ).fetchall()
    if not found:
        raise RightsError(f"no open privacy request {request_id}", "request")


def _where(has_site: bool) -> str:
    return "visitor = ? AND site = ?" if has_site else "visitor = ?"


def _params(visitor: int, site: str, has_site: bool) -> list[Any]:
    return [visitor, site] if has_site else [visitor]


def erase(
    con: duckdb.DuckDBPyConnection, settings: Settings, subject: Subject, channel: str, request_id: str | None = None
) -> dict[str, Any]:
    """Delete every row about the subject in one transaction; the request is recorded first, completed last."""
    request_id = request_id or record_request(con, settings, "erase", subject.site, subject.subject, channel)
    deleted: Counter[str] = Counter()
    con.execute("BEGIN TRANSACTION")
    try:
        for table, has_site in visitor_tables(con):
            for visitor in subject.visitors:
                sql = f"DELETE FROM {_quote(table)} WHERE {_where(has_site)}"
                row = con.execute(sql, _params(visitor, subject.site, has_site)).fetchone()
                deleted[table] += int(row[0]) if row else 0
        if subject.account is not None:
            row = con.execute(
                "DELETE FROM identities WHERE site = ? AND account = ?", [subject.site, subject.account]
            ).fetchone()
            deleted["identities"] += int(row[0]) if row else 0
        total = sum(deleted.values())
        complete_request(con, request_id, total)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return {"request": request_id, "erased": total, "tables": dict(deleted)}


def export(
    con: duckdb.DuckDBPyConnection, settings: Settings, subject: Subject, channel: str, request_id: str | None = None
) -> dict[str, Any]:
    """Every row about the subject, table by table, as JSON-able values; the request is logged and completed."""
    request_id = request_id or record_request(con, settings, "export", subject.site, subject.subject, channel)
    tables: dict[str, list[dict[str, Any]]] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        for table, has_site in visitor_tables(con):
            rows: list[dict[str, Any]] = []
            for visitor in subject.visitors:
                cur = con.execute(
                    f"SELECT * FROM {_quote(table)} WHERE {_where(has_site)}", _params(visitor, subject.site, has_site)
                )
                names = [d[0] for d in cur.description or ()]
                rows.extend({n: _plain(v) for n, v in zip(names, r, strict=True)} for r in cur.fetchall())
            tables[table] = rows
        count = sum(len(rows) for rows in tables.values())
        complete_request(con, request_id, count)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return {"request": request_id, "site": subject.site, "generated_at": now().isoformat() + "Z", "tables": tables}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC).isoformat()  # stored naive, in UTC
    return str(value)


def list_requests(
    con: duckdb.DuckDBPyConnection, everything: bool = False, at: datetime | None = None
) -> list[dict[str, Any]]:
    """Open requests (and, with everything, completed ones), oldest first, each flagged overdue or not."""
    at = at or now()
    where = "" if everything else "WHERE completed IS NULL"
    cur = con.execute(
        "SELECT request_id, kind, site, channel, received, due, completed, rows_affected, note "
        f"FROM privacy_requests {where} ORDER BY received"
    )
    out = []
    for request_id, kind, site, channel, received, due, completed, rows, note in cur.fetchall():
        out.append(
            {
                "request": request_id,
                "kind": kind,
                "site": site,
                "channel": channel,
                "received": received.replace(tzinfo=UTC).isoformat(),
                "due": due.replace(tzinfo=UTC).isoformat(),
                "completed": completed.replace(tzinfo=UTC).isoformat() if completed else None,
                "rows": rows,
                "note": note,
                "overdue": completed is None and due < at,
            }
        )
    return out
