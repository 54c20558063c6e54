"""The in-memory segment index that lookups read: visitor hash -> segment names, per site.

Built from segment_members in one read transaction and swapped whole; a lookup is a dict access.
Visitors with the same segments share one tuple, so a million visitors cost one dict entry each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pyarrow.compute as pc

_SEP = "\x1f"
_SIGNATURE = "SELECT (SELECT count(*) FROM segment_members), (SELECT max(computed_at) FROM segments)"


@dataclass(slots=True)
class SegmentIndex:
    members: dict[str, dict[int, tuple[str, ...]]] = field(default_factory=dict)
    accounts: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    computed_at: dict[str, datetime] = field(default_factory=dict)
    signature: tuple[Any, ...] = ()
    build_ms: float = 0.0

    def segments_of(self, site: str, visitor: int) -> tuple[str, ...]:
        return self.members.get(site, {}).get(visitor, ())

    def visitors_of_account(self, site: str, account: str) -> tuple[int, ...]:
        return self.accounts.get(site, {}).get(account, ())

    def forget(self, site: str, visitor: int) -> None:
        """Drop a visitor at once (erasure); the next rebuild reads the already-deleted rows."""
        self.members.get(site, {}).pop(visitor, None)
        for account, visitors in list(self.accounts.get(site, {}).items()):
            if visitor in visitors:
                self.accounts[site][account] = tuple(v for v in visitors if v != visitor)


def signature(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """Changes when a refresh ran or members were deleted (an erasure), in this process or another."""
    row = con.execute(_SIGNATURE).fetchone()
    return tuple(row) if row else ()


def build_index(con: duckdb.DuckDBPyConnection) -> SegmentIndex:
    started = time.perf_counter()
    index = SegmentIndex()
    con.execute("BEGIN TRANSACTION")
    try:
        index.signature = signature(con)
        for site, name, members, at in con.execute(
            "SELECT site, name, coalesce(members, 0), computed_at FROM segments ORDER BY site, name"
        ).fetchall():
            index.sizes.setdefault(site, {})[name] = int(members)
            if at is not None and (site not in index.computed_at or at > index.computed_at[site]):
                index.computed_at[site] = at
        sites = [r[0] for r in con.execute("SELECT DISTINCT site FROM segment_members").fetchall()]
        for site in sites:
            index.members[site] = _members(con, site)
        if _has_table(con, "identities"):
            for site, account, visitors in con.execute(
                "SELECT site, account, list(DISTINCT visitor) FROM identities GROUP BY site, account"
            ).fetchall():
                index.accounts.setdefault(site, {})[account] = tuple(int(v) for v in visitors)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    index.build_ms = (time.perf_counter() - started) * 1000
    return index


def _members(con: duckdb.DuckDBPyConnection, site: str) -> dict[int, tuple[str, ...]]:
    table = con.execute(
        "SELECT visitor, string_agg(segment, chr(31) ORDER BY segment) AS combo "
        "FROM segment_members WHERE site = ? GROUP BY visitor",
        [site],
    ).to_arrow_table()
    combos = pc.dictionary_encode(table.column("combo")).combine_chunks()
    shared = [tuple(str(c).split(_SEP)) for c in combos.dictionary.to_pylist()]
    visitors = table.column("visitor").to_pylist()
    return dict(zip(visitors, map(shared.__getitem__, combos.indices.to_pylist()), strict=True))


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])
