"""Daily salts in DuckDB: a new salt each day, destroyed after its day and a grace period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from collector.identifiers.visitor import daily_visitor
from collector.storage.salts import Salts
from collector.storage.store import open_database
from tests.conftest import DESKTOP_UA


def test_daily_salts_are_destroyed_after_their_day_and_hashes_do_not_link_across_days(tmp_path: Path) -> None:
    con = open_database(tmp_path / "s.duckdb", None)
    con.execute("CREATE TABLE salts (day DATE PRIMARY KEY, salt BLOB NOT NULL, created_at TIMESTAMP NOT NULL)")
    salts = Salts(grace_hours=2)
    day1 = datetime(2026, 3, 1, 12, tzinfo=UTC)
    salts.rotate(con, day1)
    first = daily_visitor(salts(day1.date()), "example.com", "198.51.100.1", DESKTOP_UA)
    second = daily_visitor(salts((day1 + timedelta(days=1)).date()), "example.com", "198.51.100.1", DESKTOP_UA)
    assert first != second
    assert salts.rotate(con, datetime(2026, 3, 2, 1, tzinfo=UTC)) == []  # within the 2-hour grace period
    assert salts.rotate(con, datetime(2026, 3, 2, 3, tzinfo=UTC)) == [day1.date()]
    assert con.execute("SELECT count(*) FROM salts WHERE day = ?", [day1.date()]).fetchone() == (0,)
    con.close()
