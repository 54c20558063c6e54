"""Device, OS, browser and bot detection from a User-Agent and its Client Hints.

Browser, OS and device code come from ua-parser (uap-core rules, Rust engine); brand, marketing
name and form factor from Matomo's device database (see hardware.py); bots from bots.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping

import ua_parser_rs
from ua_parser import Domain, PartialResult
from ua_parser.loaders import load_builtins
from ua_parser.regex import Resolver

from collector.devices import bots, clients
from collector.devices import hardware as device_names
from collector.devices.clients import full_versions
from collector.devices.lazy import Lazy
from collector.events import Device

DEVICE_TYPES = ("desktop", "mobile", "tablet", "tv", "console", "wearable", "car", "other")
MAX_UA_LENGTH = 512

# Matomo's device kinds folded into ours.
KINDS = {
    "desktop": "desktop",
    "smartphone": "mobile",
    "phablet": "mobile",
    "feature phone": "mobile",
    "portable media player": "mobile",
    "tablet": "tablet",
    "tv": "tv",
    "console": "console",
    "wearable": "wearable",
    "car browser": "car",
    "smart display": "other",
    "smart speaker": "other",
    "camera": "other",
    "peripheral": "other",
}
OS_NAMES = {
    "Mac OS X": "macOS",
    "Mac": "macOS",
    "Chrome OS": "ChromeOS",
    "Chromium OS": "ChromeOS",
    "Windows Phone": "Windows Phone",
    "Web0S": "webOS",
    "GNU/Linux": "Linux",
}
GENERIC_BRANDS = frozenset({"Generic", "Generic_Android", "Generic_Android_Tablet", "Generic_Inettv"})
GENERIC_MODELS = frozenset({"Smartphone", "Tablet", "Feature Phone", "Android", "K", "Other"})
DESKTOP_OS = frozenset({"Windows", "macOS", "Linux", "ChromeOS", "Ubuntu", "Fedora", "Debian", "FreeBSD", "OpenBSD"})
CHROMIUM_BROWSERS = frozenset({"Chrome", "Chrome Mobile", "Chrome Mobile WebView", "Chromium"})

# Form factors an agent states outright, in order of precedence: first matching rule wins.
STATED = ua_parser_rs.DeviceExtractor(
    [
        (
            r"SmartTV|SMART-TV|Smart TV|GoogleTV|Android TV|AndroidTV|HbbTV|NetCast|Web0S|WebOS.TV|Tizen.+TV|BRAVIA|"
            r"AppleTV|tvOS|Roku|CrKey|AFT[A-Z]|\bTV Safari|Viera|Opera TV|Large Screen",
            "i",
            "tv",
            "",
            "-",
        ),
        (r"PlayStation|Xbox|Nintendo|\bOUYA\b", "i", "console", "", "-"),
        (r"watchOS|Apple Watch|\bWatch\d|Wear ?OS|Galaxy Watch|\bGear S\d|Tizen.+Wearable", "i", "wearable", "", "-"),
        (r"QtCarBrowser|Tesla/|Android Automotive|\bCarPlay\b", "i", "car", "", "-"),
    ]
)
# Tokens of hand-held devices when no rule knows the device: tablets first.
HANDHELD = ua_parser_rs.DeviceExtractor(
    [
        (r"iPad|Tablet|\bTab\b|Kindle|Silk/|PlayBook|Nexus (?:7|9|10)\b", "i", "tablet", "", "-"),
        (r"Mobi|iPhone|iPod|Windows Phone|BlackBerry|BB10|Opera Mini|KaiOS|Symbian|J2ME|MIDP", "i", "mobile", "", "-"),
    ]
)
ANDROID_DEVICE = re.compile(r"(Android[^;)]*;(?: [\w-]+;)?) ?[^;)]*(\))")


resolver: Lazy[Resolver] = Lazy(lambda: Resolver(load_builtins()))


def warm() -> None:
    """Load every rule set now (about a second from the rules cache) rather than on the first requests;
    each brand's model rules load when an agent of that brand first needs them."""
    resolver()
    device_names.database()
    bots.lists()
    clients.clients()


