"""The in-memory segment index that lookups read: visitor hash -> segment names, per site.

Built whole and swapped in one assignment; a lookup is two dict accesses. It is built either from a
refresh's own results (no second read) or, at start-up and when another process changed the members
(an erasure, `collector segments refresh`), from segment_members.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import duckdb

from collector.segments.definitions import SiteRefresh, signature
from collector.segments.members import Lookup, Members, by_visitor, read

T = TypeVar("T")
Accounts = dict[str, dict[str, tuple[int, ...]]]


@dataclass(slots=True)
class SegmentIndex:
    members: dict[str, Lookup] = field(default_factory=dict)
    accounts: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    sets: dict[str, Members] = field(default_factory=dict)
    computed_at: dict[str, datetime] = field(default_factory=dict)
    signature: tuple[Any, ...] = ()
    build_ms: float = 0.0

    def segments_of(self, site: str, visitor: int) -> tuple[str, ...]:
        lookup = self.members.get(site)
        return lookup.get(visitor) if lookup is not None else ()

    def visitors_of_account(self, site: str, account: str) -> tuple[int, ...]:
        return self.accounts.get(site, {}).get(account, ())

    def forget(self, site: str, visitor: int) -> None:
        """Drop a visitor at once (erasure); the next build reads the already-deleted rows."""
        lookup = self.members.get(site)
        if lookup is not None:
            lookup.forgotten.add(visitor)


def build_index(con: duckdb.DuckDBPyConnection) -> SegmentIndex:
    """Everything from the database, in one read transaction."""
    started = time.perf_counter()

    def everything(con: duckdb.DuckDBPyConnection) -> dict[str, Members]:
        sites = [r[0] for r in con.execute("SELECT DISTINCT site FROM segment_members").fetchall()]
        return {site: read(con, site) for site in sites}

    sets, sig, computed_at, accounts = _snapshot(con, everything)
    return _index(sets, computed_at, accounts, sig, started)


def updated_index(con: duckdb.DuckDBPyConnection, previous: SegmentIndex, refreshed: list[SiteRefresh]) -> SegmentIndex:
    """The previous index with the refreshed segments replaced by the refresh's own results."""
    started = time.perf_counter()
    sets = dict(previous.sets)
    for r in refreshed:
        site_sets = {n: v for n, v in sets.get(r.site, {}).items() if n not in r.names}
        site_sets.update(r.members)
        sets[r.site] = site_sets
    _, sig, computed_at, accounts = _snapshot(con, lambda con: None)
    if sig[0] != sum(len(v) for s in sets.values() for v in s.values()):
        return build_index(con)  # something else changed the members meanwhile (an erasure): read them all
    return _index(sets, computed_at, accounts, sig, started)


def _index(
    sets: dict[str, Members],
    computed_at: dict[str, datetime],
    accounts: dict[str, dict[str, tuple[int, ...]]],
    sig: tuple[Any, ...],
    started: float,
) -> SegmentIndex:
    members = {site: by_visitor(s) for site, s in sets.items()}
    elapsed = (time.perf_counter() - started) * 1000
    return SegmentIndex(members, accounts, sets, computed_at, sig, elapsed)


def _computed_at(con: duckdb.DuckDBPyConnection) -> dict[str, datetime]:
    rows = con.execute("SELECT site, max(computed_at) FROM segments GROUP BY site").fetchall()
    return {site: at for site, at in rows if at is not None}


def _accounts(con: duckdb.DuckDBPyConnection) -> Accounts:
    """Identify links (account HMAC -> visitor hashes), when the identities table exists."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND table_name = 'identities'"
    ).fetchone()
    if not row or not row[0]:
        return {}
    accounts: dict[str, dict[str, tuple[int, ...]]] = {}
    for site, account, visitors in con.execute(
        "SELECT site, account, list(DISTINCT visitor) FROM identities GROUP BY site, account"
    ).fetchall():
        accounts.setdefault(site, {})[account] = tuple(int(v) for v in visitors)
    return accounts


def _snapshot(
    con: duckdb.DuckDBPyConnection, also: Callable[[duckdb.DuckDBPyConnection], T]
) -> tuple[T, tuple[Any, ...], dict[str, datetime], Accounts]:
    """`also`, the members' signature, computed_at and account links, read in one transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        result = (also(con), signature(con), _computed_at(con), _accounts(con))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result
