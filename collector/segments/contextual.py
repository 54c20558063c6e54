"""Contextual segments: rules over one request's own context, evaluated on the spot, with no stored id.

The context is what a page request carries anyway (User-Agent, Client Hints, Accept-Language, referrer,
URL with its campaign parameters, and the time zone the snippet reports). Nothing of it is stored.
Rules live in queries/segments/contextual.toml: every key given must match (values of one key: any).
"""

from __future__ import annotations

import contextlib
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collector.devices.detect import HINT_HEADERS, detect
from collector.events import Device
from collector.ingest.pipeline.urls import BadURL, referrer_host, split_page_url

Detect = Callable[[str, Mapping[str, str]], Device]
LIST_KEYS = ("device_type", "os", "browser", "language", "timezone", "referrer", "utm_source", "utm_medium", "path")
FLAG_KEYS = ("campaign", "referred")


class RuleError(Exception):
    """The contextual rules file is malformed; the message says where."""


@dataclass(frozen=True, slots=True)
class Context:
    device_type: str | None = None
    os: str | None = None
    browser: str | None = None
    language: str | None = None
    timezone: str | None = None
    referrer: str | None = None
    path: str | None = None
    utm: Mapping[str, str] = field(default_factory=dict)
    gpc: bool = False
    bot: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    description: str
    conditions: tuple[tuple[str, tuple[str, ...]], ...]
    flags: tuple[tuple[str, bool], ...] = ()

    def matches(self, ctx: Context) -> bool:
        return all(_match(key, values, ctx) for key, values in self.conditions) and all(
            _flag(key, ctx) == wanted for key, wanted in self.flags
        )


def _match(key: str, values: tuple[str, ...], ctx: Context) -> bool:
    if key == "timezone":
        return ctx.timezone is not None and any(ctx.timezone.lower().startswith(v) for v in values)
    if key == "path":
        return ctx.path is not None and any(ctx.path.lower().startswith(v) for v in values)
    if key == "referrer":
        return ctx.referrer is not None and any(_same_site(ctx.referrer, v) for v in values)
    if key in ("utm_source", "utm_medium"):
        value = ctx.utm.get(key)
        return value is not None and value.lower() in values
    value = getattr(ctx, key)
    return value is not None and value.lower() in values


def _same_site(host: str, pattern: str) -> bool:
    """'google' matches any host with a google label (google.com.vn); 't.co' matches t.co and *.t.co."""
    if "." in pattern:
        return host == pattern or host.endswith("." + pattern)
    return pattern in host.split(".")


def _flag(key: str, ctx: Context) -> bool:
    return bool(ctx.utm.get("utm_source")) if key == "campaign" else ctx.referrer is not None


def parse_rules(text: str, where: str = "contextual.toml") -> list[Rule]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{where} is not valid TOML: {exc}") from None
    rules = []
    for name, table in data.items():
        if not isinstance(table, dict) or not name.replace("_", "").isalnum() or name != name.lower():
            raise RuleError(f"{where}: [{name}] must be a table named in lower case")
        description = str(table.get("description", ""))
        conditions: list[tuple[str, tuple[str, ...]]] = []
        flags: list[tuple[str, bool]] = []
        for key, value in table.items():
            if key == "description":
                continue
            if key in FLAG_KEYS and isinstance(value, bool):
                flags.append((key, value))
            elif key in LIST_KEYS and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                conditions.append((key, tuple(v.lower() for v in value)))
            else:
                allowed = ", ".join(LIST_KEYS + FLAG_KEYS)
                raise RuleError(f"{where}: [{name}] {key} must be a list of strings or a flag; keys: {allowed}")
        if not conditions and not flags:
            raise RuleError(f"{where}: [{name}] has no condition")
        rules.append(Rule(name, description, tuple(conditions), tuple(flags)))
    return rules


def load_rules(path: Path) -> list[Rule]:
    return parse_rules(path.read_text(encoding="utf-8"), str(path))


def preferred_language(accept_language: str | None) -> str | None:
    """The primary subtag of the most preferred language in an Accept-Language header ('vi-VN,vi;q=0.9' -> 'vi')."""
    best: tuple[float, str] | None = None
    for part in (accept_language or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().split("-")[0].lower()
        if not tag.isalpha() or len(tag) > 8:
            continue
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if q > 0 and (best is None or q > best[0]):
            best = (q, tag)
    return best[1] if best else None


def build_context(
    headers: Mapping[str, str],
    url: str | None = None,
    referrer: str | None = None,
    timezone: str | None = None,
    language: str | None = None,
    detector: Detect = detect,
) -> Context:
    """The context of one visitor request, from its forwarded headers (lower-case names) and page fields."""
    gpc = headers.get("sec-gpc") == "1" or headers.get("dnt") == "1"
    user_agent = headers.get("user-agent")
    # No User-Agent forwarded means no device rule can match; it does not make the visitor a bot.
    device = detector(user_agent, {h: v for h in HINT_HEADERS if (v := headers.get(h))}) if user_agent else Device()
    host: str | None = None
    path: str | None = None
    utm: Mapping[str, str] = {}
    if url:
        with contextlib.suppress(BadURL):
            host, path, utm = split_page_url(url)
    return Context(
        device_type=device.device_type,
        os=device.os_name,
        browser=device.browser_name,
        language=preferred_language(language or headers.get("accept-language")),
        timezone=timezone,
        referrer=referrer_host(referrer or headers.get("referer"), host),
        path=path,
        utm=utm,
        gpc=gpc,
        bot=device.is_bot,
    )


def evaluate(rules: list[Rule], ctx: Context) -> list[str]:
    """The names of the contextual segments this context is in; none for a GPC/DNT request or a bot."""
    if ctx.gpc or ctx.bot:
        return []
    return [rule.name for rule in rules if rule.matches(ctx)]


def describe(rules: list[Rule]) -> list[dict[str, Any]]:
    return [{"name": r.name, "description": r.description} for r in rules]
