"""Device detection (a first version on user-agents; the device issue replaces its internals)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import user_agents


@dataclass(frozen=True, slots=True)
class Device:
    device_type: str | None = None
    device_brand: str | None = None
    device_model: str | None = None
    device_code: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    browser_name: str | None = None
    browser_version: str | None = None
    is_bot: bool = False
    bot_name: str | None = None


_BOT = re.compile(r"bot|crawl|spider|slurp|headless|phantomjs|curl|wget|python-|go-http|java/|httpclient", re.I)


def _known(value: str | None) -> str | None:
    return None if value in (None, "", "Other", "Generic", "Generic Smartphone") else value


def _unquote(value: str | None) -> str | None:
    return value.strip().strip('"') or None if value else None


@lru_cache(maxsize=8192)
def _detect(user_agent: str, model_hint: str | None, platform_hint: str | None) -> Device:
    if not user_agent or _BOT.search(user_agent):
        bot = _BOT.search(user_agent)
        return Device(is_bot=True, bot_name=bot.group(0) if bot else "empty user agent")
    ua = user_agents.parse(user_agent)
    kind = "tablet" if ua.is_tablet else "mobile" if ua.is_mobile else "desktop" if ua.is_pc else "other"
    model = model_hint or _known(ua.device.model)
    return Device(
        device_type=kind,
        device_brand=_known(ua.device.brand),
        device_model=model,
        device_code=model,
        os_name=platform_hint or _known(ua.os.family),
        os_version=_known(ua.os.version_string),
        browser_name=_known(ua.browser.family),
        browser_version=_known(ua.browser.version_string),
    )


def detect(user_agent: str, hints: Mapping[str, str] | None = None) -> Device:
    lowered = {k.lower(): v for k, v in (hints or {}).items()}
    return _detect(user_agent, _unquote(lowered.get("sec-ch-ua-model")), _unquote(lowered.get("sec-ch-ua-platform")))


def hints_from_snippet(ch: Mapping[str, object]) -> dict[str, str]:
    """The snippet's getHighEntropyValues() result, as the Client Hints headers a browser would send."""
    names = {
        "model": "Sec-CH-UA-Model",
        "platform": "Sec-CH-UA-Platform",
        "platformVersion": "Sec-CH-UA-Platform-Version",
        "mobile": "Sec-CH-UA-Mobile",
    }
    out: dict[str, str] = {}
    for key, header in names.items():
        value = ch.get(key)
        if isinstance(value, bool):
            out[header] = "?1" if value else "?0"
        elif isinstance(value, str) and value:
            out[header] = value if value.startswith("?") else f'"{value}"'
    return out
