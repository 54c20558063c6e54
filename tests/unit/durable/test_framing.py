"""What goes in one frame to the journal process: counts and sizes, every waiter in exactly one frame."""

from __future__ import annotations

import pickle

import orjson

from collector.durable.framing import (
    MAX_FRAME_BYTES,
    MAX_REQUESTS_FRAME_BYTES,
    REQUESTS_PER_FRAME,
    Row,
    request_frames,
    row_frames,
)
from collector.ingest.handler import RawRequest


def test_requests_go_sixteen_to_a_frame_in_order() -> None:
    request: RawRequest = ("192.0.2.1", {}, b"{}")
    items: list[tuple[RawRequest | None, int]] = [(request, i) for i in range(REQUESTS_PER_FRAME * 2 + 3)]
    frames = list(request_frames(items))
    assert [waiters for waiters, _ in frames] == [
        list(range(0, 16)), list(range(16, 32)), list(range(32, 35))
    ]  # fmt: skip
    assert pickle.loads(frames[2][1]) == [("192.0.2.1", {}, b"{}")] * 3


def test_large_bodies_end_a_frame_early_but_one_request_always_goes() -> None:
    big: RawRequest = ("192.0.2.1", {}, b"x" * (MAX_REQUESTS_FRAME_BYTES // 2 + 1))
    huge: RawRequest = ("192.0.2.1", {}, b"x" * (MAX_REQUESTS_FRAME_BYTES + 1))
    frames = list(request_frames([(big, "a"), (big, "b"), (huge, "c"), (None, "probe")]))
    assert [waiters for waiters, _ in frames] == [["a"], ["b"], ["c"], ["probe"]]


def test_rows_share_a_frame_until_it_would_pass_the_byte_limit() -> None:
    small: list[tuple[list[Row], int]] = [([("/a",)], 1), ([("/b",), ("/c",)], 2), ([], 3)]
    frames = list(row_frames(small))
    assert [(waiters, rows, orjson.loads(payload)) for waiters, rows, payload in frames] == [
        ([1, 2, 3], 3, [["/a"], ["/b"], ["/c"]])
    ]
    half: list[Row] = [("x" * (MAX_FRAME_BYTES // 2),)]
    frames = list(row_frames([(half, 1), (half, 2), (half, 3)]))
    assert sorted(w for waiters, _, _ in frames for w in waiters) == [1, 2, 3]
    assert all(len(payload) <= MAX_FRAME_BYTES for _, _, payload in frames)


def test_a_turn_with_nothing_but_empty_writes_sends_one_empty_frame() -> None:
    empty: list[Row] = []
    assert list(row_frames([(empty, "x"), (empty, "y")])) == [(["x", "y"], 0, b"")]
