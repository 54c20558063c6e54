"""GET /metrics: the server's counters in the Prometheus text format (admin scope)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from collector.access.guard import Access
from collector.durable.commits import COMMIT_BUCKETS_MS
from collector.durable.writer import Writer
from collector.http.ingest import Ingest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(**labels)} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(
    ingest: Ingest | None,
    writer: Writer | None,
    access: Access | None,
) -> str:
    out = Exposition()
    if ingest is not None:
        tally = ingest.tally
        out.family(
            "collector_events_accepted_total", "counter", "Events stored (2xx answered).", [({}, tally.accepted)]
        )
        drops = sorted(tally.drops.items())
        out.family(
            "collector_events_dropped_total",
            "counter",
            "Events dropped by the pipeline, by site and reason.",
            [({"site": site, "reason": reason.value}, n) for (site, reason), n in drops],
        )
        limited = sorted(tally.limited.items())
        out.family(
            "collector_rate_limited_total",
            "counter",
            "Ingest requests answered 429, by limit (site or client) and site.",
            [({"limit": limit, "site": site}, n) for (limit, site), n in limited],
        )
        out.family("collector_rate_limit_clients", "gauge", "Client buckets held in memory.", [({}, tally.clients)])
        hits, misses = tally.device_hits, tally.device_misses
        out.family(
            "collector_device_cache_hits_total", "counter", "Device detections answered from cache.", [({}, hits)]
        )
        out.family("collector_device_cache_misses_total", "counter", "Device detections computed.", [({}, misses)])
        ratio = hits / (hits + misses) if hits + misses else 0.0
        out.family(
            "collector_device_cache_hit_ratio", "gauge", "Share of detections answered from cache.", [({}, ratio)]
        )
    if writer is not None:
        stats = writer.stats
        out.family("collector_queue_depth", "gauge", "Requests awaiting the journal.", [({}, writer.queue_depth)])
        out.family("collector_batches_total", "counter", "Group commits to the journal.", [({}, stats.groups)])
        out.family("collector_batch_failures_total", "counter", "Group commits that failed.", [({}, stats.failures)])
        bounds = sorted(set(COMMIT_BUCKETS_MS) | set(stats.fsync_ms_buckets))
        cumulative = 0
        samples: list[tuple[dict[str, str], float]] = []
        for bound in bounds:
            cumulative += stats.fsync_ms_buckets.get(bound, 0)
            le = "+Inf" if math.isinf(bound) else _number(bound / 1000)
            samples.append(({"le": le}, cumulative))
        name = "collector_batch_commit_seconds"
        out.family(name, "histogram", "Time to make one group of events durable (journal write and fsync).", [])
        out.lines.extend(f"{name}_bucket{_labels(**labels)} {_number(v)}" for labels, v in samples)
        out.lines.append(f"{name}_sum {_number(stats.fsync_ms_total / 1000)}")
        out.lines.append(f"{name}_count {cumulative}")
        out.family("collector_loads_total", "counter", "Loads from the journal into DuckDB.", [({}, stats.loads)])
        out.family(
            "collector_loaded_events_total", "counter", "Events loaded into DuckDB.", [({}, stats.loaded_events)]
        )
        out.family(
            "collector_load_seconds_total",
            "counter",
            "Time spent loading into DuckDB.",
            [({}, stats.load_ms_total / 1000)],
        )
        out.family(
            "collector_load_failures_total", "counter", "Loads into DuckDB that failed.", [({}, stats.load_failures)]
        )
        out.family(
            "collector_replayed_events",
            "gauge",
            "Events replayed from the journal at start-up.",
            [({}, stats.replayed)],
        )
        out.family(
            "collector_journal_records_lost",
            "gauge",
            "Damaged journal records found at start-up, in segments set aside (collector status names them).",
            [({}, stats.records_lost)],
        )
    if access is not None:
        out.family(
            "collector_api_calls_total",
            "counter",
            "Authenticated API calls by outcome.",
            [({"outcome": outcome}, n) for outcome, n in sorted(access.outcomes.items())],
        )
    return out.text()


OPENAPI_PATHS: dict[str, Any] = {
    "/metrics": {
        "get": {
            "summary": "Server metrics in the Prometheus text format",
            "operationId": "metrics",
            "tags": ["operations"],
            "security": [{"bearer": ["admin"]}],
            "responses": {
                "200": {
                    "description": "Counters, gauges and a commit-latency histogram",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "401": {"$ref": "#/components/responses/Unauthorized"},
                "403": {"$ref": "#/components/responses/Forbidden"},
                "503": {"$ref": "#/components/responses/Unavailable"},
            },
        }
    }
}
