"""Matomo DeviceDetector's rule files, and the regex surgery that derives prefilters from their rules.

Parsing the YAML takes about a third of the start-up, so each parsed file is kept as JSON in a cache
folder (`COLLECTOR_RULES_CACHE`, else `$XDG_CACHE_HOME/collector-rules`, else `~/.cache/...`), keyed
by the package's version and the file's size; a missing or unwritable cache only costs the parse.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import orjson
import regex
import yaml

# Same guard the database is written for: a rule only matches at the start of a token.
BOUNDED = r"(?:^|[^A-Z0-9_-]|[^A-Z0-9-]_|sprd-|MZ-)(?:{})"
GROUP_REF = re.compile(r"\\g<(\d+)>|\$(\d)")
CACHE_FORMAT = 1


def cache_dir() -> Path:
    if folder := os.environ.get("COLLECTOR_RULES_CACHE"):
        return Path(folder)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "collector-rules"


def read(*parts: str) -> Any:
    """One of the package's `regexes/upstream/...` YAML files, parsed (mapping keys as strings)."""
    source = resources.files("device_detector").joinpath("regexes", "upstream", *parts)
    text = source.read_bytes()
    cached = cache_dir() / f"{metadata.version('device-detector')}-{'-'.join(parts)}-{len(text)}-{CACHE_FORMAT}.json"
    try:
        return orjson.loads(cached.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        pass
    data = yaml.load(text, Loader=yaml.CSafeLoader)
    blob = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cached.parent, delete=False) as tmp:
            tmp.write(blob)
        os.replace(tmp.name, cached)
    except OSError:
        pass
    return orjson.loads(blob)


def group(m: regex.Match[str], number: int) -> str:
    """A group's text; "" for a group that did not take part or that the pattern lacks, as the rules expect."""
    return (m.group(number) or "") if number <= (m.re.groups or 0) else ""


def relax(pattern: str) -> str:
    """Drop look-around groups and possessive/atomic markers: the result matches a superset."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            i = closing_paren(pattern, i) + 1
        elif pattern.startswith("(?>", i):
            out.append("(?:")
            i += 3
        elif pattern[i] == "+" and i > 0 and pattern[i - 1] in "*+?}" and pattern[i - 2 : i - 1] != "\\":
            i += 1
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def structure(pattern: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """(index, character, depth) for each character outside escapes and character classes, where
    depth counts the groups open after it (a `(` raises it, a `)` lowers it)."""
    depth, i, in_class = 0, start, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]":  # a `]` first in a class is a literal
                i += 1
        else:
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
            yield i, char, depth
        i += 1


def closing_paren(pattern: str, start: int) -> int:
    """The index of the `)` that closes the group opening at `start`."""
    for i, char, depth in structure(pattern, start):
        if char == ")" and depth == 0:
            return i
    return len(pattern) - 1


def split_branches(pattern: str) -> list[str]:
    """Split a regex on its top-level `|`."""
    branches, start = [], 0
    for i, char, depth in structure(pattern):
        if char == "|" and depth == 0:
            branches.append(pattern[start:i])
            start = i + 1
    branches.append(pattern[start:])
    return branches
