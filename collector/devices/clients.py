"""The client software an agent names (app, feed reader, media player, mail client, browser, library), its OS.

Matomo DeviceDetector's client lists, read from the installed `device-detector` package and tried in
the order DeviceDetector tries them, so an app that embeds an HTTP library is named as the app.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from collector.devices.lazy import Lazy
from collector.devices.rules import read
from collector.devices.scan import NamedPatterns

CLIENT_FILES = (
    ("feed_readers.yml", "feed reader"),
    ("mobile_apps.yml", "app"),
    ("mediaplayers.yml", "media player"),
    ("pim.yml", "pim"),
    ("browsers.yml", "browser"),
    ("libraries.yml", "library"),
)
# Systems Matomo tells apart that uap-core reports as the one they derive from.
EDITIONS = {
    "Android": ("HarmonyOS", "Fire OS", "Android TV", "Wear OS"),
    "iOS": ("iPadOS", "watchOS", "tvOS"),
    "Windows": ("Windows CE", "Windows RT", "Windows Mobile", "Windows IoT"),
}
# Software a person runs; found in an agent, it outweighs a library or a crawler word beside it.
PEOPLE_KINDS = frozenset({"feed reader", "app", "media player", "pim", "browser"})


# uap-core families that name an engine or a web view rather than the browser a person chose ...
UAP_ENGINES = frozenset(
    {
        "Chrome",
        "Chrome Mobile",
        "Chrome Mobile WebView",
        "Chromium",
        "Safari",
        "Mobile Safari",
        "Mobile Safari UI/WKWebView",
        "Android",
        "HbbTV",
        "WebKit Nightly",
        "Opera",
    }
)
# ... and Matomo's names for the same engines, which add nothing to uap-core's.
ENGINE_BROWSERS = frozenset(
    {"Chrome", "Chrome Mobile", "Chrome Webview", "Chromium", "Safari", "Mobile Safari", "Android Browser"}
)

# Matomo's names for a mobile or web-view engine, in uap-core's words, for agents uap-core takes for desktop ones.
MOBILE_ENGINES = {
    "Chrome Mobile": "Chrome Mobile",
    "Chrome Webview": "Chrome Mobile WebView",
    "Mobile Safari": "Mobile Safari",
    "Android Browser": "Android",
}

BRAND_VERSION = re.compile(r'"((?:[^"\\]|\\.)*)"\s*;\s*v\s*=\s*"([^"]*)"')


def full_versions(header: str) -> dict[str, str]:
    return {brand: version for brand, version in BRAND_VERSION.findall(header)}


@dataclass(frozen=True, slots=True)
class Client:
    kind: str
    name: str
    version: str | None


class Clients:
    def __init__(self) -> None:
        entries: list[tuple[str, str, bool]] = []
        self.kinds: list[str] = []
        self.versions: list[str] = []
        for name, kind in CLIENT_FILES:
            for e in read("client", name):
                entries.append((str(e["regex"]), str(e["name"]), True))
                self.kinds.append(kind)
                self.versions.append(str(e.get("version") or ""))
        self.patterns = NamedPatterns(entries, guarded=True)
        systems = read("oss.yml")
        self.systems = Systems(systems)
        self.editions = {base: Systems([e for e in systems if e["name"] in names]) for base, names in EDITIONS.items()}
        self.hinted_apps: dict[str, str] = {
            **read("client", "hints", "apps.yml"),
            **read("client", "hints", "browsers.yml"),
        }
        self.hinted_browsers = frozenset(read("client", "hints", "browsers.yml"))

    def identify(self, ua: str) -> Client | None:
        index = self.patterns.first(ua)
        if index is None:
            return None
        name = self.patterns.render(index, self.patterns.entries[index][1], ua)
        if not name:
            return None
        version = self.patterns.render(index, self.versions[index], ua) if self.versions[index] else None
        return Client(self.kinds[index], name, version or None)

    def system(self, ua: str, editions_of: str | None = None) -> tuple[str, str | None] | None:
        """The operating system Matomo's list finds in the agent and its version; or only editions of one system."""
        return (self.editions[editions_of] if editions_of else self.systems).find(ua)

    def from_requested_with(self, package: str) -> Client | None:
        """The app or browser behind an Android web view's `X-Requested-With` package name."""
        name = self.hinted_apps.get(package)
        if name is None:
            return None
        return Client("browser" if package in self.hinted_browsers else "app", name, None)


class Systems:
    def __init__(self, entries: list[dict[str, str]]) -> None:
        self.patterns = NamedPatterns([(str(e["regex"]), str(e["name"]), True) for e in entries], guarded=True)
        self.versions = [str(e.get("version") or "") for e in entries]

    def find(self, ua: str) -> tuple[str, str | None] | None:
        index = self.patterns.first(ua)
        if index is None or not (name := self.patterns.render(index, self.patterns.entries[index][1], ua)):
            return None
        version = self.patterns.render(index, self.versions[index], ua) if self.versions[index] else None
        return name, (version or "").replace("_", ".").strip(".") or None


clients: Lazy[Clients] = Lazy(Clients)


def browser_name(
    name: str | None, version: str | None, client: Client | None, ch: Mapping[str, str]
) -> tuple[str | None, str | None]:
    """Matomo's name for the browser where uap-core only knows the engine or the web view it runs in, and
    the app's name ("Instagram") for a web view whose `X-Requested-With` names an app Matomo knows."""
    if package := ch.get("x-requested-with"):
        # An Android web view names the app or browser it runs in; an app's version is the agent's, if it says.
        hinted = clients().from_requested_with(package)
        if hinted is not None and hinted.kind == "browser":
            return hinted.name, version
        if hinted is not None:
            return hinted.name, client.version if client is not None and client.name == hinted.name else None
    if (name is None or name in UAP_ENGINES) and (brand := hinted_brand(ch)):
        return brand
    if client is None or client.kind != "browser":
        return name, version
    if name in ("Chrome", "Safari") and client.name in MOBILE_ENGINES:
        return MOBILE_ENGINES[client.name], version
    # Take Matomo's name where uap-core has none, names no browser (HbbTV), names only the engine, or
    # names the product of which Matomo knows the variant ("UC Browser" -> "UC Browser Turbo").
    if (
        name in (None, "HbbTV")
        or (name in UAP_ENGINES and client.name not in ENGINE_BROWSERS)
        or (variant(client.name, name) and name not in UAP_ENGINES)
    ):
        return client.name, (client.version or "").strip(".") or None
    return name, version


def hinted_brand(ch: Mapping[str, str]) -> tuple[str, str | None] | None:
    """The browser a Chromium-based agent names in its Client Hints brand list, beside Chromium itself."""
    brands = full_versions(ch.get("sec-ch-ua-full-version-list") or ch.get("sec-ch-ua") or "")
    for brand, version in brands.items():
        if brand in ("Chromium", "Google Chrome", "Android WebView") or "Brand" in brand:
            continue
        known = identify(f"{brand.replace(' ', '')}/{version}")
        return (known.name, known.version) if known is not None and known.kind == "browser" else (brand, version)
    return None


def variant(matomo: str, uap: str) -> bool:
    """Matomo names an edition of the product uap-core names ("Yandex Browser Lite"), not just spells it longer."""
    return matomo.startswith(f"{uap} ") and "Browser" not in matomo[len(uap) :]


def identify(user_agent: str) -> Client | None:
    return clients().identify(user_agent)
