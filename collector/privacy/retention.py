"""Retention: rows about visitors are purged once older than their window; anonymous aggregates stay.

Windows come from [retention] in the config. Tables that later issues add (profiles, segment_members)
are purged when they exist, by the first timestamp column among the candidates listed here.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import duckdb

from collector.privacy.rights import now
from collector.settings import Settings
from collector.storage import store

log = logging.getLogger("collector.retention")
PURGE_INTERVAL_SECONDS = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Window:
    table: str
    setting: str  # the Retention field that holds its days
    columns: tuple[str, ...]  # the first one present is the row's age
    only: str = ""  # an extra condition: rows that must never be purged are excluded


WINDOWS = (
    Window("events", "events_days", ("ts",)),
    Window("engagement", "events_days", ("ts",)),
    Window("profiles", "profiles_days", ("last_seen", "updated_at", "ts")),
    Window("profile_sections", "profiles_days", ("day",)),
    Window("profile_events", "profiles_days", ("day",)),
    Window("segment_members", "profiles_days", ("last_seen", "updated_at", "computed_at", "ts", "since")),
    Window("identities", "profiles_days", ("last_seen",)),
    Window("privacy_requests", "requests_days", ("received",), "completed IS NOT NULL"),
)


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_catalog = current_database()"
    ).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(str(table), set()).add(str(column))
    return found


def purge(con: duckdb.DuckDBPyConnection, settings: Settings, at: datetime | None = None) -> dict[str, Any]:
    """Delete rows older than their window, all tables in one transaction; return the cut-offs and counts."""
    at = at or now()
    columns = _columns(con)
    deleted: dict[str, int] = {}
    cutoffs: dict[str, str] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        for window in WINDOWS:
            present = columns.get(window.table, set())
            column = next((c for c in window.columns if c in present), None)
            if column is None:
                continue
            days: int = getattr(settings.retention, window.setting)
            cutoff = at - timedelta(days=days)
            extra = f" AND {window.only}" if window.only else ""
            row = con.execute(f'DELETE FROM "{window.table}" WHERE "{column}" < ?{extra}', [cutoff]).fetchone()
            deleted[window.table] = int(row[0]) if row else 0
            cutoffs[window.table] = cutoff.replace(tzinfo=UTC).isoformat()
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return {"at": at.replace(tzinfo=UTC).isoformat(), "deleted": deleted, "cutoffs": cutoffs}


async def purge_daily(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """The lifespan's daily job: purge at start-up, then every 24 hours."""
    while True:
        try:
            cursor = store.cursor(con)
            try:
                result = await anyio.to_thread.run_sync(purge, cursor, settings)
            finally:
                cursor.close()
            log.info("retention purge", extra={"deleted": result["deleted"]})
        except Exception:
            log.exception("retention purge failed")
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)
