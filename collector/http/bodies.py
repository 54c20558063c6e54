"""Request bodies read straight from ASGI `receive`, under a size cap and a time limit.

Shared by every route that reads a body (ingest, segments, privacy), so each refuses an oversized or
slow body with the same status and message: 413 past the cap, 408 when it takes too long.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from starlette.types import Receive

from collector.errors import ClientError
from collector.http.tasks import stop

TIMEOUT_SECONDS = 10.0


class BodyTimeouts:
    """Cancel body reads that outlast `seconds`, checked once a second instead of with a timer per request.

    asyncio.timeout() costs about 7 us per use on uvloop; a dict entry per read costs a tenth of that.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.reading: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self.now = time.monotonic()
        self.reaper: asyncio.Task[None] | None = None

    async def read(self, receive: Receive, limit: int) -> bytes | None:
        """read_body(), raising TimeoutError when the body takes longer than `seconds` to arrive."""
        if self.reaper is None:
            self.now = time.monotonic()
            self.reaper = asyncio.get_running_loop().create_task(self._reap())
        task = asyncio.current_task()
        assert task is not None
        self.reading[task] = self.now
        try:
            return await read_body(receive, limit)
        except asyncio.CancelledError:
            if task not in self.expired:
                raise
            self.expired.discard(task)
            task.uncancel()
            raise TimeoutError from None
        finally:
            del self.reading[task]

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.seconds / 2))
            self.now = time.monotonic()
            for task, started in list(self.reading.items()):
                if self.now - started > self.seconds and task not in self.expired:
                    self.expired.add(task)
                    task.cancel()

    async def close(self) -> None:
        await stop(self.reaper)
        self.reaper = None


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it grows past `limit` bytes (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("client disconnected")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_capped(
    receive: Receive, content_length: str | None, limit: int, timeouts: BodyTimeouts | None = None
) -> bytes:
    """The body if it is at most `limit` bytes and arrives in time (`timeouts`, else TIMEOUT_SECONDS).

    ClientError 413 (field `body`) for a larger body, declared or sent, 408 for a slow one;
    ConnectionError when the client leaves first.
    """
    if content_length is not None and (not content_length.isdigit() or int(content_length) > limit):
        raise ClientError(f"body is larger than {limit} bytes", "body", 413)
    try:
        if timeouts is None:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                body = await read_body(receive, limit)
        else:
            body = await timeouts.read(receive, limit)
    except TimeoutError:
        raise ClientError("body took too long to arrive", "body", 408) from None
    if body is None:
        raise ClientError(f"body is larger than {limit} bytes", "body", 413)
    return body


def json_object(body: bytes, not_json: str = "body is not valid JSON") -> dict[str, Any]:
    """The body as a JSON object; ClientError 400 (field `body`), with `not_json` when it is not JSON at all."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ClientError(not_json, "body") from None
    if not isinstance(data, dict):
        raise ClientError("body must be a JSON object", "body")
    return data
