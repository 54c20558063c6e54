from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from collector.stats import breakdowns
from collector.stats.export import export
from collector.storage.store import migrate, open_database
from tests.querydata import SITE, insert_events, insert_extras


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    db = open_database(tmp_path / "live.duckdb", None)
    migrate(db)
    insert_events(db)
    insert_extras(db)
    breakdowns.refresh(db)
    yield db
    db.close()


def analyst(folder: Path, sql: str) -> list[tuple[object, ...]]:
    """What a marketer sees running `duckdb analytics.duckdb` inside the snapshot folder."""
    con = duckdb.connect(str(folder / "analytics.duckdb"), read_only=True)
    try:
        con.execute(f"SET file_search_path = '{folder}'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_export_writes_parquet_by_site_and_month_and_views_over_it(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    folder = tmp_path / "snapshot"
    result = export(con, folder)
    assert "events/site=example.com/month=2026-11" in result["written"]
    assert (folder / "events/site=other.org/month=2026-11/data.parquet").exists()
    assert analyst(
        folder, "SELECT site, count(*), count(DISTINCT visitor) FROM events GROUP BY site ORDER BY site"
    ) == [
        (SITE, 14, 4),
        ("other.org", 1, 1),
    ]
    assert analyst(folder, "SELECT sum(events) FROM drops WHERE site = 'example.com'") == [(6,)]
    assert analyst(folder, "SELECT count(*) FROM daily_breakdowns WHERE dimension = 'total'") == [(4,)]
    tables = {r[0] for r in analyst(folder, "SELECT table_name FROM information_schema.tables")}
    assert tables == {"events", "daily_counts", "drops", "daily_breakdowns"}


def test_a_second_export_writes_only_what_changed(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    folder = tmp_path / "snapshot"
    first = export(con, folder)
    assert export(con, folder) == {"dir": str(folder), "written": [], "unchanged": len(first["written"]), "removed": []}
    untouched = folder / "events/site=example.com/month=2026-11/data.parquet"
    stamp = untouched.stat().st_mtime_ns
    insert_events(
        con, [("2026-12-01 08:00", 42, False, ("desktop",) + (None,) * 10, "pageview", "/", None, None, None)]
    )
    assert export(con, folder)["written"] == [
        "events/site=example.com/month=2026-12",
        "daily_counts/site=example.com/month=2026-12",
    ]
    assert untouched.stat().st_mtime_ns == stamp
    con.execute("DELETE FROM events WHERE visitor = 2")  # an erasure changes a month that was exported
    assert export(con, folder)["written"] == ["events/site=example.com/month=2026-11"]
    assert analyst(folder, "SELECT count(*) FROM events WHERE visitor = 2") == [(0,)]
    con.execute("DELETE FROM events WHERE ts >= '2026-12-01'")
    con.execute("DELETE FROM daily_counts WHERE day >= '2026-12-01'")
    assert export(con, folder)["removed"] == [
        "daily_counts/site=example.com/month=2026-12",
        "events/site=example.com/month=2026-12",
    ]
    assert not (folder / "events/site=example.com/month=2026-12").exists()


def test_export_leaves_out_secrets(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    con.execute("INSERT INTO salts VALUES ('2026-11-01', 'S4LT-V4LU3'::BLOB, now()::TIMESTAMP)")
    folder = tmp_path / "snapshot"
    export(con, folder)
    names = {p.relative_to(folder).parts[0] for p in folder.rglob("*.parquet")}
    assert names == {"events", "daily_counts", "drops", "daily_breakdowns"}
    assert not any(b"S4LT-V4LU3" in p.read_bytes() for p in folder.rglob("*") if p.is_file())
