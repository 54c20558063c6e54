"""`collector segments refresh|list`: refresh segments or list their sizes."""

from __future__ import annotations

import argparse
from typing import Any

import orjson

from collector.feature import Common, Run
from collector.settings import Settings


def segments(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    args: dict[str, Any] = {"site": ns.site}
    if ns.action == "refresh":
        args["only"] = ns.only or None
    result = run(settings, f"segments.{ns.action}", args)
    if ns.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    elif ns.action == "refresh":
        for row in result:
            print(
                f"{row['site']}: {len(row['segments'])} segments, +{row['added']} -{row['removed']} in {row['ms']} ms"
            )
            for name, members in row["segments"].items():
                print(f"  {name:<28} {members:>9}")
    else:
        for row in result:
            print(f"{row['site']:<20} {row['name']:<28} {row['members']:>9}  {row['computed_at'] or 'never'}")
        if not result:
            print("no segments yet: run `collector segments refresh`")
    return 0


def arguments(segments: argparse.ArgumentParser, common: Common) -> None:
    common(segments)
    segments.add_argument("action", choices=["refresh", "list"])
    segments.add_argument("--site", help="only this site")
    segments.add_argument("--only", action="append", help="refresh only this definition (repeatable)")
    segments.add_argument("--json", action="store_true", help="print JSON")
