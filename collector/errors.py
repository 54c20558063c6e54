"""ClientError: a request the collector refuses as given, answered as JSON `{"error": ..., "field": ...}`.

Pure (it imports nothing of the web, storage or ingest), so any package may raise it; the web layer
answers every one of them with `as_json()` and `status`.
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """`message` for a person to read, `field` the part of the request at fault (or None), `status` the HTTP status."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status

    def as_json(self) -> dict[str, Any]:
        return {"error": self.message, "field": self.field}
