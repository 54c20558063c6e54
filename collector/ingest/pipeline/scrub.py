"""Scrubbing: identifier-shaped values (e-mails, phone numbers, long numbers, ids) never reach the database.

Sites leak identifiers by accident: `/users/jane@x.com`, `?utm_content=jane@x.com`, a custom prop holding
an e-mail. Each such value is replaced by a placeholder (`[email]`, `[phone]`, `[number]`, `[id]`), and
each replacement is noted on the event as (kind, field) so that it is counted per site.
These are pipeline steps: pure, importing neither Starlette nor DuckDB.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import Counter
from collections.abc import Callable
from urllib.parse import quote, unquote

from collector.events import Event
from collector.ingest.pipeline.trackers import strip_trackers

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
TOKEN = re.compile(r"(?<![A-Za-z0-9_\-])(?=[A-Za-z_\-]*\d)(?=[0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{32,}(?![A-Za-z0-9_\-])")
DIGITS = re.compile(r"\+?\d[\d\s().\-]*\d")
RUN = re.compile(r"\d{9,}")
NINE_DIGITS = re.compile(r"\d(?:\D*\d){8}")  # at least 9 digits anywhere in the text
MIN_DIGITS = 9  # shortest national phone numbers and ids; shorter numbers (prices, years, order ids) stay
MAX_PHONE_DIGITS = 15  # E.164
_SAFE = "/[]:@!$&'()*+,;=-._~"

Hits = list[tuple[str, str]]


def suspicious(text: str) -> bool:
    """A cheap test that most clean values fail: only these go through the patterns."""
    return "@" in text or len(text) >= 32 or NINE_DIGITS.search(text) is not None


def scrub_text(text: str, field: str, hits: Hits) -> str:
    """The text with identifier-shaped values replaced; appends (kind, field) to hits for each."""
    if not suspicious(text):
        return text
    if "@" in text:
        text = _sub(EMAIL, "[email]", "email", text, field, hits)
    if len(text) >= 32:
        text = _sub(UUID, "[id]", "id", text, field, hits)
        text = _sub(TOKEN, "[id]", "id", text, field, hits)
    if NINE_DIGITS.search(text):
        text = DIGITS.sub(lambda m: _digits(m.group(0), field, hits), text)
    return text


def _sub(pattern: re.Pattern[str], placeholder: str, kind: str, text: str, field: str, hits: Hits) -> str:
    def one(_: re.Match[str]) -> str:
        hits.append((kind, field))
        return placeholder

    return pattern.sub(one, text)


def _digits(value: str, field: str, hits: Hits) -> str:
    digits = sum(map(str.isdigit, value))
    if digits < MIN_DIGITS:
        return value
    if digits <= MAX_PHONE_DIGITS:
        separators = {ch for ch in value if not ch.isdigit()} - {"+"}
        international_or_trunk = value[0] in "+0"
        if international_or_trunk or (separators and "." not in separators):
            hits.append(("phone", field))
            return "[phone]"

    def run(_: re.Match[str]) -> str:
        hits.append(("number", field))
        return "[number]"

    return RUN.sub(run, value)


def scrub_path(path: str, hits: Hits) -> str:
    """Each path segment is decoded, scrubbed and re-encoded if it held an identifier."""
    if not suspicious(unquote(path) if "%" in path else path):
        return path
    segments = path.split("/")
    changed = False
    for i, segment in enumerate(segments):
        if not segment:
            continue
        decoded = unquote(segment)
        cleaned = scrub_text(decoded, "path", hits)
        if cleaned != decoded:
            segments[i] = quote(cleaned, safe=_SAFE)
            changed = True
    return "/".join(segments) if changed else path


# Sites have far fewer distinct page URLs and paths than events: each is stripped and scrubbed once.
@functools.lru_cache(maxsize=8192)
def _stripped(url: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    stripped, removed = strip_trackers(url)
    return stripped, tuple(("click_id", name) for name in removed)


@functools.lru_cache(maxsize=8192)
def _scrubbed_path(path: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    hits: Hits = []
    return scrub_path(path, hits), tuple(hits)


def strip_click_ids(event: Event) -> Event:
    """Remove third-party click ids and tracker parameters from the page URL, noting each one."""
    url, removed = _stripped(event.url)
    if not removed:
        return event
    return event._replace(url=url, scrubbed=(*event.scrubbed, *removed))


def put_scrubbed(event: Event) -> Event:
    """Scrub the stored path, event name, campaign values and props (runs after put_url)."""
    hits: Hits = []
    path = event.path
    if path:
        path, path_hits = _scrubbed_path(path)
        hits.extend(path_hits)
    name = scrub_text(event.name, "name", hits)
    utm = event.utm
    if any(suspicious(v) for v in utm.values()):
        utm = {k: scrub_text(v, "utm", hits) for k, v in utm.items()}
    props = event.props
    if any(suspicious(k) or suspicious(v) for k, v in props.items()):
        props = {scrub_text(k, "props", hits): scrub_text(v, "props", hits) for k, v in props.items()}
    if not hits:
        return event
    return event._replace(path=path, name=name, utm=utm, props=props, scrubbed=(*event.scrubbed, *hits))


class ScrubCounts:
    """Scrubbed values and stripped click ids per (site, day, kind, field), held until the writer's next load.

    Like drop counts they live in memory until the load transaction that stores the events writes them.
    """

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, event: Event) -> None:
        day = event.ts.date().isoformat()
        with self._lock:
            for kind, field in event.scrubbed:
                self._counts[(event.site, day, kind, field)] += 1

    def take(self) -> Counter[tuple[str, str, str, str]]:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        return counts

    def put_back(self, counts: Counter[tuple[str, str, str, str]]) -> None:
        with self._lock:
            self._counts.update(counts)


def make_count_scrubbed(counts: ScrubCounts) -> Callable[[Event], Event]:
    def count_scrubbed(event: Event) -> Event:
        if event.scrubbed:
            counts.add(event)
        return event

    return count_scrubbed
