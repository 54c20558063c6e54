"""The snippet as served: read once, with its gzip form, strong ETags, the tag to embed and its SRI hash."""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from collector.resources import resource_dir

PATH = "/js/collector.js"
CACHE_CONTROL = "public, max-age=3600, stale-while-revalidate=86400"
_SITE = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


class TagError(ValueError):
    """A site or collector URL that cannot go into the tag."""


@dataclass(frozen=True, slots=True)
class Snippet:
    body: bytes
    gzipped: bytes
    etag: str
    gzip_etag: str  # a strong ETag names one representation: the gzip bytes get their own
    integrity: str


def load_snippet(path: Path | None = None) -> Snippet:
    path = path or resource_dir("snippet") / "dist" / "collector.js"
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:32]
    return Snippet(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        etag=f'"{digest}"',
        gzip_etag=f'"{digest}-gzip"',
        integrity="sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode(),
    )


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison: W/ prefixes do not matter, `*` matches anything."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def tag(snippet: Snippet, collector_url: str, site: str, integrity: bool = True) -> str:
    """The <script> element a site pastes into its pages."""
    parts = urlsplit(collector_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise TagError(
            f"collector URL must be an http(s) URL without query, like https://stats.example.com: {collector_url!r}"
        )
    if not _SITE.match(site.lower()):
        raise TagError(f"site must be a domain name like example.com: {site!r}")
    src = collector_url.rstrip("/") + PATH
    attrs = f'defer src="{html.escape(src)}" data-site="{site.lower()}"'
    if integrity:
        # crossorigin makes the browser check the hash on a CORS response (the collector sends
        # Access-Control-Allow-Origin: * for the snippet) and sends no cookies.
        attrs += f' integrity="{snippet.integrity}" crossorigin="anonymous"'
    return f"<script {attrs}></script>"
