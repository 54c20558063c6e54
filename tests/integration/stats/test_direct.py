"""A filtered scope groups a query's few attribute dimensions straight from the matching events: the same rows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from collector.stats import breakdowns, filtered, queries
from tests.integration.stats.test_queries import PERIOD, with_k


def ordered(con: duckdb.DuckDBPyConnection, table: str, dimension: str) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in con.execute(
            f"SELECT * EXCLUDE (site) FROM {table} WHERE dimension = $d ORDER BY ALL", {"d": dimension}
        ).fetchall()
    ]


@pytest.mark.parametrize("dimension", breakdowns.FAMILIES["attributes"])
def test_the_direct_grouping_builds_the_rows_of_the_attributes_family(
    con: duckdb.DuckDBPyConnection, dimension: str
) -> None:
    breakdowns.refresh(con)
    built = ordered(con, "db.main.daily_breakdowns", dimension)
    assert built, f"the fixture has no {dimension} rows"
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("CREATE TEMP TABLE daily_breakdowns AS FROM db.main.daily_breakdowns LIMIT 0")
        bounds = {"lo": datetime(2026, 10, 1), "hi": datetime(2026, 12, 1)}
        con.execute(filtered.direct_sql(dimension), bounds)
        assert ordered(con, "temp.main.daily_breakdowns", dimension) == built
    finally:
        con.execute("ROLLBACK")


@pytest.mark.parametrize("name", ["devices", "os", "browsers", "screens", "languages", "timezones"])
@pytest.mark.parametrize("expression", ["device_brand==Samsung", "referrer==google.com", "path~/"])
def test_a_filtered_query_answers_the_same_grouped_directly_or_through_the_collapse(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, expression: str
) -> None:
    settings = with_k(tmp_path, 1)
    direct = queries.run(con, settings, name, PERIOD, [expression]).rows
    monkeypatch.setattr(filtered, "DIRECT_DIMENSIONS", 0)
    assert queries.run(con, settings, name, PERIOD, [expression]).rows == direct
    assert direct


def test_an_unknown_dimension_has_no_direct_grouping() -> None:
    with pytest.raises(ValueError, match="not an attribute dimension"):
        filtered.direct_sql("page")


@pytest.mark.parametrize("expression", ["device_brand==Samsung", "referrer==google.com", "path~/"])
def test_a_query_without_the_site_totals_refuses_exactly_when_one_with_them_does(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, expression: str
) -> None:
    answered = []
    for k in range(1, 8):
        settings = with_k(tmp_path, k)
        outcomes = []
        for name in ("os", "pages", "overview"):  # os and pages count no site totals; overview reads them
            try:
                queries.run(con, settings, name, PERIOD, [expression])
                outcomes.append(True)
            except queries.QueryError:
                outcomes.append(False)
        assert len(set(outcomes)) == 1, f"k={k}: os, pages, overview answered {outcomes}"
        answered.append(outcomes[0])
    assert answered[0] and not answered[-1]
