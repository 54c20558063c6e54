"""Turn an ingest request body into validated events, or say precisely what is wrong with it."""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

import orjson

from collector.errors import ClientError
from collector.events import Event, Request

NO_STRINGS: Mapping[str, str] = MappingProxyType({})

MAX_URL = 2048
MAX_NAME = 120
MAX_PROPS = 30
MAX_PROP_KEY = 64
MAX_PROP_VALUE = 256
MAX_SCREEN = 100_000
MAX_ID = 128
MAX_HINTS = 12
MAX_HINT_VALUE = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LANGUAGE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
_TIMEZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")
_ID = re.compile(r"^[A-Za-z0-9_\-]{8,128}$")
# What a field held to a pattern must look like, said in the error (the CLI words the id rule the same way).
_RULES = {
    "id": "id must be 8 to 128 letters, digits, - or _",
    "l": "l must be a BCP 47 language tag like en-US",
    "tz": "tz must be an IANA time zone like Europe/Berlin",
}
_JSON_TYPES = ("application/json", "text/plain")
_ids = random.Random()  # seeded from os.urandom; ids need uniqueness, not secrecy, and urandom per event is slow


_VERSION_4 = (0x4 << 76) | (0x8 << 60)
_VERSION_MASK = ~((0xF << 76) | (0xC << 60))


def new_event_id() -> str:
    """A random (version 4) UUID for de-duplication across retries and replays (5x faster than uuid.UUID)."""
    h = f"{(_ids.getrandbits(128) & _VERSION_MASK) | _VERSION_4:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True, slots=True)
class ParseError(ClientError):
    message: str
    field: str | None = None
    index: int | None = None
    status: int = 400

    def as_json(self) -> dict[str, Any]:
        body = ClientError.as_json(self)  # not super(): a slots dataclass is a new class
        if self.index is not None:
            body["index"] = self.index
        return body


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_content_type(content_type: str | None) -> None:
    if media_type(content_type) not in _JSON_TYPES:
        raise ParseError("content type must be application/json or text/plain", "content-type", status=415)


def parse_body(body: bytes, max_events: int) -> list[dict[str, Any]]:
    """Decode the body into a list of raw event objects (one object or an array of them)."""
    if not body.strip():
        raise ParseError("request body is empty", "body")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "not valid UTF-8" in str(exc):  # orjson's words for any byte sequence that is not UTF-8
            raise ParseError("body is not valid UTF-8", "body") from None
        raise ParseError(f"body is not valid JSON: {_short(str(exc))}", "body") from None
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        if not data:
            raise ParseError("batch is empty", "body")
        if len(data) > max_events:
            raise ParseError(f"batch holds {len(data)} events; at most {max_events} are allowed", "body")
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise ParseError("each event must be a JSON object", "body", i)
        return data
    raise ParseError("body must be a JSON object or an array of objects", "body")


def has_no_escapes(body: bytes) -> bool:
    """True when no decoded string can hold a control character: JSON forbids them raw, so only an
    escape (or DEL, which JSON allows raw) can produce one. Then the per-field checks can be skipped."""
    return b"\\" not in body and b"\x7f" not in body


def build_event(raw: dict[str, Any], index: int | None, request: Request, now: datetime, clean: bool = False) -> Event:
    """Validate one raw object into an Event; the first invalid field raises ParseError.

    `clean` says the body had no escapes (has_no_escapes), so no string needs a control-character scan.
    """
    try:
        site = _text(raw, "d", 253, True, clean)
        return Event(
            site.lower(),  # type: ignore[union-attr]
            _text(raw, "n", MAX_NAME, False, clean) or "pageview",
            _url(raw, "u", True, clean),  # type: ignore[arg-type]
            _url(raw, "r", False, clean),
            _screen(raw, "w"),
            _screen(raw, "h"),
            _pattern(raw, "l", LANGUAGE, 35, clean),
            _pattern(raw, "tz", _TIMEZONE, 64, clean),
            _hints(raw["ch"]) if "ch" in raw else NO_STRINGS,
            _pattern(raw, "id", _ID, MAX_ID, clean),
            _props(raw["p"]) if "p" in raw else NO_STRINGS,
            _flag(raw, "wd"),
            _flag(raw, "gpc"),
            now,
            request,
            new_event_id(),
        )
    except ParseError as exc:
        raise ParseError(exc.message, exc.field, index) from None


