"""Bot detection: crawlers, monitors, HTTP libraries, headless browsers, empty agents, prefetches.

Named crawlers and libraries come from Matomo's DeviceDetector lists (read from the installed
`device-detector` package) and the `crawler-user-agents` patterns, compiled into ua-parser's Rust
extractor; a short generic net after them catches the unnamed rest.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from importlib import resources
from typing import Any, Literal

import regex
import ua_parser_rs
import yaml

from collector.device_names import BOUNDED, PYTHON_ONLY, relax

# Libraries a person's own browser or app sends; not automation.
# Libraries a person's own browser or app sends, and Matomo's catch-all, which flags phones too.
HUMAN_LIBRARIES = frozenset({"Safari View Service", "Apple Core Media", "KaiOS Downloader", "Emacs", "Generic Bot"})
# crawler-user-agents patterns that also name phones, apps people use, or an Android build id.
HUMAN_PATTERNS = frozenset(
    {
        "WhatsApp",
        r"AP3A\.240617\.008",
        "Sogou",
        "Butterfly",
        "Sonic",
        "Podimo",
        "Viber",
        "speedy",
        "Fluid",
        "Chirp|gotosocial",
        r"Code\/1\.",
        "Expanse",
        r"008\/",
    }
)
# J2ME feature phones announce their Java runtime.
FEATURE_PHONE = re.compile(r"MIDP|CLDC|SEMC-Java", re.IGNORECASE)

HEADLESS = re.compile(r"HeadlessChrome|PhantomJS|SlimerJS|Chrome-Lighthouse|Puppeteer|Playwright|Selenium|jsdom")
GENERIC = re.compile(
    r"(?<![a-z])(?:[a-z0-9_-]*(?<!cu)bot|\w*crawl\w*|\w*spider|slurp|scrap\w*|fetcher|monitor\w*|checker|validator|"
    r"http-?client|https?://|curl|wget|python|java/|go-http|okhttp|libwww|perl|php/|node-fetch|axios)(?![a-z])",
    re.IGNORECASE,
)
PREFETCH_HEADERS = ("purpose", "sec-purpose", "x-purpose", "x-moz")


class NamedPatterns:
    """First matching entry of an ordered (regex, name, case-insensitive) list.

    A name may use the match's groups; an empty name means the matched text itself.
    """

    def __init__(self, entries: list[tuple[str, str, bool]]) -> None:
        self.entries = entries
        self.patterns: dict[int, regex.Pattern[str]] = {}
        self.checks: dict[int, regex.Pattern[str]] = {}
        exact: list[tuple[str, Literal["i"] | None, str | None, str | None, str | None]] = []
        relaxed: list[tuple[str, Literal["i"] | None, str | None, str | None, str | None]] = []
        for index, (pattern, _, fold) in enumerate(entries):
            flag: Literal["i"] | None = "i" if fold else None
            if PYTHON_ONLY.search(pattern):
                relaxed.append((relax(pattern), flag, str(index), "", "-"))
                self.checks[index] = self.pattern(index)
            else:
                exact.append((pattern, flag, str(index), "", "-"))
        self.exact = ua_parser_rs.DeviceExtractor(exact)
        self.relaxed = ua_parser_rs.DeviceExtractor(relaxed) if relaxed else None
        self.checked = sorted(self.checks)

    def name(self, ua: str) -> str | None:
        best = len(self.entries)
        if (hit := self.exact.extract(ua)) is not None:
            best = int(hit.family)
        if self.relaxed is not None and (hit := self.relaxed.extract(ua)) is not None:
            for index in self.checked:
                if int(hit.family) <= index < best and self.checks[index].search(ua):
                    best = index
                    break
        if best == len(self.entries):
            return None
        template = self.entries[best][1]
        if template and "\\g<" not in template and "$" not in template:
            return template
        m = self.pattern(best).search(ua)
        if m is None:
            return None
        return expand(template, m) if template else m.group().strip(" ;/()+") or None

    def pattern(self, index: int) -> regex.Pattern[str]:
        if index not in self.patterns:
            pattern, _, fold = self.entries[index]
            self.patterns[index] = regex.compile(pattern, regex.IGNORECASE if fold else 0)
        return self.patterns[index]


def expand(template: str, m: regex.Match[str]) -> str:
    name = re.sub(r"\\g<(\d+)>|\$(\d)", lambda g: m.group(int(g.group(1) or g.group(2))) or "", template)
    return name.strip() or template


def read_list(*parts: str) -> list[dict[str, Any]]:
    path = resources.files("device_detector").joinpath("regexes", "upstream", *parts)
    entries: list[dict[str, Any]] = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    return entries


_named: NamedPatterns | None = None
_lock = threading.Lock()


def named_patterns() -> NamedPatterns:
    global _named
    if _named is None:
        with _lock:
            if _named is None:
                entries = [
                    (BOUNDED.format(e["regex"]), str(e["name"]), True)
                    for e in read_list("bots.yml") + read_list("client", "libraries.yml")
                    if e["name"] not in HUMAN_LIBRARIES
                ]
                crawlers = resources.files("crawleruseragents").joinpath("crawler-user-agents.json")
                entries += [
                    (e["pattern"], "", False)
                    for e in json.loads(crawlers.read_text(encoding="utf-8"))
                    if e["pattern"] not in HUMAN_PATTERNS
                ]
                _named = NamedPatterns(entries)
    return _named


def bot_name(user_agent: str, generic: bool = True) -> str | None:
    """Name of the bot behind a User-Agent, or None for what looks like a person's browser.

    generic=False skips the unnamed net (words like "bot"), for agents already known to name a phone.
    """
    ua = user_agent.strip()
    if not ua or ua in ("-", "null", "undefined"):
        return "Empty user agent"
    if m := HEADLESS.search(ua):
        return m.group()
    if FEATURE_PHONE.search(ua):
        return None
    if name := named_patterns().name(ua):
        return name
    if generic and (m := GENERIC.search(ua)):
        return m.group()
    return None


def is_prefetch(headers: Mapping[str, str]) -> bool:
    """A speculative fetch (link prefetch, not a page anyone saw); headers keyed case-insensitively."""
    for key, value in headers.items():
        if key.lower() in PREFETCH_HEADERS and "prefetch" in value.lower() and "prerender" not in value.lower():
            return True
    return False
