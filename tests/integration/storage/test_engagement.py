"""Engagement reports travel with the events and are stored apart from them, unseen by the batch hooks."""

from __future__ import annotations

from pathlib import Path

import duckdb

from collector.events import ENGAGEMENT
from collector.storage.batches import load_rows
from collector.storage.rows import to_row
from collector.storage.store import migrate, open_database
from tests.eventlib import event


def test_reports_go_to_the_engagement_table_and_events_to_events_with_hooks_seeing_events_only(
    tmp_path: Path,
) -> None:
    con = open_database(tmp_path / "e.duckdb", None)
    migrate(con)
    seen: list[int] = []

    def hook(c: duckdb.DuckDBPyConnection) -> None:
        row = c.execute("SELECT count(*) FROM _batch").fetchone()
        seen.append(row[0] if row else -1)

    page = event(path="/read", visitor=7)
    report = event(
        name=ENGAGEMENT, props={"sd": "64", "e": "5200"}, path="/read", visitor=7,
        event_id="00000000-0000-4000-8000-000000000002",
    )  # fmt: skip
    load_rows(con, [to_row(page), to_row(report)], None, [hook])
    load_rows(con, [to_row(report._replace(event_id="00000000-0000-4000-8000-000000000003"))], None, [hook])
    assert con.execute("SELECT name, path FROM events").fetchall() == [("pageview", "/read")]
    stored = con.execute("SELECT site, path, visitor, scroll_depth, engaged_ms FROM engagement").fetchall()
    assert stored == [("example.com", "/read", 7, 64, 5200)] * 2
    assert seen == [1], "the hooks run on events only, and not for a batch of reports alone"
    con.close()
