"""`collector shell`: SQL on an analyst's snapshot (`collector export`) with the DuckDB the collector ships.

The DuckDB command-line tool is a separate program that Debian does not package; this shell needs nothing
beyond the collector. It opens the snapshot's analytics.duckdb read-only, from any folder, and runs the SQL
given with -c, piped in, or typed at its prompt (a statement ends with `;`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import duckdb

from collector.feature import Common, Run
from collector.settings import ConfigError, Settings
from collector.stats import formats
from collector.stats.export import DATABASE

PROMPT, MORE = "D ", "· "


def open_snapshot(folder: Path) -> duckdb.DuckDBPyConnection:
    """The snapshot's views, read-only, resolving their relative Parquet paths against the folder."""
    path = folder / DATABASE
    if not path.is_file():
        raise ConfigError(f"{folder} holds no {DATABASE}: write a snapshot there first with collector export --to DIR")
    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET file_search_path = ?", [str(folder.resolve())])
    return con


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, out: TextIO) -> bool:
    """Run each statement of `sql`, printing rows as a table; at the first one DuckDB refuses, False and one
    line on stderr."""
    try:
        for statement in con.extract_statements(sql):
            cursor = con.execute(statement.query)
            if cursor.description:
                columns = [d[0] for d in cursor.description]
                types = [str(d[1]) for d in cursor.description]
                out.write(formats.table({"columns": columns, "types": types, "rows": cursor.fetchall()}))
    except duckdb.Error as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return False
    return True


def statements(lines: Iterator[str]) -> Iterator[str]:
    """Typed SQL, one chunk per line that ends with `;` (what is left at the end counts too)."""
    pending: list[str] = []
    for line in lines:
        if not pending and line.strip() in (".quit", ".exit", "\\q"):
            return
        pending.append(line)
        if line.rstrip().endswith(";"):
            yield "\n".join(pending)
            pending = []
    if "".join(pending).strip():
        yield "\n".join(pending)


def _typed() -> Iterator[str]:
    prompt = PROMPT
    while True:
        try:
            line = input(prompt)
        except EOFError:
            print()
            return
        except KeyboardInterrupt:
            print()
            prompt = PROMPT
            continue
        prompt = PROMPT if line.rstrip().endswith(";") or not line.strip() else MORE
        yield line


def shell(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    con = open_snapshot(Path(ns.folder))
    try:
        if ns.command_sql or not sys.stdin.isatty():
            given = ns.command_sql or [sys.stdin.read()]
            return 0 if all([run_sql(con, sql, sys.stdout) for sql in given]) else 1
        print(f"SQL on the snapshot in {ns.folder} (tables: events, daily_counts, drops, daily_breakdowns).")
        print("End a statement with ;  leave with .quit or Ctrl-D.")
        for sql in statements(_typed()):
            run_sql(con, sql, sys.stdout)
        return 0
    finally:
        con.close()


def shell_arguments(parser: argparse.ArgumentParser, common: Common) -> None:
    common(parser)
    parser.add_argument("folder", nargs="?", default=".", help="the snapshot folder (default: the current one)")
    parser.add_argument(
        "-c", dest="command_sql", action="append", metavar="SQL", help="run this SQL and exit (repeatable)"
    )
