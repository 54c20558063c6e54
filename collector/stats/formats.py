"""Query results written out as a text table, CSV, JSON or Parquet."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ("table", "csv", "json", "parquet")
_ARROW = {
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "HUGEINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "VARCHAR": pa.string(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
}


def table(result: dict[str, Any]) -> str:
    columns: list[str] = result["columns"]
    cells = [[_cell(v) for v in row] for row in result["rows"]]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [t in ("BIGINT", "INTEGER", "HUGEINT", "DOUBLE") for t in result["types"]]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True))

    out = [line(columns), "  ".join("-" * w for w in widths)] + [line(r) for r in cells]
    out.append(f"({len(cells)} row{'s' if len(cells) != 1 else ''})")
    return "\n".join(s.rstrip() for s in out) + "\n"


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def to_csv(result: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result["columns"])
    writer.writerows(result["rows"])
    return buffer.getvalue()


def to_json(result: dict[str, Any]) -> str:
    return orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n"


def to_parquet(result: dict[str, Any], path: Path) -> None:
    arrays = []
    for i, type_name in enumerate(result["types"]):
        values = [row[i] for row in result["rows"]]
        arrow_type = _ARROW.get(type_name)
        if arrow_type == pa.date32():
            arrays.append(pa.array(values, pa.string()).cast(pa.date32()))
        elif arrow_type == pa.timestamp("us", tz="UTC"):
            arrays.append(pa.array(values, pa.string()).cast(arrow_type))  # ISO text with its +00:00
        else:
            arrays.append(pa.array(values, arrow_type))
    pq.write_table(pa.table(arrays, names=result["columns"]), path)


def written(result: dict[str, Any], fmt: str, path: str) -> str:
    """What a query written to a file holds, said once it is there: a file written in silence looks like nothing."""
    rows = len(result["rows"])
    return f"wrote {rows} row{'s' if rows != 1 else ''} of {result['query']} as {fmt} to {path}"


def render(result: dict[str, Any], fmt: str) -> str:
    if fmt == "csv":
        return to_csv(result)
    if fmt == "json":
        return to_json(result)
    return table(result)
