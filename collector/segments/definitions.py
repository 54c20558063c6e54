"""Segment definitions (queries/segments/*.sql), their materialization into segment_members, and the ops.

A definition is a query returning the `visitor` column, with a header:

    -- name: returning                  (or a template: lang_{language}, one segment per value of that column)
    -- description: Active on 2 or more days in the last 30 days.
    -- refresh: 60s

It may use `$site` and `$now` (bound). A refresh computes the new members into a temporary table and
applies only the difference, so a refresh that changes little writes little.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from collector.admin.ops import OpError
from collector.resources import resource_dir
from collector.segments.members import EMPTY, Members, diff, read, split
from collector.settings import Settings

DEFAULT_REFRESH_SECONDS = 60
_HEADER = re.compile(r"^--\s*([a-z_]+):\s*(.*?)\s*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*(\{[a-z_][a-z0-9_]*\})?[a-z0-9_]*$")
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
_NOT_NAME = re.compile(r"[^a-z0-9]+")
_DURATION = re.compile(r"^(\d+)\s*(s|m|h)?$")
_UNITS = {"s": 1, "m": 60, "h": 3600}
# Only one refresh at a time in a process: the scheduler, the CLI (through the admin socket) and tests share it.
_REFRESH_LOCK = threading.Lock()


class DefinitionError(Exception):
    """A segment definition file is malformed; the message names the file."""


@dataclass(frozen=True, slots=True)
class Definition:
    file: str
    name: str
    description: str
    refresh_seconds: int
    sql: str

    @property
    def key(self) -> str | None:
        """The column a template names its segments after (`lang_{language}` -> `language`)."""
        match = re.search(r"\{([a-z0-9_]+)\}", self.name)
        return match.group(1) if match else None


def parse_definition(file: str, text: str) -> Definition:
    headers: dict[str, str] = {}
    body: list[str] = []
    for line in text.splitlines():
        if not body and (match := _HEADER.match(line)):
            headers[match.group(1)] = match.group(2)
        elif body or (line.strip() and not line.lstrip().startswith("--")):
            body.append(line)
    name = headers.get("name", "")
    if not _NAME.match(name):
        raise DefinitionError(f"{file}: '-- name:' must be a lower-case name like returning or lang_{{language}}")
    sql = "\n".join(body).strip().rstrip(";").strip()
    if not sql:
        raise DefinitionError(f"{file}: no query after the header")
    return Definition(
        file=file,
        name=name,
        description=headers.get("description", ""),
        refresh_seconds=_duration(headers.get("refresh"), file),
        sql=sql,
    )


def _duration(text: str | None, file: str) -> int:
    if not text:
        return DEFAULT_REFRESH_SECONDS
    match = _DURATION.match(text.strip().lower())
    if not match or int(match.group(1)) <= 0:
        raise DefinitionError(f"{file}: '-- refresh:' must be a duration like 60s, 5m or 1h")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def definitions_dir() -> Path:
    return resource_dir("queries") / "segments"


def load_definitions(folder: Path | None = None) -> list[Definition]:
    folder = folder or definitions_dir()
    definitions = [parse_definition(f.name, f.read_text(encoding="utf-8")) for f in sorted(folder.glob("*.sql"))]
    names = [d.name for d in definitions]
    if len(set(names)) != len(names):
        raise DefinitionError(f"two segment definitions in {folder} share a name")
    return definitions


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _bind(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    used = set(_PARAM.findall(sql))
    unknown = used - set(values)
    if unknown:
        raise DefinitionError(f"unknown parameter(s) {', '.join(sorted('$' + u for u in unknown))}")
    return {k: v for k, v in values.items() if k in used}


def _compute(con: duckdb.DuckDBPyConnection, site: str, d: Definition, now: datetime) -> Members:
    """One definition's segments for one site: segment name -> distinct visitor hashes."""
    params = _bind(d.sql, {"site": site, "now": now})
    key = d.key
    if key is None:
        sql = f"SELECT CAST(q.visitor AS UBIGINT) AS visitor FROM ({d.sql}\n) q WHERE q.visitor IS NOT NULL"
        visitors = con.execute(sql, params).to_arrow_table().column("visitor").combine_chunks()
        return {d.name: pc.unique(visitors.cast(pa.uint64()))}
    sql = (
        f'SELECT CAST(q.visitor AS UBIGINT) AS visitor, CAST(q."{key}" AS VARCHAR) AS value '
        f'FROM ({d.sql}\n) q WHERE q.visitor IS NOT NULL AND q."{key}" IS NOT NULL'
    )
    table = con.execute(sql, params).to_arrow_table()
    if table.num_rows == 0:
        return {}
    # Names are made once per distinct value, and values that read the same (Facebook, facebook) merge.
    codes = pc.dictionary_encode(table.column("value")).combine_chunks()
    names = pa.array([_template_name(d, str(v)) for v in codes.dictionary.to_pylist()], pa.string())
    named = pa.table({"segment": pc.take(names, codes.indices), "visitor": table.column("visitor").combine_chunks()})
    named = named.filter(pc.is_valid(named.column("segment")))
    return {name: pc.unique(visitors) for name, visitors in split(named).items()}


