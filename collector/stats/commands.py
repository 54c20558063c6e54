"""`collector query` and `collector export`: named queries and the analyst's snapshot, from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from collector.admin.ops import OpError
from collector.feature import Common, Run
from collector.settings import Settings
from collector.stats import formats
from collector.stats.queries import installed_queries


def query(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    if ns.list or not ns.name:
        for named in installed_queries().values():
            names = " ".join(f"[{p.name}={p.default}]" if p.default else p.name for p in named.params)
            print(f"{named.name:<14} {named.description}\n{'':<14} params: {names}")
        return 0
    params: dict[str, str | None] = {}
    for item in ns.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise OpError(f"--param {item!r} is not key=value")
        params[key.strip()] = value
    params.update({"site": ns.site, "from": ns.start, "to": ns.end})
    result = run(settings, "query", {"name": ns.name, "params": params, "filters": ns.filter})
    if ns.format == "parquet":
        if not ns.output:
            raise OpError("--format parquet needs --output FILE")
        formats.to_parquet(result, Path(ns.output))
        print(formats.written(result, ns.format, ns.output))
        return 0
    text = formats.render(result, ns.format)
    if ns.output:
        Path(ns.output).write_text(text, encoding="utf-8")
        print(formats.written(result, ns.format, ns.output))
    else:
        sys.stdout.write(text)
    return 0


def query_arguments(query: argparse.ArgumentParser, common: Common) -> None:
    common(query)
    query.add_argument("name", nargs="?", help="query name")
    query.add_argument("--list", action="store_true", help="list the named queries and their parameters")
    query.add_argument("--site", help="site domain (default: the only registered site)")
    query.add_argument("--from", dest="start", metavar="DATE", help="first day, YYYY-MM-DD (default: to - 29 days)")
    query.add_argument("--to", dest="end", metavar="DATE", help="last day, YYYY-MM-DD (default: today, UTC)")
    query.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a query parameter")
    query.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="EXPR",
        help="keep only what matches: FIELD==VALUE, FIELD!=VALUE or FIELD~VALUE (contains); FIELD is a "
        "device, browser, page or visit field or prop:KEY; repeat to combine (AND)",
    )
    query.add_argument("--format", choices=formats.FORMATS, default="table", help="output format (default: table)")
    query.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")


def export(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    result = run(settings, "export", {"to": str(Path(ns.to).resolve())})
    written, unchanged = len(result["written"]), result["unchanged"]
    print(f"exported to {result['dir']}: {written} partition(s) written, {unchanged} unchanged")
    for key in result["removed"]:
        print(f"  removed {key}")
    return 0


def export_arguments(export: argparse.ArgumentParser, common: Common) -> None:
    common(export)
    export.add_argument("--to", required=True, metavar="DIR", help="folder for the snapshot (updated in place)")
