"""Anonymous aggregates kept beyond the events' retention: rebuilt for recent days by a periodic job.

Upserting aggregates inside every ingest batch cost more than the insert itself (ON CONFLICT in DuckDB),
so the hot path only appends events, and this job re-derives the recent days' counts in one transaction.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb


def refresh_daily_counts(con: duckdb.DuckDBPyConnection, since: date | None = None) -> int:
    """Recompute daily_counts from events for every day from `since` (default: yesterday); return rows written."""
    since = since or datetime.now(UTC).date() - timedelta(days=1)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM daily_counts WHERE day >= ?", [since])
        con.execute(
            "INSERT INTO daily_counts SELECT site, ts::DATE AS day, name, count(*) FROM events "
            "WHERE ts >= ? GROUP BY ALL",
            [since],
        )
        row = con.execute("SELECT count(*) FROM daily_counts WHERE day >= ?", [since]).fetchone()
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return int(row[0]) if row else 0
