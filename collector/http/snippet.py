"""The snippet as served: read once, with its compressed forms, strong ETags, the tag to embed and its SRI hash."""

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
# The hosts the snippet treats as local (snippet/src/collector.js): it records nothing there without data-allow-local.
_LOCAL = re.compile(r"^(127\.|\[::1\]$|::1$)|localhost$")


class TagError(ValueError):
    """A site or collector URL that cannot go into the tag."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """One representation of the snippet: its bytes, Content-Encoding and strong ETag."""

    body: bytes
    encoding: str | None
    etag: str


@dataclass(frozen=True, slots=True)
class Snippet:
    body: bytes
    integrity: str
    forms: tuple[Encoded, ...]  # best first; the last is the identity form

    def form(self, accept_encoding: str | None) -> Encoded:
        accepted = accepted_codings(accept_encoding)
        return next(f for f in self.forms if f.encoding is None or f.encoding in accepted)


def load_snippet(path: Path | None = None) -> Snippet:
    """The built snippet, gzip-compressed here and, when the build made one, its Brotli file (the stdlib has none)."""
    path = path or resource_dir("snippet") / "dist" / "collector.js"
    body = path.read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:32]
    forms = [Encoded(gzip.compress(body, compresslevel=9, mtime=0), "gzip", f'"{digest}-gzip"')]
    brotli = path.with_name(path.name + ".br")
    if brotli.is_file():
        forms.insert(0, Encoded(brotli.read_bytes(), "br", f'"{digest}-br"'))
    forms.append(Encoded(body, None, f'"{digest}"'))
    return Snippet(
        body=body,
        integrity="sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode(),
        forms=tuple(forms),
    )


def accepted_codings(accept_encoding: str | None) -> set[str]:
    """Content codings named in Accept-Encoding with a non-zero q (`*` is not expanded)."""
    codings = set()
    for item in (accept_encoding or "").lower().split(","):
        name, _, params = item.partition(";")
        q = params.strip().removeprefix("q=").strip()
        try:
            if q and float(q) <= 0:
                continue
        except ValueError:
            continue
        if name.strip():
            codings.add(name.strip())
    return codings


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison: W/ prefixes do not matter, `*` matches anything."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def is_local(site: str) -> bool:
    """A site on this machine (localhost, *.localhost, 127.*, ::1), where the snippet stays silent unless told."""
    return bool(_LOCAL.search(site.lower()))


def tag(snippet: Snippet, collector_url: str, site: str, integrity: bool = True) -> str:
    """The <script> element a site pastes into its pages; for a local site it carries data-allow-local, without
    which the snippet records nothing on a local page."""
    parts = urlsplit(collector_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise TagError(
            f"collector URL must be an http(s) URL without query, like https://stats.example.com: {collector_url!r}"
        )
    if not _SITE.match(site.lower()):
        raise TagError(f"site must be a domain name like example.com: {site!r}")
    src = collector_url.rstrip("/") + PATH
    attrs = f'defer src="{html.escape(src)}" data-site="{site.lower()}"'
    if is_local(site):
        attrs += " data-allow-local"
    if integrity:
        # crossorigin makes the browser check the hash on a CORS response (the collector sends
        # Access-Control-Allow-Origin: * for the snippet) and sends no cookies.
        attrs += f' integrity="{snippet.integrity}" crossorigin="anonymous"'
    return f"<script {attrs}></script>"