def _template_name(d: Definition, value: str) -> str | None:
    """A template's value as part of a name: lower-case, and anything but a-z and 0-9 becomes _."""
    part = _NOT_NAME.sub("_", value.lower()).strip("_")
    return d.name.replace("{" + str(d.key) + "}", part) if part else None


@dataclass(slots=True)
class SiteRefresh:
    site: str
    sizes: dict[str, int]
    names: list[str]  # every segment name the refreshed definitions had before or have now
    members: Members
    added: int
    removed: int
    query_ms: dict[str, float]
    ms: float

    def summary(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "segments": dict(sorted(self.sizes.items())),
            "added": self.added,
            "removed": self.removed,
            "query_ms": self.query_ms,
            "ms": self.ms,
        }


def refresh_site(
    con: duckdb.DuckDBPyConnection,
    site: str,
    definitions: list[Definition],
    now: datetime,
    previous: Members | None = None,
) -> SiteRefresh:
    """Recompute the definitions' segments for one site and write only the difference, in one transaction."""
    started = time.perf_counter()
    files = [d.file for d in definitions]
    by_file = {d.file: d for d in definitions}
    query_ms: dict[str, float] = {}
    new: Members = {}
    owner: dict[str, str] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        for d in definitions:
            t = time.perf_counter()
            found = _compute(con, site, d, now)
            if d.key is None:
                found.setdefault(d.name, EMPTY)  # a named segment stays listed when empty
            new.update(found)
            owner.update(dict.fromkeys(found, d.file))
            query_ms[d.file] = round((time.perf_counter() - t) * 1000, 1)
        old_names = con.execute(
            "SELECT name FROM segments WHERE site = $site AND definition IN (SELECT unnest($files))",
            {"site": site, "files": files},
        ).fetchall()
        names = sorted({r[0] for r in old_names} | set(new))
        if previous is None:
            old = read(con, site, names)
        else:
            old = {name: previous[name] for name in names if name in previous}
        added, removed = diff(old, new, names)
        if removed.num_rows:
            con.register("_segment_removed", removed)
            try:
                con.execute(_DELETE_REMOVED, {"site": site})
            finally:
                con.unregister("_segment_removed")
        if added.num_rows:
            con.register("_segment_added", added)
            try:
                con.execute(_INSERT_ADDED, {"site": site, "now": now})
            finally:
                con.unregister("_segment_added")
        con.execute(
            "DELETE FROM segments WHERE site = $site AND (definition IN (SELECT unnest($files)) "
            "OR name IN (SELECT unnest($names)))",
            {"site": site, "files": files, "names": names},
        )
        sizes = {name: len(visitors) for name, visitors in new.items()}
        if sizes:
            con.executemany(
                "INSERT INTO segments (site, name, description, definition, refresh_seconds, members, computed_at, "
                "refresh_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [site, name, by_file[f].description, f, by_file[f].refresh_seconds, sizes[name], now, query_ms[f]]
                    for name, f in sorted(owner.items())
                ],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    return SiteRefresh(site, sizes, names, new, added.num_rows, removed.num_rows, query_ms, elapsed)


