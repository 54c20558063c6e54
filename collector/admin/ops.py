"""Operations the CLI can run: in the server's process when it runs, or on the database file when it does not.

Features declare their operations (collector.feature.Feature.ops); the server's admin socket and the CLI
run them from one table built from the list of features. Each operation takes a DuckDB connection (a
cursor of the server's database, or the file opened by the CLI), the settings and JSON-able arguments,
and returns something JSON-able. That one function serves both paths, so a command never fails on
DuckDB's single-writer lock while the server runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import duckdb

from collector.settings import Settings

Op = Callable[[duckdb.DuckDBPyConnection, Settings, dict[str, Any]], Any]


class OpError(Exception):
    """An operation refused its arguments; the message is shown to the user as is."""


def run_op(
    ops: Mapping[str, Op], name: str, con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]
) -> Any:
    fn = ops.get(name)
    if fn is None:
        raise OpError(f"unknown operation {name!r}")
    return fn(con, settings, args)