def detect(user_agent: str, hints: Mapping[str, str] | None = None) -> Device:
    ua = (user_agent or "")[:MAX_UA_LENGTH]
    ch = normalize_hints(hints) if hints else {}
    if bots.is_prefetch(ch):
        return Device(is_bot=True, bot_name="Prefetch")
    parsed = resolver()(ua, Domain.ALL)
    os_name, os_version = operating_system(parsed, ch, ua)
    browser_name, browser_version = browser_of(parsed, ch)
    model_hint = ch.get("sec-ch-ua-model") or None
    hardware = device_names.lookup(with_model(ua, model_hint) if model_hint else ua)
    client = clients.identify(ua)
    browser_name, browser_version = clients.browser_name(browser_name, browser_version, client, ch)
    spider = (browser_name or "Spider") if parsed.device is not None and parsed.device.family == "Spider" else None
    if ua.strip() or not ch.get("sec-ch-ua"):  # an empty agent is a person's only if it sends Client Hints
        name = bots.bot_name(ua, generic=hardware is None or hardware.brand is None, spider=spider, client=client)
    else:
        name = None
    if name is not None:
        return Device(
            os_name=os_name,
            os_version=os_version,
            browser_name=browser_name,
            browser_version=browser_version,
            is_bot=True,
            bot_name=name,
        )
    brand, code = uap_device(parsed)
    if model_hint:
        code = model_hint
    model = kind = None
    if hardware is not None:
        brand = hardware.brand or brand
        model = hardware.model
        kind = KINDS.get(hardware.kind or "")
    device_type = form_factor(ua, kind, os_name, ch, known_model=model is not None)
    return Device(
        device_type=device_type,
        device_brand=brand,
        device_model=model,
        device_code=code,
        os_name=os_name,
        os_version=os_version,
        browser_name=browser_name,
        browser_version=browser_version,
    )


def form_factor(
    ua: str, kind: str | None, os_name: str | None, ch: Mapping[str, str], known_model: bool = False
) -> str | None:
    if (stated := STATED.extract(ua)) is not None:
        return str(stated.family)
    if kind is not None:
        # A brand's phones and tablets share one rule; without a known model, the Mobile token decides.
        if (
            kind == "mobile"
            and not known_model
            and os_name == "Android"
            and "mobile" not in ua.lower()
            and ch.get("sec-ch-ua-mobile") != "?1"
        ):
            return "tablet"
        return kind
    handheld = HANDHELD.extract(ua)
    if handheld is not None and handheld.family == "tablet":
        return "tablet"
    if ch.get("sec-ch-ua-mobile") == "?1" or handheld is not None:
        return "mobile"
    if os_name == "Android":
        return "tablet"
    if os_name in DESKTOP_OS or ch.get("sec-ch-ua-platform") in ("Windows", "macOS", "Linux", "Chrome OS"):
        return "desktop"
    return None


def operating_system(parsed: PartialResult, ch: Mapping[str, str], ua: str) -> tuple[str | None, str | None]:
    name = version = None
    if parsed.os is not None and parsed.os.family != "Other":
        name = OS_NAMES.get(parsed.os.family, parsed.os.family)
        version = dotted(parsed.os.major, parsed.os.minor, parsed.os.patch)
    if name in (None, "Linux") or name in clients.EDITIONS:
        # Matomo's list where uap-core finds no system, only the Linux kernel, or not the edition.
        found = clients.clients().system(ua, editions_of=name if name in clients.EDITIONS else None)
        if found is not None:
            name, version = OS_NAMES.get(found[0], found[0]), found[1]
    platform = ch.get("sec-ch-ua-platform")
    platform_version = ch.get("sec-ch-ua-platform-version")
    if platform:
        name = OS_NAMES.get(platform, "ChromeOS" if platform == "Chrome OS" else platform)
        if name == "Unknown":
            name = None
    if name == "Windows" and platform_version:
        major = platform_version.split(".")[0]
        if major.isdigit() and int(major) >= 13:
            return name, "11"
        if major.isdigit() and int(major) >= 1:
            return name, "10"
    elif platform and platform_version and name in ("Android", "macOS", "ChromeOS", "Linux"):
        version = trim_version(platform_version)
    return name, version


