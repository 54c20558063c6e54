"""Segment members as Arrow arrays of visitor hashes: split, compared and combined without Python loops.

A refresh compares each segment's new members with the stored ones here (vectorized set membership),
so the database only sees the rows that changed; the lookup index is built from the same arrays.
"""

from __future__ import annotations

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


def by_visitor(members: Members) -> dict[int, tuple[str, ...]]:
    """visitor -> its segment names (sorted); visitors with the same segments share one tuple."""
    names = sorted(name for name, visitors in members.items() if len(visitors))
    if not names:
        return {}
    words: list[pa.Table] = []
    for start in range(0, len(names), 64):
        chunk = names[start : start + 64]
        bits = [pa.repeat(pa.scalar(1 << i, pa.uint64()), len(members[n])) for i, n in enumerate(chunk)]
        table = pa.table({"visitor": pa.concat_arrays([members[n] for n in chunk]), "bit": pa.concat_arrays(bits)})
        # Each (segment, visitor) pair is distinct, so the sum of the bits is their OR.
        words.append(table.group_by("visitor").aggregate([("bit", "sum")]))
    if len(words) == 1:
        combos = pc.dictionary_encode(words[0].column("bit_sum")).combine_chunks()
        shared = [_decode(names, (m,)) for m in combos.dictionary.to_pylist()]
        visitors = words[0].column("visitor").to_pylist()
        return dict(zip(visitors, map(shared.__getitem__, combos.indices.to_pylist()), strict=True))
    masks: dict[int, list[int]] = {}
    for w, table in enumerate(words):
        for visitor, mask in zip(table.column("visitor").to_pylist(), table.column("bit_sum").to_pylist(), strict=True):
            masks.setdefault(visitor, [0] * len(words))[w] = mask
    cache: dict[tuple[int, ...], tuple[str, ...]] = {}
    return {v: cache.setdefault(tuple(m), _decode(names, tuple(m))) for v, m in masks.items()}


def _decode(names: list[str], masks: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(names[w * 64 + bit] for w, mask in enumerate(masks) for bit in range(64) if mask >> bit & 1)
