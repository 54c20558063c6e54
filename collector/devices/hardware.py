"""Hardware lookup: brand, marketing name and form factor from a User-Agent.

The data is Matomo's DeviceDetector device database, read from the installed `device-detector`
package. Its Python engine tries thousands of regexes one by one (milliseconds a parse); here one
Hyperscan database over every brand rule finds the candidates (scan.FirstMatch), then one per brand
over that brand's models, loaded the first time an agent of the brand is seen: from the rules cache
in about a millisecond, or compiled once (up to about half a second, for Samsung's 743 models).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import regex

from collector.devices.lazy import Lazy
from collector.devices.rules import GROUP_REF, read
from collector.devices.scan import FirstMatch, cache_ahead

# Rules are tried in this order; televisions only apply to HbbTV agents.
DEVICE_FILES = ("consoles.yml", "car_browsers.yml", "cameras.yml", "portable_media_player.yml", "mobiles.yml")
TV_FILE = "televisions.yml"
# Brands whose model rules stay loaded (about 150 KB each): traffic is Zipf-like, a brand reloads in about 1 ms.
MODEL_BRANDS = 64


@dataclass(frozen=True, slots=True)
class Hardware:
    brand: str | None
    model: str | None
    kind: str | None  # the database's device type: smartphone, tablet, tv, console, wearable, ...


@dataclass(frozen=True, slots=True)
class Rule:
    regex: str
    brand: str
    model: str
    kind: str | None
    models: tuple[Rule, ...] = ()


class RuleSet:
    """First-match-wins over an ordered list of rules, as the database means it (scan.FirstMatch)."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        self.matcher = FirstMatch([(rule.regex, True) for rule in rules], guarded=True)

    def match(self, ua: str) -> tuple[Rule, str] | None:
        index = self.matcher.first(ua)
        if index is None:
            return None
        rule = self.rules[index]
        if not GROUP_REF.search(rule.model):
            return rule, clean_model(rule.model)
        found = self.matcher.pattern(index).search(ua)
        return rule, clean_model(expand(rule.model, found)) if found else ""


def expand(model: str, m: regex.Match[str]) -> str:
    return GROUP_REF.sub(lambda g: m.group(int(g.group(1) or g.group(2))) or "", model)


def clean_model(value: str) -> str:
    value = value.replace("_", " ").strip(" .")
    if value in ("-", "Build"):
        return ""
    for suffix in (" TD", " Build"):
        value = value.removesuffix(suffix)
    return value[:-1] if value.endswith("))") else value


def read_rules(name: str, default_kind: str | None = None) -> tuple[Rule, ...]:
    data: dict[str, Any] = read("device", name)
    rules = []
    for brand, entry in data.items():
        kind = entry.get("device") or default_kind
        models = tuple(
            Rule(str(m["regex"]), str(m.get("brand") or brand), str(m.get("model") or ""), m.get("device") or kind)
            for m in entry.get("models") or ()
        )
        rules.append(Rule(str(entry["regex"]), str(brand), str(entry.get("model") or ""), kind, models))
    return tuple(rules)


class Database:
    """Brand rules, loaded at once; each brand's model rules, loaded the first time an agent of it is seen."""

    def __init__(self) -> None:
        rules: list[Rule] = []
        for name in DEVICE_FILES:
            rules.extend(read_rules(name))
        self.brands = RuleSet(tuple(rules))
        self.tv_brands = RuleSet(read_rules(TV_FILE, "tv"))
        self.models: OrderedDict[int, RuleSet] = OrderedDict()
        self.lock = threading.Lock()
        self.cached = 0  # brands whose model rules cache_next has seen to

    def lookup(self, ua: str) -> Hardware | None:
        found = self.tv_brands.match(ua) if "hbbtv" in ua.lower() else None
        found = found or self.brands.match(ua)
        if found is None:
            return None
        rule, model = found
        kind = rule.kind
        if rule.models and (hit := self.model_rules(rule).match(ua)) is not None:
            rule, model = hit
            kind = rule.kind or kind
        return Hardware(rule.brand if rule.brand != "Unknown" else None, model or None, kind)

    def model_rules(self, rule: Rule) -> RuleSet:
        """The brand's model rules: the most recently used MODEL_BRANDS brands are kept, the others reload."""
        with self.lock:
            rules = self.models.get(id(rule))
            if rules is not None:
                self.models.move_to_end(id(rule))
                return rules
        built = RuleSet(rule.models)  # outside the lock: a request never waits for another brand's load
        with self.lock:
            rules = self.models.setdefault(id(rule), built)
            while len(self.models) > MODEL_BRANDS:
                self.models.popitem(last=False)
        return rules

    def cache_next(self) -> bool:
        """Compile the next brand's model rules into the rules cache if they are not there; False once all are.

        The zygote does this between forks, so that a journal process loads a brand it has not seen yet in
        about a millisecond even on a machine's first start, without any process holding every brand."""
        pending = [r for rules in (self.brands, self.tv_brands) for r in rules.rules if r.models]
        for rule in pending[self.cached : self.cached + 32]:  # a few ms when they are all there already
            self.cached += 1
            if cache_ahead([(m.regex, True) for m in rule.models], guarded=True):
                return True
        return self.cached < len(pending)


# The rules, loaded once; call at startup so the first request does not pay for it.
database: Lazy[Database] = Lazy(Database)


def complete() -> bool:
    """The brand rules are loaded (each brand's model rules load in milliseconds when first needed)."""
    return database.loaded is not None


def lookup(user_agent: str) -> Hardware | None:
    return database().lookup(user_agent)
