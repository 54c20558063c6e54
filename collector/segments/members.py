"""Segment members as Arrow arrays of visitor hashes: split, compared and combined without Python loops.

A refresh compares each segment's new members with the stored ones here (vectorized set membership),
so the database only sees the rows that changed; the lookup index is built from the same arrays.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

Members = dict[str, pa.Array]  # segment name -> distinct visitor hashes (uint64)
EMPTY = pa.array([], pa.uint64())


def split(table: pa.Table, segment: str = "segment", visitor: str = "visitor") -> Members:
    """A (segment, visitor) table as one array of visitors per segment."""
    if table.num_rows == 0:
        return {}
    codes = pc.dictionary_encode(table.column(segment)).combine_chunks()
    visitors = table.column(visitor).combine_chunks().cast(pa.uint64())
    return {
        str(name): visitors.filter(pc.equal(codes.indices, i)) for i, name in enumerate(codes.dictionary.to_pylist())
    }


def read(con: duckdb.DuckDBPyConnection, site: str, names: list[str] | None = None) -> Members:
    """Stored members of a site's segments (all of them by default), one filtered scan per segment."""
    if names is None:
        names = [r[0] for r in con.execute(_NAMES, [site]).fetchall()]
    found = {name: con.execute(_MEMBERS, [site, name]).to_arrow_table().column("visitor") for name in names}
    return {name: visitors.combine_chunks().cast(pa.uint64()) for name, visitors in found.items() if len(visitors)}


_NAMES = "SELECT DISTINCT segment FROM segment_members WHERE site = ? ORDER BY segment"
_MEMBERS = "SELECT visitor FROM segment_members WHERE site = ? AND segment = ?"


def diff(old: Members, new: Members, names: list[str]) -> tuple[pa.Table, pa.Table]:
    """(added, removed) as (segment, visitor) tables, over the given segment names."""
    added: list[pa.Table] = []
    removed: list[pa.Table] = []
    for name in names:
        before, after = old.get(name, EMPTY), new.get(name, EMPTY)
        gained = after.filter(pc.invert(pc.is_in(after, value_set=before))) if len(before) else after
        lost = before.filter(pc.invert(pc.is_in(before, value_set=after))) if len(after) else before
        if len(gained):
            added.append(_pairs(name, gained))
        if len(lost):
            removed.append(_pairs(name, lost))
    return _concat(added), _concat(removed)


def _pairs(name: str, visitors: pa.Array) -> pa.Table:
    return pa.table({"segment": pa.repeat(pa.scalar(name, pa.string()), len(visitors)), "visitor": visitors})


def _concat(tables: list[pa.Table]) -> pa.Table:
    if not tables:
        return pa.table({"segment": pa.array([], pa.string()), "visitor": EMPTY})
    return pa.concat_tables(tables)


@dataclass(slots=True)
class Lookup:
    """Segments per visitor of one site: sorted visitor hashes, and per visitor an index into shared tuples."""

    visitors: array[int] = field(default_factory=lambda: array("Q"))
    codes: array[int] = field(default_factory=lambda: array("i"))
    combos: list[tuple[str, ...]] = field(default_factory=list)
    forgotten: set[int] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.visitors)

    def get(self, visitor: int) -> tuple[str, ...]:
        i = bisect_left(self.visitors, visitor)
        if i < len(self.visitors) and self.visitors[i] == visitor and visitor not in self.forgotten:
            return self.combos[self.codes[i]]
        return ()


def by_visitor(members: Members) -> Lookup:
    """visitor -> its segment names (sorted), as compact arrays: about 12 bytes per visitor."""
    names = sorted(name for name, visitors in members.items() if len(visitors))
    if not names:
        return Lookup()
    grouped: pa.Table | None = None
    for w, start in enumerate(range(0, len(names), 64)):
        chunk = names[start : start + 64]
        bits = [pa.repeat(pa.scalar(1 << i, pa.uint64()), len(members[n])) for i, n in enumerate(chunk)]
        table = pa.table({"visitor": pa.concat_arrays([members[n] for n in chunk]), "bit": pa.concat_arrays(bits)})
        # Each (segment, visitor) pair is distinct, so the sum of the bits is their OR.
        word = table.group_by("visitor").aggregate([("bit", "sum")])
        word = pa.table({"visitor": word.column("visitor"), f"w{w}": word.column("bit_sum")})
        grouped = word if grouped is None else grouped.join(word, "visitor", join_type="full outer")
    assert grouped is not None
    grouped = grouped.sort_by("visitor")
    words = [pc.fill_null(grouped.column(f"w{w}"), 0) for w in range(grouped.num_columns - 1)]
    if len(words) == 1:
        codes = pc.dictionary_encode(words[0]).combine_chunks()
        combos = [_decode(names, [int(m)]) for m in codes.dictionary.to_pylist()]
    else:
        key = pc.binary_join_element_wise(*[w.cast(pa.string()) for w in words], ":")
        codes = pc.dictionary_encode(key).combine_chunks()
        combos = [_decode(names, [int(m) for m in str(k).split(":")]) for k in codes.dictionary.to_pylist()]
    return Lookup(_array("Q", grouped.column("visitor").combine_chunks()), _array("i", codes.indices), combos)


def _array(typecode: str, values: pa.Array) -> array[int]:
    out = array(typecode)
    width = out.itemsize
    out.frombytes(values.buffers()[1].to_pybytes()[values.offset * width : (values.offset + len(values)) * width])
    return out


def _decode(names: list[str], masks: list[int]) -> tuple[str, ...]:
    return tuple(names[w * 64 + bit] for w, mask in enumerate(masks) for bit in range(64) if mask >> bit & 1)
