"""Operations the CLI can run: in the server's process when it runs, or on the database file when it does not.

Each operation takes a DuckDB connection (a cursor of the server's database, or the file opened by the
CLI), the settings and JSON-able arguments, and returns something JSON-able. That one function serves
both paths, so a command never fails on DuckDB's single-writer lock while the server runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb

from collector.settings import Settings

Op = Callable[[duckdb.DuckDBPyConnection, Settings, dict[str, Any]], Any]
OPS: dict[str, Op] = {}


class OpError(Exception):
    """An operation refused its arguments; the message is shown to the user as is."""


def op(name: str) -> Callable[[Op], Op]:
    def register(fn: Op) -> Op:
        OPS[name] = fn
        return fn

    return register


def run_op(name: str, con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> Any:
    fn = OPS.get(name)
    if fn is None:
        raise OpError(f"unknown operation {name!r}")
    return fn(con, settings, args)


@op("status")
def status(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
    rows = con.execute(
        "SELECT site, count(*) AS events, max(ts) AS last_event FROM events GROUP BY site ORDER BY site"
    ).fetchall()
    drops = con.execute("SELECT reason, sum(events) FROM drops GROUP BY reason ORDER BY reason").fetchall()
    version = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return {
        "database": str(settings.database_path),
        "schema_version": version[0] if version else None,
        "sites": [{"site": s, "events": n, "last_event": last.isoformat() if last else None} for s, n, last in rows],
        "registered_sites": [s.domain for s in settings.sites],
        "drops": {reason: int(n) for reason, n in drops},
    }


# Modules that register operations (imported last: they import `op` and `OpError` from here).
from collector.access import tokens, users  # noqa: E402, F401
from collector.privacy import ops  # noqa: E402, F401
from collector.segments import definitions  # noqa: E402, F401
from collector.stats import export, queries  # noqa: E402, F401
