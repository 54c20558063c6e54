"""FirstMatch: the first of an ordered list of regexes that matches an agent, found with Hyperscan.

Matomo's lists are first-match-wins over thousands of regexes. One compiled regex per rule costs 12 to
30 KB in Rust's engine (about 660 MB for every device, client and bot rule); Hyperscan databases of
the same rules take about 17 MB without the per-brand models, are read-only (a forked process shares
them), and scan an agent in microseconds. Hyperscan reports every rule that matches; the lowest index
wins. A rule's branches run exactly where Hyperscan takes them as written, with Matomo's token guard;
a branch with a construct it only approximates runs as a superset (prefilter mode), and such a hit is
confirmed by the `regex` module before it counts. Compiling takes seconds, so each database is kept in
the rules cache folder (rules.cache_dir()), keyed by a digest of what it was compiled from.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import hyperscan
import orjson
import regex

from collector.devices.rules import BOUNDED, GROUP_REF, cache_dir, group, relax, split_branches

VERSION = metadata.version("hyperscan")  # a database compiled by another version is compiled anew
CHUNK = 512  # rules per database: Hyperscan's compile time grows faster than the number of rules
BASE = hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_ALLOWEMPTY
# rules.BOUNDED as Hyperscan takes it: a start anchor only at the start of an expression.
GUARDS = ("^(?:{})", "(?:[^A-Z0-9_-]|[^A-Z0-9-]_|sprd-|MZ-)(?:{})")
# Constructs Hyperscan only approximates (look-around, atomic groups, possessive and back-references).
APPROXIMATE = re.compile(r"\(\?<?[=!]|\(\?>|(?<!\\)[*+?}][+]|\\[1-9]|\\g<")
# A start anchor inside a branch ("(?:BTWebClient/|^uTorrent/)"): Hyperscan takes none after a guard.
ANCHOR = re.compile(r"(?<![\\[])\^")


@lru_cache(maxsize=2048)
def compiled(pattern: str, fold: bool) -> regex.Pattern[str]:
    """The exact rule, compiled on first need; the most recently used ones are kept."""
    return regex.compile(pattern, regex.IGNORECASE if fold else 0)


class FirstMatch:
    """The index of the first rule that matches, for rules of (regex, case-insensitive).

    A `guarded` rule only matches at the start of a token (rules.BOUNDED). Hyperscan runs each rule
    exactly where it can; a rule with a construct it only approximates runs as a superset (Hyperscan's
    prefilter mode), and a hit of it is confirmed with the `regex` module before it counts.
    """

    def __init__(self, rules: Sequence[tuple[str, bool]], guarded: bool = False) -> None:
        self.exact = [(BOUNDED.format(p) if guarded else p, fold) for p, fold in rules]
        self.databases: list[tuple[hyperscan.Database, hyperscan.Scratch]] = []
        self.always: list[int] = []  # rules Hyperscan cannot take at all: always confirmed
        self.lock = threading.Lock()
        for start in range(0, len(rules), CHUNK):
            database, always = load_or_compile(expressions_of(rules[start : start + CHUNK], start, guarded))
            self.always.extend(always)
            if database is not None:
                self.databases.append((database, hyperscan.Scratch(database)))

    def first(self, text: str) -> int | None:
        found: set[int] = set()

        def hit(key: int, start: int, end: int, flags: int, context: object) -> None:
            found.add(key)

        data = text.encode("utf-8", "replace")
        with self.lock:  # one scratch a database: scans release the GIL
            for database, scratch in self.databases:
                database.scan(data, match_event_handler=hit, scratch=scratch)
        # key = 2 * index for an exact hit, 2 * index + 1 for a superset's, to be confirmed
        for key in sorted(found.union(2 * i + 1 for i in self.always)):
            index, approximate = divmod(key, 2)
            if not approximate or self.pattern(index).search(text):
                return index
        return None

    def pattern(self, index: int) -> regex.Pattern[str]:
        """The rule as the `regex` module runs it, for its groups."""
        exact, fold = self.exact[index]
        return compiled(exact, fold)


class NamedPatterns:
    """First matching entry of an ordered (regex, name, case-insensitive) list.

    A name may use the match's groups; an empty name means the matched text itself. `guarded` rules
    only match at the start of a token (rules.BOUNDED), as Matomo's lists are written to.
    """

    def __init__(self, entries: list[tuple[str, str, bool]], guarded: bool = False) -> None:
        self.entries = entries
        self.matcher = FirstMatch([(p, fold) for p, _, fold in entries], guarded)

    def first(self, ua: str) -> int | None:
        return self.matcher.first(ua)

    def name(self, ua: str) -> str | None:
        index = self.first(ua)
        return None if index is None else self.render(index, self.entries[index][1], ua)

    def render(self, index: int, template: str, ua: str) -> str | None:
        """The template with the entry's groups filled in from the agent."""
        if template and not GROUP_REF.search(template):
            return template
        m = self.matcher.pattern(index).search(ua)
        if m is None:
            return None
        if not template:
            return m.group().strip(" ;/()+") or None
        return GROUP_REF.sub(lambda g: group(m, int(g.group(1) or g.group(2))), template).strip()


