"""update_profiles on a real DuckDB: visits and active days merge across the writer's batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from collector.events import Event, Request
from collector.segments.profiles import update_profiles
from collector.storage import store
from collector.storage.rows import rows_to_table, to_row
from tests.conftest import SITE


def event(ts: datetime, path: str = "/", name: str = "pageview", visitor: int = 7) -> Event:
    request = Request(ip="192.0.2.1", user_agent="x", hints={}, gpc=False, prefetch=False)
    return Event(
        site=SITE, name=name, url=f"https://example.com{path}", referrer=None, screen_w=None, screen_h=None,
        language=None, timezone=None, client_hints={}, raw_id=None, props={}, webdriver=False, client_gpc=False,
        ts=ts, request=request, event_id="00000000-0000-0000-0000-000000000000", path=path, visitor=visitor,
        consented=True,
    )  # fmt: skip


def load(con: duckdb.DuckDBPyConnection, events: list[Event]) -> None:
    """What the writer's loader does: the batch as `_batch`, the hook inside the transaction."""
    con.register("_batch", rows_to_table([to_row(e) for e in events]))
    try:
        update_profiles(con)
    finally:
        con.unregister("_batch")


def test_visits_and_days_merge_across_batches(tmp_path: Path) -> None:
    con = store.open_database(tmp_path / "p.duckdb", None)
    store.migrate(con)
    t0 = datetime(2026, 3, 14, 23, 40, tzinfo=UTC)
    load(con, [event(t0), event(t0 + timedelta(minutes=10))])  # one visit, one day
    load(con, [event(t0 + timedelta(minutes=35))])  # same visit (25 min gap), next day
    load(con, [event(t0 + timedelta(hours=2)), event(t0 + timedelta(hours=3), "/X/y", "buy")])  # 2 more visits
    assert con.execute("SELECT visits, days_active, pageviews, events FROM profiles").fetchall() == [(3, 2, 4, 1)]
    sections = con.execute("SELECT day::VARCHAR, section, pageviews, events FROM profile_sections ORDER BY ALL")
    assert sections.fetchall() == [("2026-03-14", "", 2, 0), ("2026-03-15", "", 2, 0), ("2026-03-15", "x", 0, 1)]
    assert con.execute("SELECT name, events FROM profile_events").fetchall() == [("buy", 1)]
    con.close()
