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
import pyarrow as pa
import pyarrow.compute as pc

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
    """Each visitor's segments as bits (64 segments to a word), decoded once per distinct combination."""
    names = [r[0] for r in con.execute(_NAMES, [site]).fetchall()]
    con.register("_segment_ids", pa.table({"segment": names, "id": pa.array(range(len(names)), pa.int32())}))
    try:
        words = [con.execute(_MASKS, [site, w]).to_arrow_table() for w in range((len(names) + 63) // 64)]
    finally:
        con.unregister("_segment_ids")
    if len(words) == 1:
        combos = pc.dictionary_encode(words[0].column("mask")).combine_chunks()
        shared = [_decode(names, (m,)) for m in combos.dictionary.to_pylist()]
        visitors = words[0].column("visitor").to_pylist()
        return dict(zip(visitors, map(shared.__getitem__, combos.indices.to_pylist()), strict=True))
    masks: dict[int, list[int]] = {}
    for w, table in enumerate(words):
        for visitor, mask in zip(table.column("visitor").to_pylist(), table.column("mask").to_pylist(), strict=True):
            masks.setdefault(visitor, [0] * len(words))[w] = mask
    cache: dict[tuple[int, ...], tuple[str, ...]] = {}
    return {v: cache.setdefault(tuple(m), _decode(names, tuple(m))) for v, m in masks.items()}


def _decode(names: list[str], masks: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(names[w * 64 + bit] for w, mask in enumerate(masks) for bit in range(64) if mask >> bit & 1)


_NAMES = "SELECT DISTINCT segment FROM segment_members WHERE site = ? ORDER BY segment"
_MASKS = """
SELECT m.visitor, bit_or(CAST(1 AS UBIGINT) << CAST(s.id % 64 AS UBIGINT)) AS mask
FROM segment_members m JOIN _segment_ids s USING (segment)
WHERE m.site = ? AND s.id // 64 = ?
GROUP BY m.visitor
"""


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])
