"""Filter expressions (`device_model==Pixel 7`, `path~/blog`, `prop:plan!=free`): parsed, checked, turned into SQL.

An expression is FIELD OP VALUE with OP one of `==` (is), `!=` (is not) and `~` (contains, ignoring case).
FIELD is a name of FIELDS or `prop:KEY`, a custom property of the visit's events. Several filters keep
what every one of them keeps (AND).

Two kinds of field: attributes of an event (device, browser, screen, ...) keep the events that match;
visit fields keep whole visits. A visit field is either the visit's entry (its first event: entry_page,
referrer, utm_source), compared as one value, or something the visit did (path, event, prop:KEY):
`==` and `~` keep visits in which some event matches, `!=` the visits in which none does.

The SQL this module writes holds column expressions of the fixed FIELDS table only; every value
(and every property key) is referred to by name (`getvariable('scope_f0')` in the scope, which sets
each from a bound parameter). Nothing here touches a database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from collector.errors import ClientError

MAX_VALUE = 300
OPS = ("==", "!=", "~")
_EXPR = re.compile(r"^\s*(prop:[A-Za-z0-9_.\-]{1,64}|[a-z_]+)\s*(==|!=|~)(.*)$", re.DOTALL)
_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Field:
    """One filterable field: what it keeps, its SQL expression over an event row, and its kind."""

    what: str
    sql: str
    kind: str  # "event": the event's attribute; "entry": the visit's first event; "visit": any event of the visit


FIELDS: dict[str, Field] = {
    "device_type": Field("device type (desktop, smartphone, tablet, ...)", "device_type", "event"),
    "device_brand": Field("device brand", "device_brand", "event"),
    "device_model": Field("device model", "device_model", "event"),
    "os_name": Field("operating system", "os_name", "event"),
    "browser_name": Field("browser", "browser_name", "event"),
    "screen_class": Field("screen size class (phone, tablet, laptop, desktop)", "screen_class(screen_w)", "event"),
    "screen_size": Field("exact screen size (WIDTHxHEIGHT)", "screen_w || 'x' || screen_h", "event"),
    "language": Field("browser language", "language", "event"),
    "timezone": Field("time zone", "timezone", "event"),
    "path": Field("a page the visit viewed", "CASE WHEN name = 'pageview' THEN path END", "visit"),
    "event": Field("a custom event of the visit", "CASE WHEN name != 'pageview' THEN name END", "visit"),
    "entry_page": Field("the path the visit began on", "path", "entry"),
    "referrer": Field(
        "the referring host of the visit ('(direct)': none)", "coalesce(referrer_host, '(direct)')", "entry"
    ),
    "utm_source": Field("the utm_source of the visit's first event", "utm_source", "entry"),
}
PROP_SQL = "json_extract_string(props, '$.' || {key})"
VARIABLE = "getvariable('scope_{name}')"
PROP_WHAT = "prop:KEY, a custom property of an event of the visit"


class FilterError(ClientError):
    """A filter expression that cannot be used; `field` is always `filter`."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "filter")


@dataclass(frozen=True, slots=True)
class Filter:
    field: str  # a name of FIELDS, or "prop:KEY"
    op: str
    value: str

    @property
    def key(self) -> str | None:
        """The property key of a `prop:KEY` filter."""
        return self.field[5:] if self.field.startswith("prop:") else None

    @property
    def kind(self) -> str:
        return "visit" if self.key is not None else FIELDS[self.field].kind

    def __str__(self) -> str:
        return f"{self.field}{self.op}{self.value}"


def parse(text: str) -> Filter:
    """One expression; FilterError says in one line what is wrong with it."""
    match = _EXPR.match(text)
    if not match:
        raise FilterError(f"filter {text!r} is not FIELD==VALUE, FIELD!=VALUE or FIELD~VALUE")
    field, op, value = match.groups()
    if not field.startswith("prop:") and field not in FIELDS:
        raise FilterError(f"unknown filter field {field!r}; fields: {', '.join(FIELDS)}, prop:KEY")
    return checked(Filter(field, op, value.strip()))


def checked(item: Filter) -> Filter:
    if not item.value or len(item.value) > MAX_VALUE or any(ord(c) < 32 or ord(c) == 127 for c in item.value):
        raise FilterError(f"filter {item.field} needs a value of 1 to {MAX_VALUE} printable characters")
    if item.key is not None and not _KEY.match(item.key):
        raise FilterError(f"filter {item.field}: a property key is 1 to 64 letters, digits, _ . or -")
    return item


def parse_all(expressions: Iterable[str], legacy: Mapping[str, str] | None = None) -> tuple[Filter, ...]:
    """Expressions plus `name=value` parameters (the older form of `name==value`), without repeats."""
    found = [parse(text) for text in expressions]
    found += [checked(Filter(name, "==", value)) for name, value in (legacy or {}).items()]
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class Predicates:
    """SQL for the scope (collector/stats/filtered.sql); each visit filter N has a flag pN on every event row."""

    events: str  # a condition on one event row (TRUE when no event filter)
    flags: str  # the select list of the flags: `expr AS p0, ...` (`NULL AS p` when no visit filter)
    row: str  # the visit filters applied to an event that is a visit of its own (no visitor)
    candidates: str  # a necessary condition, as an aggregate of the flags over a visitor's events
    visits: str  # the visit filters, as an aggregate of the flags over a visit's events
    values: dict[str, str]  # name -> value, for VARIABLE
    visit_filtered: bool


def _column(item: Filter, values: dict[str, str], n: int) -> str:
    if item.key is None:
        return FIELDS[item.field].sql
    values[f"fk{n}"] = item.key
    return PROP_SQL.format(key=VARIABLE.format(name=f"fk{n}"))


def _test(column: str, op: str, value: str) -> str:
    if op == "==":
        return f"coalesce({column} = {value}, false)"
    if op == "!=":
        return f"({column} IS DISTINCT FROM {value})"
    return f"coalesce(contains(lower({column}), lower({value})), false)"


def predicates(filters: Iterable[Filter]) -> Predicates:
    """The SQL conditions of a set of filters; value N is the variable fN, a property key the variable fkN.

    An entry filter's flag is its test on the row, and a visit keeps the flag of its first event; a filter
    on what a visit did flags the rows that match `==` or `~` (for `!=`: `==`), and a visit keeps
    whether any row (for `!=`: no row) is flagged.
    """
    values: dict[str, str] = {}
    events: list[str] = []
    flags: list[str] = []
    row: list[str] = []
    candidates: list[str] = []
    visits: list[str] = []
    for n, item in enumerate(filters):
        values[f"f{n}"] = item.value
        column, value = _column(item, values, n), VARIABLE.format(name=f"f{n}")
        if item.kind == "event":
            events.append(_test(column, item.op, value))
            continue
        negated = item.kind == "visit" and item.op == "!="
        test = _test(column, "==" if negated else item.op, value)
        flags.append(f"{test} AS p{n}")
        row.append(f"NOT {test}" if negated else test)
        if item.kind == "entry":
            visits.append(f"arg_min_null(p{n}, ts)")
        else:
            visits.append(f"NOT bool_or(p{n})" if negated else f"bool_or(p{n})")
        if not negated and item.op != "!=":
            candidates.append(f"bool_or(p{n})")
    return Predicates(
        events=" AND ".join(events) or "true",
        flags=", ".join(flags) or "NULL AS p",
        row=" AND ".join(row) or "true",
        candidates=" AND ".join(candidates) or "true",
        visits=" AND ".join(visits) or "true",
        values=values,
        visit_filtered=bool(visits),
    )