_DELETE_REMOVED = """
DELETE FROM segment_members m
WHERE m.site = $site AND EXISTS (SELECT 1 FROM _segment_removed r WHERE r.segment = m.segment AND r.visitor = m.visitor)
"""
_INSERT_ADDED = (
    "INSERT INTO segment_members (site, segment, visitor, computed_at) "
    "SELECT $site, segment, visitor, $now FROM _segment_added"
)


def drop_retired(con: duckdb.DuckDBPyConnection, site: str, definitions: list[Definition]) -> int:
    """Remove the members of segments whose definition file is gone."""
    files = [d.file for d in definitions]
    con.execute("BEGIN TRANSACTION")
    try:
        row = con.execute(
            "DELETE FROM segment_members WHERE site = $site AND segment IN (SELECT name FROM segments "
            "WHERE site = $site AND definition IS NOT NULL AND definition NOT IN (SELECT unnest($files)))",
            {"site": site, "files": files},
        ).fetchone()
        con.execute(
            "DELETE FROM segments WHERE site = ? AND definition IS NOT NULL AND definition NOT IN (SELECT unnest(?))",
            [site, files],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return int(row[0]) if row else 0


def signature(con: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """Changes when a refresh ran or members were deleted (an erasure), in this process or another."""
    row = con.execute(_SIGNATURE).fetchone()
    return (int(row[0]), row[1]) if row else ()


_SIGNATURE = "SELECT (SELECT count(*) FROM segment_members), (SELECT max(computed_at) FROM segments)"


def refresh(
    con: duckdb.DuckDBPyConnection,
    sites: list[str],
    definitions: list[Definition],
    now: datetime | None = None,
    only: set[str] | None = None,
    previous: tuple[tuple[Any, ...], dict[str, Members]] | None = None,
) -> list[SiteRefresh]:
    """Refresh the given definitions (all of them by default) for every site; one at a time per process.

    `previous` is (signature, members per site) of what was last read or written; when the signature still
    matches the database, the stored members are not read again.
    """
    now = now or now_utc()
    chosen = [d for d in definitions if only is None or d.name in only or d.file in only]
    results = []
    with _REFRESH_LOCK:
        known = previous[1] if previous is not None and signature(con) == previous[0] else None
        for site in sites:
            if only is None and drop_retired(con, site, definitions):
                known = None
            results.append(refresh_site(con, site, chosen, now, None if known is None else known.get(site, {})))
    return results


def list_segments(con: duckdb.DuckDBPyConnection, site: str | None = None) -> list[dict[str, Any]]:
    rows = con.execute(
        "SELECT site, name, coalesce(members, 0), computed_at, refresh_seconds, refresh_ms, description "
        "FROM segments WHERE $site IS NULL OR site = $site ORDER BY site, name",
        {"site": site},
    ).fetchall()
    return [
        {
            "site": s,
            "name": name,
            "members": int(n),
            "computed_at": at.replace(tzinfo=UTC).isoformat() if at else None,
            "refresh_seconds": every,
            "refresh_ms": round(ms, 1) if ms is not None else None,
            "description": description,
        }
        for s, name, n, at, every, ms, description in rows
    ]


def _sites(settings: Settings, args: dict[str, Any]) -> list[str]:
    site = args.get("site")
    if site is None:
        return [s.domain for s in settings.sites]
    if not isinstance(site, str) or settings.site(site) is None:
        raise OpError(f"site {site!r} is not registered")
    return [site.lower()]


def refresh_op(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> list[dict[str, Any]]:
    only = args.get("only")
    try:
        definitions = load_definitions()
    except DefinitionError as exc:
        raise OpError(str(exc)) from None
    if only:
        unknown = set(only) - {d.name for d in definitions} - {d.file for d in definitions}
        if unknown:
            raise OpError(f"no segment definition named {', '.join(sorted(unknown))}")
    results = refresh(con, _sites(settings, args), definitions, only=set(only) if only else None)
    return [r.summary() for r in results]


def list_op(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> list[dict[str, Any]]:
    site = _sites(settings, args)[0] if args.get("site") else None
    return list_segments(con, site)
