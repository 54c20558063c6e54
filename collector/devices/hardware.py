"""Hardware lookup: brand, marketing name and form factor from a User-Agent.

The data is Matomo's DeviceDetector device database, read from the installed `device-detector`
package. Its Python engine tries thousands of regexes one by one (milliseconds a parse), so we
compile the same rules into ua-parser's Rust extractor instead: one extractor over every brand
rule, then one per brand over that brand's models, built the first time the brand is seen, or before:
a background thread builds them all after start-up (about 4 s of CPU, biggest brands first), so that
the first visitors of each brand do not pay 1 to 10 ms for its compilation.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import regex
import ua_parser_rs

from collector.devices.lazy import Lazy
from collector.devices.rules import BOUNDED, GROUP_REF, PYTHON_ONLY, read, relax, split_branches
from collector.heap import freeze_long_lived

# Rules are tried in this order; televisions only apply to HbbTV agents.
DEVICE_FILES = ("consoles.yml", "car_browsers.yml", "cameras.yml", "portable_media_player.yml", "mobiles.yml")
TV_FILE = "televisions.yml"

ASCII = {r"\d": "0-9", r"\w": "A-Za-z0-9_", r"\s": " \\t"}


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
    """First-match-wins over an ordered list of rules, as the database means it.

    Each rule is split into its top-level branches so the Rust prefilter can skip most of them. Branches
    with look-around (which Rust lacks) go to a second extractor without it, a superset that is then
    confirmed with the exact pattern.
    """

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        self.compiled: dict[int, regex.Pattern[str]] = {}
        self.checks: dict[int, list[regex.Pattern[str]]] = {}
        exact: list[tuple[str, Literal["i"] | None, str | None, str | None, str | None]] = []
        relaxed: list[tuple[str, Literal["i"] | None, str | None, str | None, str | None]] = []
        for index, rule in enumerate(rules):
            for branch in split_branches(rule.regex):
                if PYTHON_ONLY.search(branch):
                    relaxed.append((BOUNDED.format(ascii_classes(relax(branch))), "i", str(index), "", "-"))
                    check = regex.compile(BOUNDED.format(branch), regex.IGNORECASE)
                    self.checks.setdefault(index, []).append(check)
                else:
                    exact.append((BOUNDED.format(ascii_classes(branch)), "i", str(index), "", "-"))
        self.exact = ua_parser_rs.DeviceExtractor(exact) if exact else None
        self.relaxed = ua_parser_rs.DeviceExtractor(relaxed) if relaxed else None
        self.checked = sorted(self.checks)

    def match(self, ua: str) -> tuple[Rule, str] | None:
        best = len(self.rules)
        if self.exact is not None and (hit := self.exact.extract(ua)) is not None:
            best = int(hit.family)
        if self.relaxed is not None and (hit := self.relaxed.extract(ua)) is not None:
            candidate = int(hit.family)
            if candidate < best:
                if self.confirm(candidate, ua):
                    best = candidate
                else:
                    for index in self.checked:
                        if candidate < index < best and self.confirm(index, ua):
                            best = index
                            break
        if best == len(self.rules):
            return None
        rule = self.rules[best]
        if not GROUP_REF.search(rule.model):
            return rule, clean_model(rule.model)
        found = self.pattern(best).search(ua)
        return rule, clean_model(expand(rule.model, found)) if found else ""

    def confirm(self, index: int, ua: str) -> bool:
        return any(check.search(ua) for check in self.checks[index])

    def pattern(self, index: int) -> regex.Pattern[str]:
        compiled = self.compiled.get(index)
        if compiled is None:
            compiled = regex.compile(BOUNDED.format(self.rules[index].regex), regex.IGNORECASE)
            self.compiled[index] = compiled
        return compiled


def ascii_classes(pattern: str) -> str:
    """`\\d`, `\\w`, `\\s` as ASCII classes: agents are ASCII and Unicode classes make Rust's automata large."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            inner = ASCII.get(pair)
            out.append(pair if inner is None else inner if in_class else f"[{inner}]")
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                out.append("[^")
                i += 2
                continue
        out.append(char)
        i += 1
    return "".join(out)


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
    def __init__(self) -> None:
        rules: list[Rule] = []
        for name in DEVICE_FILES:
            rules.extend(read_rules(name))
        self.brands = RuleSet(tuple(rules))
        self.tv_brands = RuleSet(read_rules(TV_FILE, "tv"))
        self.models: dict[int, RuleSet] = {}
        self.lock = threading.Lock()
        self.complete = False  # every brand's model rules built

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
        rules = self.models.get(id(rule))
        if rules is None:
            built = RuleSet(rule.models)  # outside the lock: a request never waits for another brand's build
            with self.lock:
                rules = self.models.setdefault(id(rule), built)
        return rules

    def build_next(self) -> bool:
        """Build the biggest brand's model rules not built yet; False, and complete, once there are none."""
        pending = [r for rules in (self.brands, self.tv_brands) for r in rules.rules if r.models]
        unbuilt = [r for r in pending if id(r) not in self.models]
        if not unbuilt:
            self.complete = True
            return False
        self.model_rules(max(unbuilt, key=lambda r: len(r.models)))
        return True

    def build_all(self, pause: float = 0.001) -> None:
        """Build every brand's model rules, biggest first, pausing between brands to let requests run."""
        while self.build_next():
            time.sleep(pause)
        freeze_long_lived(collect=False)  # no full collection while requests are being served


# The rules, loaded once; call at startup so the first request does not pay for it.
database: Lazy[Database] = Lazy(Database)


def _start_builder() -> threading.Thread:
    thread = threading.Thread(target=database().build_all, name="collector-device-rules", daemon=True)
    thread.start()
    return thread


# The thread that builds every brand's model rules, started once per process.
builder: Lazy[threading.Thread] = Lazy(_start_builder)


def build_in_background() -> None:
    """Start (once per process) the thread that builds every brand's model rules."""
    builder()


def complete() -> bool:
    return database.loaded is not None and database.loaded.complete


def lookup(user_agent: str) -> Hardware | None:
    return database().lookup(user_agent)