def _short(text: str) -> str:
    return text if len(text) <= 120 else text[:117] + "..."


def _text(raw: dict[str, Any], key: str, limit: int, required: bool = False, clean: bool = False) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise ParseError(f"{key} is required", key)
        return None
    if type(value) is not str:
        raise ParseError(f"{key} must be a string", key)
    if len(value) > limit:
        raise ParseError(f"{key} is longer than {limit} characters", key)
    if not clean and _CONTROL.search(value):
        raise ParseError(f"{key} contains control characters", key)
    value = value.strip()
    if required and not value:
        raise ParseError(f"{key} is required", key)
    return value or None


def _url(raw: dict[str, Any], key: str, required: bool, clean: bool = False) -> str | None:
    value = _text(raw, key, MAX_URL, required, clean)
    if value is None:
        return None
    lower = value[:8].lower()
    if not (lower.startswith("http://") or lower.startswith("https://")):
        raise ParseError(f"{key} must be an absolute http(s) URL", key)
    return value


def _pattern(raw: dict[str, Any], key: str, pattern: re.Pattern[str], limit: int, clean: bool = False) -> str | None:
    value = _text(raw, key, limit, clean=clean)
    if value is None:
        return None
    if not (_shared_value_ok(pattern, value) if pattern is not _ID else pattern.match(value)):
        raise ParseError(_RULES.get(key, f"{key} is not well formed"), key)
    return value


# Languages and time zones repeat across nearly every request (a few hundred values), and their patterns
# cost 1.5 us a match: one answer per value is kept. Ids are a visitor's own and are never cached.
@functools.lru_cache(maxsize=4096)
def _shared_value_ok(pattern: re.Pattern[str], value: str) -> bool:
    return pattern.match(value) is not None


def _screen(raw: dict[str, Any], key: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParseError(f"{key} must be a number", key)
    if value != value or not 0 < value <= MAX_SCREEN:
        raise ParseError(f"{key} must be between 1 and {MAX_SCREEN}", key)
    return round(value)


def _flag(raw: dict[str, Any], key: str) -> bool:
    value = raw.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ParseError(f"{key} must be true or false", key)
    return value


def _props(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParseError("p must be an object of string values", "p")
    if len(value) > MAX_PROPS:
        raise ParseError(f"p has more than {MAX_PROPS} keys", "p")
    props: dict[str, str] = {}
    for k, v in value.items():
        if not k or len(k) > MAX_PROP_KEY or _CONTROL.search(k):
            raise ParseError(f"p keys must be 1 to {MAX_PROP_KEY} printable characters", "p")
        if isinstance(v, bool):
            text = "true" if v else "false"
        elif isinstance(v, str | int | float):
            text = v if isinstance(v, str) else str(v)
        else:
            raise ParseError(f"p.{k} must be a string, number or boolean", "p")
        if len(text) > MAX_PROP_VALUE or _CONTROL.search(text):
            raise ParseError(f"p.{k} must be at most {MAX_PROP_VALUE} printable characters", "p")
        props[k] = text
    return props


def _hints(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParseError("ch must be an object", "ch")
    if len(value) > MAX_HINTS:
        raise ParseError(f"ch has more than {MAX_HINTS} keys", "ch")
    hints: dict[str, str] = {}
    for k, v in value.items():
        if isinstance(v, bool):
            text = "?1" if v else "?0"
        elif isinstance(v, str):
            text = v
        else:
            raise ParseError(f"ch.{k} must be a string or a boolean", "ch")
        if len(k) > 64 or len(text) > MAX_HINT_VALUE or _CONTROL.search(text) or _CONTROL.search(k):
            raise ParseError(f"ch.{k} is too long or has control characters", "ch")
        hints[k] = text
    return hints
