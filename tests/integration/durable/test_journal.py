from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from collector.durable.journal import Journal, Position, Sealer
from collector.durable.writer import replay
from collector.events import Event, Request
from collector.storage.rows import to_row
from collector.storage.store import migrate, open_database

REQUEST = Request(ip="192.0.2.1", user_agent="UA", hints={}, gpc=False, prefetch=False)


def event(path: str) -> Event:
    return Event(
        site="example.com", name="pageview", url=f"https://example.com{path}", referrer=None, screen_w=1, screen_h=1,
        language=None, timezone=None, client_hints={}, raw_id=None, props={}, webdriver=False, client_gpc=False,
        ts=datetime(2026, 11, 25, 12, 0, tzinfo=UTC), request=REQUEST,
        event_id=f"00000000-0000-4000-8000-{len(path):012d}", path=path, hostname="example.com",
    )  # fmt: skip


def test_records_read_back_in_order_with_positions(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    first = journal.append([b"one", b"two"])
    second = journal.append([b"three"])
    assert [p for _, p in journal.read_from(Position(0, 0))] == [b"one", b"two", b"three"]
    assert [p for _, p in journal.read_from(first)] == [b"three"]
    assert list(journal.read_from(second)) == []


def test_a_torn_last_record_is_cut_and_never_read(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j")
    good = journal.append([b"kept"])
    journal.close()
    segment = next((tmp_path / "j").glob("*.log"))
    with segment.open("ab") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00half")  # a crash in the middle of a write
    reopened = Journal(tmp_path / "j")
    assert reopened.truncate_torn_tail() == 12
    assert reopened.end == good
    assert [p for _, p in reopened.read_from(Position(0, 0))] == [b"kept"]


def test_segments_rotate_and_loaded_ones_are_deleted(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j", segment_bytes=10)
    journal.append([b"0123456789"])
    position = journal.append([b"abc"])
    assert journal.segments() == [1, 2]
    journal.drop_before(position)
    assert journal.segments() == [2]


def test_sealed_records_hold_no_plaintext(tmp_path: Path) -> None:
    sealer = Sealer("k" * 64)
    data = orjson.dumps([to_row(event("/very-distinctive-path"))])
    sealed = sealer.seal(data)
    assert b"very-distinctive-path" not in sealed
    assert sealer.open(sealed) == data


def test_replay_loads_each_acknowledged_record_exactly_once(tmp_path: Path) -> None:
    con = open_database(tmp_path / "db.duckdb", "k" * 64)
    migrate(con)
    sealer = Sealer("k" * 64)
    journal = Journal(tmp_path / "j")
    journal.append([sealer.seal(orjson.dumps([to_row(event("/a")), to_row(event("/bb"))]))])
    journal.append([sealer.seal(orjson.dumps([to_row(event("/ccc"))]))])
    assert replay(con, journal, sealer) == 3
    assert replay(con, journal, sealer) == 0  # a second start after a crash loads nothing twice
    journal.append([sealer.seal(orjson.dumps([to_row(event("/dddd"))]))])
    assert replay(con, journal, sealer) == 1
    paths = sorted(r[0] for r in con.execute("SELECT path FROM events").fetchall())
    assert paths == ["/a", "/bb", "/ccc", "/dddd"]
    assert con.execute("SELECT DISTINCT ts FROM events").fetchall() == [(datetime(2026, 11, 25, 12, 0),)]


def test_a_forced_rotation_keeps_the_end_until_something_is_written_and_the_old_segment_can_go(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j")
    loaded = journal.append([b"old"])
    assert journal.rotate() == loaded
    assert journal.end == loaded, "an empty new segment holds nothing more to load"
    journal.drop_older()
    assert journal.segments() == [2]
    after = journal.append([b"new"])
    assert after == Position(2, after.offset) and after.offset > 0
    assert [p for _, p in journal.read_from(loaded)] == [b"new"], "a stored position in a deleted segment still works"


def test_cutting_a_torn_tail_never_reads_a_later_segment_as_this_ones(tmp_path: Path) -> None:
    stale = Journal(tmp_path / "j")  # opened before another process appended and rotated
    other = Journal(tmp_path / "j", segment_bytes=1)
    other.append([b"one"])
    other.append([b"two, in segment 2"])
    size = (tmp_path / "j" / "0000000001.log").stat().st_size
    assert stale.truncate_torn_tail() == 0
    assert (tmp_path / "j" / "0000000001.log").stat().st_size == size
    assert [p for _, p in Journal(tmp_path / "j").read_from(Position(0, 0))] == [b"one", b"two, in segment 2"]
