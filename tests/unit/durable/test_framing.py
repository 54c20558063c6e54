"""What goes in one frame to the journal process: counts and sizes, every waiter in exactly one frame."""

from __future__ import annotations

import pickle

from collector.durable.framing import MAX_REQUESTS_FRAME_BYTES, REQUESTS_PER_FRAME, request_frames
from collector.durable.wire import RawRequest


def test_requests_go_sixteen_to_a_frame_in_order() -> None:
    request: RawRequest = ("192.0.2.1", {}, b"{}")
    items: list[tuple[RawRequest, int]] = [(request, i) for i in range(REQUESTS_PER_FRAME * 2 + 3)]
    frames = list(request_frames(items))
    assert [waiters for waiters, _ in frames] == [
        list(range(0, 16)), list(range(16, 32)), list(range(32, 35))
    ]  # fmt: skip
    assert pickle.loads(frames[2][1]) == [("192.0.2.1", {}, b"{}")] * 3


def test_large_bodies_end_a_frame_early_but_one_request_always_goes() -> None:
    big: RawRequest = ("192.0.2.1", {}, b"x" * (MAX_REQUESTS_FRAME_BYTES // 2 + 1))
    huge: RawRequest = ("192.0.2.1", {}, b"x" * (MAX_REQUESTS_FRAME_BYTES + 1))
    small: RawRequest = ("192.0.2.1", {}, b"{}")
    frames = list(request_frames([(big, "a"), (big, "b"), (huge, "c"), (small, "d")]))
    assert [waiters for waiters, _ in frames] == [["a"], ["b"], ["c"], ["d"]]
