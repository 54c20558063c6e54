"""The analyst's snapshot: events and aggregates as Parquet, partitioned by site and month, plus a small
`analytics.duckdb` holding views over them, so any SQL can run without touching the live database.

Incremental: a manifest keeps a fingerprint per partition (row count and an XOR of row hashes), and only
partitions whose fingerprint moved are written again, each to a temporary file renamed into place.
Only pseudonymous and anonymous tables go out; salts, tokens, the audit log and requests never do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import orjson

from collector.admin.ops import OpError
from collector.settings import Settings

MANIFEST = "manifest.json"
DATABASE = "analytics.duckdb"


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    month: str  # SQL for the partition month, 'YYYY-MM'
    start: str  # SQL for the first instant of a month, compared with the table's time column
    column: str
    fingerprint: str  # SQL aggregate that changes whenever a row of the partition changes


TABLES = (
    Table("events", "strftime(ts, '%Y-%m')", "?::TIMESTAMP", "ts", "bit_xor(hash(event_id))"),
    Table("daily_counts", "strftime(day, '%Y-%m')", "?::DATE", "day", "bit_xor(hash(t))"),
    Table("drops", "strftime(day, '%Y-%m')", "?::DATE", "day", "bit_xor(hash(t))"),
    Table("daily_breakdowns", "strftime(day, '%Y-%m')", "?::DATE", "day", "bit_xor(hash(t))"),
)


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _partition(table: Table, site: str, month: str) -> str:
    return f"{table.name}/site={quote(site, safe='.-_')}/month={month}"


def export(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    old: dict[str, str] = {}
    if manifest_path.exists():
        old = orjson.loads(manifest_path.read_bytes()).get("partitions", {})
    new: dict[str, str] = {}
    written: list[str] = []
    for table in TABLES:
        rows = con.execute(
            f"SELECT site, {table.month} AS month, count(*), {table.fingerprint} FROM {table.name} t GROUP BY ALL"
        ).fetchall()
        for site, month, count, fingerprint in rows:
            key = _partition(table, site, month)
            new[key] = f"{count}:{fingerprint}"
            target = folder / key / "data.parquet"
            if old.get(key) == new[key] and target.exists():
                continue
            _write(con, table, site, month, target)
            written.append(key)
    removed = sorted(set(old) - set(new))
    for key in removed:
        shutil.rmtree(folder / key, ignore_errors=True)
    _views(folder, {key.split("/", 1)[0] for key in new})
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps({"version": 1, "partitions": new}, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    os.replace(tmp, manifest_path)
    return {"dir": str(folder), "written": written, "unchanged": len(new) - len(written), "removed": removed}


def _write(con: duckdb.DuckDBPyConnection, table: Table, site: str, month: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    year, mon = (int(x) for x in month.split("-"))
    first = f"{year:04d}-{mon:02d}-01"
    after = f"{year + mon // 12:04d}-{mon % 12 + 1:02d}-01"
    # COPY takes no bound file name; the path is ours (the export folder), quoted. Values are bound.
    con.execute(
        f"COPY (SELECT * EXCLUDE (site) FROM {table.name} WHERE site = ? AND {table.column} >= {table.start} "
        f"AND {table.column} < {table.start} ORDER BY {table.column}) TO {_quoted(tmp)} (FORMAT parquet)",
        [site, first, after],
    )
    os.replace(tmp, target)


def _views(folder: Path, tables: set[str]) -> None:
    """A fresh analytics.duckdb whose views read the Parquet files by paths relative to the folder."""
    tmp = folder / (DATABASE + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    con = duckdb.connect(str(tmp))
    try:
        con.execute(f"SET file_search_path = {_quoted(folder)}")
        for name in sorted(tables):
            con.execute(
                f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{name}/*/*/*.parquet', hive_partitioning = true, "
                "hive_types = {'site': VARCHAR, 'month': VARCHAR})"
            )
    finally:
        con.close()
    os.replace(tmp, folder / DATABASE)


def export_op(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
    to = args.get("to")
    if not to or not Path(str(to)).is_absolute():
        raise OpError("export needs an absolute folder (--to DIR)")
    folder = Path(str(to))
    if folder.resolve().is_relative_to(settings.data_dir.resolve()):
        raise OpError("export to a folder outside the data directory")
    try:
        return export(con, folder)
    except OSError as exc:
        raise OpError(f"cannot write the export to {folder}: {exc.strerror or exc}") from None
