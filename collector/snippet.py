"""The snippet as served: read once, with its gzip form, a strong ETag and a Subresource Integrity hash."""

from __future__ import annotations

import base64
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from collector.resources import resource_dir


@dataclass(frozen=True, slots=True)
class Snippet:
    body: bytes
    gzipped: bytes
    etag: str
    integrity: str


def load_snippet(path: Path | None = None) -> Snippet:
    path = path or resource_dir("snippet") / "dist" / "collector.js"
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    return Snippet(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        etag=f'"{digest[:32]}"',
        integrity="sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode(),
    )


def tag(snippet: Snippet, collector_url: str, site: str) -> str:
    src = collector_url.rstrip("/") + "/js/collector.js"
    return (
        f'<script defer src="{src}" data-site="{site}" integrity="{snippet.integrity}" '
        f'crossorigin="anonymous"></script>'
    )
