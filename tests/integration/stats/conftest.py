"""The hand-countable fixture database of tests/querydata.py, one per test module that does not define its own."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from collector.storage.store import cursor, migrate, open_database
from tests.querydata import insert_events, insert_extras


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on the fixture, once per module (a module that defines its own `con` uses that one)."""
    db = open_database(tmp_path_factory.mktemp("stats") / "fixture.duckdb", None)
    migrate(db)
    insert_events(db)
    insert_extras(db)
    cur = cursor(db)
    yield cur
    cur.close()
    db.close()
