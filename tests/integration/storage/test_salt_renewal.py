"""A renewed salt (`collector salts renew`) replaces today's in the database, and a server's next rotation
takes it: visitors hashed after it cannot be linked to those before."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from collector.identifiers.visitor import daily_visitor
from collector.storage.salts import Salts, renew_today
from collector.storage.store import migrate, open_database
from tests.conftest import DESKTOP_UA


def test_a_renewed_salt_is_taken_by_the_next_rotation(tmp_path: Path) -> None:
    con = open_database(tmp_path / "s.duckdb", None)
    migrate(con)
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    salts = Salts(grace_hours=2)
    salts.rotate(con, now)
    before = daily_visitor(salts(now.date()), "example.com", "198.51.100.1", DESKTOP_UA)
    tomorrow = salts.known()[max(salts.known())]

    assert renew_today(con, now) == now.date()
    salts.rotate(con, now)
    after = daily_visitor(salts(now.date()), "example.com", "198.51.100.1", DESKTOP_UA)
    assert after != before
    assert con.execute("SELECT salt FROM salts WHERE day = ?", [now.date()]).fetchone() == (salts(now.date()),)
    assert salts.known()[max(salts.known())] == tomorrow, "only today's salt is renewed"
    con.close()