def cache_ahead(rules: Sequence[tuple[str, bool]], guarded: bool = False) -> bool:
    """Compile into the cache what FirstMatch(rules, guarded) would otherwise compile, keeping nothing in
    memory; False when it was all there."""
    compiled_any = False
    for start in range(0, len(rules), CHUNK):
        expressions = expressions_of(rules[start : start + CHUNK], start, guarded)
        if not cache_path(expressions).exists():
            load_or_compile(expressions)
            compiled_any = True
    return compiled_any


def expressions_of(rules: Sequence[tuple[str, bool]], first: int, guarded: bool) -> list[tuple[bytes, int, int]]:
    """(expression, key, flags) for Hyperscan: each top-level branch of each rule, exact or as a superset."""
    expressions: list[tuple[bytes, int, int]] = []
    for index, (raw, fold) in enumerate(rules, first):
        flags = BASE | (hyperscan.HS_FLAG_CASELESS if fold else 0)
        for branch in split_branches(raw):
            if APPROXIMATE.search(branch) or (guarded and ANCHOR.search(branch, 1)):
                superset = (2 * index + 1, flags | hyperscan.HS_FLAG_PREFILTER)
                expressions.append((relax(branch).encode(), *superset))
            else:
                forms = GUARDS if guarded and not branch.startswith("^") else ("{}",)  # "^" needs no guard
                expressions.extend((form.format(branch).encode(), 2 * index, flags) for form in forms)
    return expressions


def cache_path(expressions: list[tuple[bytes, int, int]]) -> Path:
    digest = hashlib.sha256(orjson.dumps([VERSION, [(e.decode(), i, f) for e, i, f in expressions]]))
    return cache_dir() / f"hs-{digest.hexdigest()[:32]}.db"


def load_or_compile(expressions: list[tuple[bytes, int, int]]) -> tuple[hyperscan.Database | None, list[int]]:
    cached = cache_path(expressions)
    try:
        head, _, blob = cached.read_bytes().partition(b"\n")
        always: list[int] = orjson.loads(head)
        return (hyperscan.loadb(blob, hyperscan.HS_MODE_BLOCK) if blob else None), always
    except (OSError, ValueError, hyperscan.error):
        pass
    database, always = compile_chunk(expressions)
    blob = hyperscan.dumpb(database) if database is not None else b""
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cached.parent, delete=False) as tmp:
            tmp.write(orjson.dumps(always) + b"\n" + blob)
        os.replace(tmp.name, cached)
    except OSError:
        pass
    release_freed_memory()
    return database, always


def compile_chunk(expressions: list[tuple[bytes, int, int]]) -> tuple[hyperscan.Database | None, list[int]]:
    """A database of the expressions Hyperscan takes; the rules of those it refuses are always confirmed."""
    always: set[int] = set()
    while True:
        kept = [(e, k, f) for e, k, f in expressions if k // 2 not in always]
        if not kept:
            return None, sorted(always)
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        try:
            database.compile(
                expressions=[e for e, _, _ in kept],
                ids=[i for _, i, _ in kept],
                elements=len(kept),
                flags=[f for _, _, f in kept],
            )
            return database, sorted(always)
        except hyperscan.error:
            refused = {k // 2 for e, k, f in kept if not compiles(e, f)}
            if not refused:
                raise
            always |= refused


def compiles(expression: bytes, flags: int) -> bool:
    try:
        hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK).compile(expressions=[expression], ids=[0], flags=[flags])
    except hyperscan.error:
        return False
    return True


def release_freed_memory() -> None:
    """Hand the compiler's freed heap back to the system: a forked process would otherwise share it for nothing."""
    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).malloc_trim(0)
