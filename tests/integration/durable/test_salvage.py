"""A damaged journal record that is not the torn tail: replay sets the segment aside with a note, loads every
readable record once, and the journal goes on after it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import pytest

from collector.durable.journal import Journal, Position, Sealer
from collector.durable.salvage import SET_ASIDE, Damage, salvage, set_aside
from collector.durable.writer import replay
from collector.storage.rows import to_row
from collector.storage.store import migrate, open_database
from tests.integration.durable.test_journal import event

KEY = "k" * 64
SEALER = Sealer(KEY)


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = open_database(tmp_path / "db.duckdb", KEY)
    migrate(con)
    return con


def record(*paths: str) -> bytes:
    return SEALER.seal(orjson.dumps([to_row(event(p)) for p in paths]))


def damage(journal: Journal, segment: int, at: int) -> None:
    """Flip one byte `at` bytes into the segment."""
    path = journal.path_of(segment)
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def stored(con: duckdb.DuckDBPyConnection) -> list[str]:
    return sorted(r[0] for r in con.execute("SELECT path FROM events").fetchall())


def test_a_flipped_byte_mid_segment_loses_one_record_and_the_segment_is_set_aside(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    folder = tmp_path / "j"
    journal = Journal(folder)
    journal.append([record("/a", "/bb")])
    second = journal.append([record("/lost")])
    journal.append([record("/ccc"), record("/dddd")])
    damage(journal, 1, second.offset - 3)  # inside the second record's payload
    seen: list[Damage] = []
    assert replay(con, journal, SEALER, seen.append) == 4
    assert stored(con) == ["/a", "/bb", "/ccc", "/dddd"]
    assert [(d.segment, d.records_lost, d.records_kept) for d in seen] == [(1, 1, 3)]
    assert (folder / SET_ASIDE / "0000000001.log").exists(), "never deleted"
    assert [n["records_lost"] for n in set_aside(folder)] == [1]
    assert journal.segments() == [2], "the readable records went to a segment after it"
    assert replay(con, journal, SEALER) == 0, "a second start loads nothing twice"
    journal.append([record("/eeeee")])
    assert replay(con, journal, SEALER) == 1
    assert stored(con) == ["/a", "/bb", "/ccc", "/dddd", "/eeeee"]


def test_records_loaded_before_the_damage_are_not_copied_again(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    journal = Journal(tmp_path / "j")
    journal.append([record("/loaded")])
    assert replay(con, journal, SEALER) == 1
    journal.append([record("/lost")])
    journal.append([record("/kept")])
    damage(journal, 1, journal.end.offset - len(record("/kept")) - 20)
    seen: list[Damage] = []
    assert replay(con, journal, SEALER, seen.append) == 1
    assert stored(con) == ["/kept", "/loaded"]
    assert [(d.records_lost, d.records_kept) for d in seen] == [(1, 1)]


def test_a_damaged_older_segment_is_set_aside_and_numbering_goes_on(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    journal = Journal(tmp_path / "j", segment_bytes=1)  # one append per segment
    for path in ("/one", "/two", "/three"):
        journal.append([record(path)])
    damage(journal, 2, 20)
    assert replay(con, journal, SEALER) == 2
    assert stored(con) == ["/one", "/three"]
    assert journal.segments() == [3, 4], "segments loaded before 3 are deleted; the (empty) copy of 2 comes after 3"
    assert journal.end.segment == 4


def test_a_torn_tail_is_cut_and_its_bytes_kept_but_it_is_no_damage(
    tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    journal = Journal(tmp_path / "j")
    end = journal.append([record("/kept")])
    torn = b"\x10\x00\x00\x00\x00\x00\x00\x00half"
    with journal.path_of(1).open("ab") as f:
        f.write(torn)
    assert replay(con, journal, SEALER) == 1
    assert set_aside(tmp_path / "j") == [], "nothing acknowledged was lost"
    assert (tmp_path / "j" / SET_ASIDE / f"0000000001.{end.offset}.tail").read_bytes() == torn


def test_a_torn_tail_after_a_damaged_record_cuts_only_the_tail(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    journal.append([record("/a")])
    journal.append([record("/damaged")])
    end = journal.append([record("/c")])
    damage(journal, 1, end.offset - len(record("/c")) - 12)
    with journal.path_of(1).open("ab") as f:
        f.write(b"\x10\x00\x00\x00half")
    assert journal.truncate_torn_tail() == 8
    assert journal.path_of(1).stat().st_size == end.offset, "the damaged record and the one after it stay"


def test_a_set_aside_cut_short_is_finished_or_started_again(tmp_path: Path) -> None:
    folder = tmp_path / "j"
    journal = Journal(folder)
    journal.append([record("/a")])
    journal.append([record("/b")])
    # Cut short after the copy was written, before the segment moved: the copy goes, the segment is redone.
    (folder / "0000000001.log.salvaged").write_bytes(b"partial copy")
    damage(journal, 1, 15)
    assert [d.records_kept for d in salvage(journal, Position(0, 0))] == [1]
    assert sorted(p.name for p in folder.glob("*.log*")) == ["0000000002.log"]
    # Cut short after the segment moved: the copy becomes the next segment.
    (folder / "0000000001.log.salvaged").write_bytes((folder / "0000000002.log").read_bytes())
    assert salvage(journal, Position(0, 0)) == []
    assert journal.segments() == [2, 3]


def test_a_segment_number_set_aside_before_is_set_aside_beside_it(tmp_path: Path) -> None:
    folder = tmp_path / "j"
    for _ in range(2):
        journal = Journal(folder)
        journal.append([record("/a")])
        journal.append([record("/b")])
        damage(journal, 1, 15)
        assert len(salvage(journal, Position(0, 0))) == 1
        journal.close()
        for segment in folder.glob("*.log"):
            segment.unlink()  # a journal started afresh, numbered from 1 again
    assert sorted(p.name for p in (folder / SET_ASIDE).iterdir()) == [
        "0000000001-2.json",
        "0000000001-2.log",
        "0000000001.json",
        "0000000001.log",
    ]
    assert [n["path"].rsplit("/", 1)[1] for n in set_aside(folder)] == ["0000000001-2.log", "0000000001.log"]
