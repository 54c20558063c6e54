"""Damaged journal records that are not the torn tail: read around them, set the segment aside, say so.

A record is `length | crc32 | payload`; collector.durable.journal.scan reads a segment around damaged
records. Only an incomplete record at the very end of the last segment is a torn tail (an append cut short
by a crash, never acknowledged): Journal.truncate_torn_tail cuts that. Anything else that fails its check
is damage: a record that was acknowledged and is now lost.

The damaged segment is never deleted: it is moved to `set-aside/` in the journal folder with a JSON note
of what was lost, its readable records are copied to a new segment after the last one, and the start-up
goes on. `collector status` reads the notes (set_aside()).
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from collector.durable.journal import SET_ASIDE, Journal, Position, Scan, scan

_COPY = ".salvaged"  # a copy of a damaged segment's readable records, until it becomes a segment


class Damage(NamedTuple):
    segment: int
    records_lost: int
    records_kept: int
    bytes_unreadable: int
    set_aside: Path


def salvage(journal: Journal, loaded: Position) -> list[Damage]:
    """Set aside every segment at or after `loaded` that holds damage other than the torn tail of the last one;
    its readable records not yet loaded go to a new segment after the last. Run under the journal lock."""
    _finish_copies(journal)
    damages: list[Damage] = []
    segments = journal.segments()
    for segment in segments:
        if segment < loaded.segment:
            continue
        data = journal.path_of(segment).read_bytes()
        found = scan(data, loaded.offset if segment == loaded.segment else 0)
        if found.tail < len(data) and segment != segments[-1]:  # only the last segment is appended to
            found = found._replace(lost=found.lost + 1, unreadable=found.unreadable + len(data) - found.tail)
        if found.lost:
            damages.append(_set_aside(journal, segment, data, found))
    if damages:
        journal.reopen()
    return damages


def _set_aside(journal: Journal, segment: int, data: bytes, found: Scan) -> Damage:
    folder = journal.folder
    copy = folder / f"{segment:010d}.log{_COPY}"
    _write_synced(copy, b"".join(data[start:end] for start, end in found.records))
    aside = folder / SET_ASIDE
    aside.mkdir(exist_ok=True)
    name = f"{segment:010d}"
    for n in range(2, 1000):
        if not (aside / f"{name}.log").exists():
            break
        name = f"{segment:010d}-{n}"  # a journal started afresh reuses numbers; what is set aside stays
    moved = aside / f"{name}.log"
    note = {
        "segment": segment,
        "records_lost": found.lost,
        "records_kept": len(found.records),
        "bytes_unreadable": found.unreadable,
        "set_aside_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _write_synced(moved.with_suffix(".json"), orjson.dumps(note))  # first: no segment is set aside unsaid
    os.replace(journal.path_of(segment), moved)
    _sync_dir(aside)
    _finish_copies(journal)
    return Damage(segment, found.lost, len(found.records), found.unreadable, moved)


def _finish_copies(journal: Journal) -> None:
    """A copy whose segment is already set aside becomes the next segment; one whose segment is still in
    place is from a set-aside cut short, which starts again from that segment."""
    for copy in sorted(journal.folder.glob(f"*.log{_COPY}")):
        original = journal.folder / copy.name.removesuffix(_COPY)
        if original.exists():
            copy.unlink()
            continue
        # After every segment, the damaged one too: a stored position may still name that one's offsets.
        number = max([*journal.segments(), int(copy.name[:10])]) + 1
        os.replace(copy, journal.path_of(number))
        _sync_dir(journal.folder)


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o600)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def set_aside(journal_folder: Path) -> list[dict[str, Any]]:
    """The notes of every damaged segment set aside, oldest first (for `collector status`)."""
    notes = []
    for note in sorted((journal_folder / SET_ASIDE).glob("*.json")):
        with contextlib.suppress(OSError, orjson.JSONDecodeError):
            notes.append(orjson.loads(note.read_bytes()) | {"path": str(note.with_suffix(".log"))})
    return notes
