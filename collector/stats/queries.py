"""Named queries: one `queries/NAME.sql` file each, a header that declares them, values always bound.

Header (the leading `--` lines of the file):

    -- name: pages
    -- description: Page views and visitors per path
    -- param: site VARCHAR
    -- param: limit INTEGER 100

`site`, `from` and `to` are the standard period parameters (`to` defaults to today in UTC, `from` to 29
days before `to`); `$k` is the site's k-anonymity setting, bound by us and never by the caller. A query
that reads the rollups also takes filter expressions (collector/stats/filters.py: `device_brand==Samsung`,
`path~/blog`, `prop:plan!=free`), and `NAME=VALUE` for a field it has no parameter of, as `NAME==VALUE`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb

from collector.admin.ops import OpError
from collector.errors import ClientError
from collector.resources import resource_dir
from collector.settings import Settings
from collector.stats import breakdowns, goals
from collector.stats import filtered as scopes
from collector.stats import filters as filtering

TYPES = ("VARCHAR", "INTEGER", "DOUBLE", "BOOLEAN", "DATE")
STANDARD = ("site", "from", "to")
INJECTED = ("k",)
DEFAULT_DAYS = 30
MAX_DAYS = 3660
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PARAM = re.compile(r"^([a-z][a-z0-9_]*)\s+(VARCHAR|INTEGER|DOUBLE|BOOLEAN|DATE|ENUM\(([a-z0-9_,]+)\))(?:\s+(\S.*))?$")
_USED = re.compile(r"\$([a-z_][a-z0-9_]*)")
_STRINGS = re.compile(r"'(?:[^']|'')*'|--[^\n]*")
_LITERAL = re.compile(r"'([a-z_]+)'")


class QueryError(ClientError):
    """A query or its parameters cannot be used; `field` names the culprit, `status` the HTTP status."""


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str
    default: str | None = None
    choices: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"one of {', '.join(self.choices)}" if self.choices else self.type


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    description: str
    params: tuple[Param, ...]
    sql: str
    used: frozenset[str]
    events: bool = False  # `-- filterable: events`: it reads the events, which a filter's scope narrows

    @property
    def filterable(self) -> bool:
        return self.rollups or self.events

    @property
    def rollups(self) -> bool:
        """Whether the query reads the daily rollups (and so can be filtered)."""
        return "kanon_breakdown" in self.sql or "daily_breakdowns" in self.sql

    @property
    def dimensions(self) -> frozenset[str]:
        """The rollup dimensions the query reads (its string literals that name one)."""
        return frozenset(_LITERAL.findall(self.sql)) & breakdowns.DIMENSIONS

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


@dataclass(frozen=True, slots=True)
class Result:
    query: str
    params: dict[str, Any]
    columns: list[str]
    types: list[str]
    rows: list[list[Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "params": self.params,
            "columns": self.columns,
            "types": self.types,
            "rows": self.rows,
        }


def parse_query(text: str, filename: str) -> Query:
    """Parse one query file; QueryError says what is wrong with its header."""
    header: dict[str, str] = {}
    params: list[Param] = []
    body: list[str] = []
    in_header = True
    for line in text.splitlines():
        stripped = line.strip()
        if in_header and stripped.startswith("--"):
            key, sep, value = stripped[2:].strip().partition(":")
            if not sep:
                continue
            key, value = key.strip(), value.strip()
            if key == "param":
                params.append(_parse_param(value, filename))
            elif key in ("name", "description", "filterable"):
                header[key] = value
            continue
        if stripped:
            in_header = False
        body.append(line)
    name = header.get("name")
    stem = Path(filename).stem
    if name != stem or not _NAME.match(stem):
        raise QueryError(f"{filename}: the header must say `-- name: {stem}` (lower case, digits, _)")
    if not header.get("description"):
        raise QueryError(f"{filename}: the header has no `-- description:`")
    sql = "\n".join(body).strip().rstrip(";")
    if not sql:
        raise QueryError(f"{filename}: no SQL after the header")
    used = frozenset(_USED.findall(_STRINGS.sub("", sql)))
    declared = {p.name for p in params}
    if len(declared) != len(params):
        raise QueryError(f"{filename}: a parameter is declared twice")
    if declared & set(INJECTED):
        raise QueryError(f"{filename}: $k is the site's k-anonymity setting and cannot be a parameter")
    if undeclared := sorted(used - declared - set(INJECTED)):
        raise QueryError(f"{filename}: ${', $'.join(undeclared)} used but not declared with `-- param:`")
    if unused := sorted(declared - used):
        raise QueryError(f"{filename}: parameter(s) {', '.join(unused)} declared but not used")
    if header.get("filterable", "events") != "events":
        raise QueryError(f"{filename}: `-- filterable:` takes only `events`")
    return Query(name, header["description"], tuple(params), sql, used, "filterable" in header)


def _parse_param(value: str, filename: str) -> Param:
    match = _PARAM.match(value)
    if not match:
        raise QueryError(f"{filename}: `-- param: {value}` is not `NAME TYPE [DEFAULT]` (types: {', '.join(TYPES)})")
    name, type_, choices, default = match.groups()
    if choices:
        options = tuple(choices.split(","))
        if default is not None and default not in options:
            raise QueryError(f"{filename}: the default of {name} is not one of {', '.join(options)}")
        return Param(name, "VARCHAR", default, options)
    param = Param(name, type_, default)
    if default is not None:
        convert(param, default)
    return param


def load_queries(folder: Path | None = None) -> dict[str, Query]:
    folder = folder or resource_dir("queries")
    parsed = (parse_query(f.read_text(encoding="utf-8"), f.name) for f in sorted(folder.glob("*.sql")))
    return {q.name: q for q in parsed}


@cache
def installed_queries() -> dict[str, Query]:
    """The queries shipped with this installation, parsed once per process."""
    return load_queries()


def convert(param: Param, raw: str) -> Any:
    text = raw.strip()
    try:
        if param.choices:
            if text not in param.choices:
                raise ValueError(text)
            return text
        if param.type == "INTEGER":
            return int(text)
        if param.type == "DOUBLE":
            return float(text)
        if param.type == "BOOLEAN":
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if param.type == "DATE":
            return date.fromisoformat(text)
        return raw
    except ValueError:
        expected = "a date, YYYY-MM-DD" if param.type == "DATE" else param.label
        raise QueryError(f"{param.name} must be {expected}, not {raw!r}", param.name) from None


def bind(
    query: Query,
    settings: Settings,
    raw: Mapping[str, str | None],
    today: date | None = None,
    expressions: Sequence[str] = (),
) -> dict[str, Any]:
    """The values for the query's parameters, converted by declared type; QueryError names a bad one.

    `expressions` are filter expressions; a FilterError (field `filter`) says what is wrong with one.
    """
    values = {k: v for k, v in raw.items() if v is not None and v != ""}
    legacy = {k: values.pop(k) for k in list(values) if k in filtering.FIELDS and not query.param(k)}
    filters = filtering.parse_all(expressions, legacy)
    if filters and not query.filterable:
        raise QueryError(f"{query.name} cannot be filtered", "filter")
    if unknown := sorted(set(values) - {p.name for p in query.params} - set(STANDARD)):
        raise QueryError(f"{query.name} has no parameter {unknown[0]!r}", unknown[0])
    site_name = values.get("site")
    if site_name is None and len(settings.sites) == 1:
        site_name = settings.sites[0].domain
    if site_name is None:
        raise QueryError("site is required", "site")
    site = settings.site(site_name)
    if site is None:
        raise QueryError(f"site {site_name!r} is not registered", "site")
    date_param = Param("to", "DATE")
    to = convert(date_param, values["to"]) if "to" in values else (today or datetime.now(UTC).date())
    start = (
        convert(Param("from", "DATE"), values["from"]) if "from" in values else to - timedelta(days=DEFAULT_DAYS - 1)
    )
    if start > to:
        raise QueryError("from must not be after to", "from")
    if (to - start).days >= MAX_DAYS:
        raise QueryError(f"the period is longer than {MAX_DAYS} days", "from")
    bound: dict[str, Any] = {"site": site.domain, "from": start, "to": to, "k": site.k_anonymity}
    if filters:
        bound["filters"] = filters
    for param in query.params:
        if param.name in STANDARD:
            continue
        text = values.get(param.name, param.default)
        if text is None:
            raise QueryError(f"{param.name} is required ({param.label})", param.name)
        bound[param.name] = convert(param, text)
        if param.name == "goal":
            bound["goal"] = goals.goal(bound["goal"])
        if param.name == "steps":
            bound["steps"] = goals.steps(bound["steps"])
        if param.name == "limit" and not 1 <= bound[param.name] <= 100_000:
            raise QueryError("limit must be between 1 and 100000", "limit")
    return bound


def execute(con: duckdb.DuckDBPyConnection, query: Query, bound: dict[str, Any]) -> Result:
    """Run a bound query on up-to-date rollups; `con` must be writable (the rollups may need a rebuild).

    QueryError (field: the first filter) when fewer than k visitors match the filters.
    """
    if query.rollups:
        breakdowns.refresh(con)
    filters = bound.get("filters")
    if not filters:
        return fetch(con, query, bound)
    try:
        with scopes.scoped(
            con, bound["site"], bound["from"], bound["to"], filters, bound["k"], dimensions=query.dimensions
        ):
            return fetch(con, query, bound)
    except scopes.TooFew as exc:
        raise QueryError(str(exc), "filter") from None


def fetch(con: duckdb.DuckDBPyConnection, query: Query, bound: dict[str, Any]) -> Result:
    """Run a bound query as it is: no rollup refresh, no scope (the caller has done both)."""
    cursor = con.execute(query.sql, {k: v for k, v in bound.items() if k in query.used})
    description = cursor.description or []
    columns = [d[0] for d in description]
    types = [str(d[1]) for d in description]
    rows = [[_plain(v) for v in row] for row in cursor.fetchall()]
    shown = {k: _shown(v) for k, v in bound.items() if k != "k"}
    return Result(query.name, shown, columns, types, rows)


def _shown(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [str(item) for item in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()  # stored naive, in UTC
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def run(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    name: str,
    raw: Mapping[str, str | None],
    expressions: Sequence[str] = (),
) -> Result:
    query = installed_queries().get(name)
    if query is None:
        raise QueryError(f"no query named {name!r}; `collector query --list` shows them", "name", 404)
    return execute(con, query, bind(query, settings, raw, expressions=expressions))


def describe(query: Query) -> dict[str, Any]:
    params = [{"name": p.name, "type": p.label, "default": p.default} for p in query.params]
    return {"name": query.name, "description": query.description, "params": params}


def query_op(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
    try:
        expressions = [str(e) for e in args.get("filters") or ()]
        return run(con, settings, str(args.get("name")), dict(args.get("params") or {}), expressions).as_json()
    except ClientError as exc:
        raise OpError(exc.message) from None