def browser_of(parsed: PartialResult, ch: Mapping[str, str]) -> tuple[str | None, str | None]:
    agent = parsed.user_agent
    if agent is None or agent.family == "Other":
        return None, None
    name = agent.family
    version = dotted(agent.major, agent.minor, agent.patch, agent.patch_minor)
    if name in CHROMIUM_BROWSERS and ch.get("x-requested-with"):
        name = "Chrome Mobile WebView"
    full = full_versions(ch.get("sec-ch-ua-full-version-list", ""))
    for brand in ("Google Chrome", "Chromium") if name in CHROMIUM_BROWSERS else ():
        if brand in full and agent.major and full[brand].split(".")[0] == agent.major:
            version = full[brand]
            break
    return name, version


def uap_device(parsed: PartialResult) -> tuple[str | None, str | None]:
    device = parsed.device
    if device is None or device.family == "Other":
        return None, None
    brand = None if device.brand in GENERIC_BRANDS else device.brand or None
    code = None if device.model in GENERIC_MODELS else device.model or None
    return brand, code


def with_model(ua: str, model: str) -> str:
    """Put the hinted model where a full Android UA has it, so the device rules can see it."""
    if "Android" not in ua:
        return f"{ua} ({model} Build/)"
    return ANDROID_DEVICE.sub(lambda m: f"{m.group(1)} {model} Build/{m.group(2)}", ua, count=1)


def dotted(*parts: str | None) -> str | None:
    present = []
    for part in parts:
        if not part:
            break
        present.append(part)
    return ".".join(present) or None


def trim_version(version: str) -> str:
    parts = version.split(".")
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    return ".".join(parts)


def unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def normalize_hints(hints: Mapping[str, str]) -> dict[str, str]:
    """Lower-case header names; single-string values unquoted; `?1`/`?0` kept; lists left as sent."""
    out = {}
    for key, value in hints.items():
        key = key.lower()
        value = str(value).strip()
        if key in ("sec-ch-ua", "sec-ch-ua-full-version-list"):
            out[key] = value
        elif key == "sec-ch-ua-mobile":
            out[key] = "?1" if value in ("?1", "1", "true", "True") else "?0"
        else:
            out[key] = unquote(value)
    return out


def hints_from_snippet(ch: Mapping[str, object]) -> dict[str, str]:
    """Turn navigator.userAgentData.getHighEntropyValues() output into Client Hint headers."""
    out: dict[str, str] = {}
    if isinstance(ch.get("model"), str) and ch["model"]:
        out["Sec-CH-UA-Model"] = quote(str(ch["model"]))
    if isinstance(ch.get("platform"), str) and ch["platform"]:
        out["Sec-CH-UA-Platform"] = quote(str(ch["platform"]))
    if isinstance(ch.get("platformVersion"), str) and ch["platformVersion"]:
        out["Sec-CH-UA-Platform-Version"] = quote(str(ch["platformVersion"]))
    if isinstance(ch.get("mobile"), bool):
        out["Sec-CH-UA-Mobile"] = "?1" if ch["mobile"] else "?0"
    versions = ch.get("fullVersionList")
    if isinstance(versions, list):
        items = [v for v in versions if isinstance(v, dict) and isinstance(v.get("brand"), str)]
        if items:
            out["Sec-CH-UA-Full-Version-List"] = ", ".join(
                f"{quote(str(v['brand']))};v={quote(str(v.get('version', '')))}" for v in items
            )
    return out


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# The request headers detection reads (Client Hints and the app's package name)...
HINT_HEADERS = (
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-model",
    "sec-ch-ua-platform",
    "sec-ch-ua-platform-version",
    "sec-ch-ua-full-version-list",
    "x-requested-with",
)
# ...and, with the prefetch headers, what a cached answer is keyed by.
HINT_KEYS = (*HINT_HEADERS, "purpose", "sec-purpose")


class Detector:
    """detect() behind a bounded LRU cache keyed by the UA and the hints that change the answer."""

    def __init__(self, cache_size: int = 10_000) -> None:
        self.cache_size = cache_size
        self.cache: OrderedDict[tuple[str, tuple[str, ...]], Device] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.lock = threading.Lock()

    def detect(self, user_agent: str, hints: Mapping[str, str] | None = None) -> Device:
        ch = normalize_hints(hints) if hints else {}
        key = (user_agent, tuple(ch.get(name, "") for name in HINT_KEYS) if ch else ())
        with self.lock:
            device = self.cache.get(key)
            if device is not None:
                self.cache.move_to_end(key)
                self.hits += 1
                return device
            self.misses += 1
        device = detect(user_agent, ch)
        with self.lock:
            self.cache[key] = device
            if len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return device

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
