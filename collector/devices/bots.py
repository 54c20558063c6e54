"""Bot detection: crawlers, monitors, HTTP libraries, headless browsers, empty agents, prefetches.

Named crawlers and libraries come from Matomo's DeviceDetector lists (read from the installed
`device-detector` package) and the `crawler-user-agents` patterns, compiled into ua-parser's Rust
extractor; a short generic net after them catches the unnamed rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib import resources

import regex

from collector.devices import clients
from collector.devices.clients import PEOPLE_KINDS, Client
from collector.devices.lazy import Lazy
from collector.devices.rules import BOUNDED, read
from collector.devices.scan import NamedPatterns

# Libraries a person's own browser or app sends; not automation.
HUMAN_LIBRARIES = frozenset({"Safari View Service", "Apple Core Media", "KaiOS Downloader", "Emacs", "uTorrent"})
# WhatsApp's link-preview fetcher: the bare app token, where its in-app browser sends a full agent.
LINK_PREVIEW = re.compile(r"^(WhatsApp)/[\d.]+(?: ?[A-Za-z]|/i)?$")
APP_KINDS = PEOPLE_KINDS - {"browser"}
# Apps of a company whose crawler shares their name (Matomo's Daum rule already spares DaumApps).
HUMAN_APPS = re.compile(r"DaumMobileApp|Daum(?:Mail|Cafe)/")
# The Android device-model slot ("Android 10; Fever_Plus Build/..."), blanked before crawler names are
# looked for: a phone may be called like a crawler.
MODEL_SLOT = re.compile(r"(Android [^;)]*; (?:U; )?(?:[a-z]{2}[-_][A-Za-z]{2}; )?)[^;)]+")
UNKNOWN = object()
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
        "NewsBlur",  # also the name of its apps; Matomo's bot list names its fetchers
        "BTWebClient",  # the uTorrent client
    }
)
# J2ME feature phones announce their Java runtime.
FEATURE_PHONE = re.compile(r"MIDP|CLDC|SEMC-Java", re.IGNORECASE)

HEADLESS = re.compile(r"HeadlessChrome|PhantomJS|SlimerJS|Chrome-Lighthouse|Puppeteer|Playwright|Selenium|jsdom")
CRAWLER_WORDS = re.compile(
    r"(?<![a-z])(?:[a-z0-9_-]*(?<!cu)bot|\w*crawl\w*|\w*spider|slurp|scrap\w*|fetcher|monitor\w*|checker|validator|"
    r"https?://)(?![a-z])|\w*user[ _-]?agent\w*",
    re.IGNORECASE,
)
LIBRARY_WORDS = re.compile(
    r"(?<![a-z])(?:http-?client|curl|wget|python|java/|go-http|okhttp|libwww|perl|php/|node-fetch|axios)(?![a-z])",
    re.IGNORECASE,
)
CATCH_ALL_START = "[a-z0-9_-]*(?:(?<!cu|Hu|power[ _]|m[ _])bot"
PREFETCH_HEADERS = ("purpose", "sec-purpose", "x-purpose", "x-moz")


def generic(entry: dict[str, str]) -> bool:
    return entry["regex"].startswith(CATCH_ALL_START)


class Lists:
    def __init__(self) -> None:
        entries = read("bots.yml")
        self.listed = NamedPatterns(
            [(str(e["regex"]), str(e["name"]), True) for e in entries if not generic(e)], guarded=True
        )
        # Matomo's last, generic rule: words like "bot" or "check" that some phone names share.
        self.catch_all = regex.compile("|".join(BOUNDED.format(e["regex"]) for e in entries if generic(e)), regex.I)
        crawlers = resources.files("crawleruseragents").joinpath("crawler-user-agents.json")
        self.crawlers = NamedPatterns(
            [
                (e["pattern"], "", False)
                for e in json.loads(crawlers.read_text(encoding="utf-8"))
                if e["pattern"] not in HUMAN_PATTERNS
            ]
        )


lists: Lazy[Lists] = Lazy(Lists)


def bot_name(
    user_agent: str, generic: bool = True, spider: str | None = None, client: Client | object | None = UNKNOWN
) -> str | None:
    """Name of the bot behind a User-Agent, or None for what looks like a person's browser or app.

    generic=False skips the unnamed net (words like "bot"), for agents already known to name a phone;
    `spider` is another parser's verdict that the agent is a crawler; `client` what clients.identify()
    said, when the caller already knows it.
    """
    ua = user_agent.strip()
    if not ua or ua in ("-", "null", "undefined"):
        return "Empty user agent"
    if m := HEADLESS.search(ua):
        return m.group()
    if FEATURE_PHONE.search(ua):
        return spider
    if HUMAN_APPS.search(ua):
        return None
    found = lists()
    if name := found.listed.name(ua):
        return name
    if m := LINK_PREVIEW.search(ua):
        return m.group(1)
    known = clients.identify(ua) if client is UNKNOWN else client
    if name := found.crawlers.name(MODEL_SLOT.sub(r"\1", ua) if "ndroid" in ua else ua):
        return known.name if isinstance(known, Client) and known.kind == "library" else name
    kind = known.kind if isinstance(known, Client) and known.name not in HUMAN_LIBRARIES else None
    # After the lists of bots: a person's app, then a browser, outweigh a parser's bare-word "spider"
    # verdict, a library, or crawler words (unless those words stand as a word of their own).
    if kind in APP_KINDS:
        return None
    if kind == "browser":
        words = CRAWLER_WORDS.search(ua) if generic or spider else None
        return words.group() if words else None
    if spider:
        return spider
    if kind == "library" and isinstance(known, Client):
        return known.name
    if not generic:
        return None
    if words := CRAWLER_WORDS.search(ua) or LIBRARY_WORDS.search(ua):
        return words.group()
    if rest := found.catch_all.search(ua):
        return rest.group().strip(" _-;/()") or "Generic Bot"
    return None


def is_prefetch(headers: Mapping[str, str]) -> bool:
    """A speculative fetch (link prefetch, not a page anyone saw); headers keyed case-insensitively."""
    for key, value in headers.items():
        if key.lower() in PREFETCH_HEADERS and "prefetch" in value.lower() and "prerender" not in value.lower():
            return True
    return False
