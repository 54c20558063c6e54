"""Lazy: a rule set loaded on first use, once per process, by whichever thread needs it first.

Loading the device rules takes seconds, so it happens at start-up (detect.warm) or on the first
request that needs them, never at import; concurrent first uses wait for one load instead of each doing it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    """Call it for the value, built by `build` on the first call; `loaded` is the value or None, never building."""

    def __init__(self, build: Callable[[], T]) -> None:
        self.build = build
        self.loaded: T | None = None
        self.lock = threading.Lock()

    def __call__(self) -> T:
        value = self.loaded
        if value is None:
            with self.lock:
                value = self.loaded
                if value is None:
                    value = self.loaded = self.build()
        return value
