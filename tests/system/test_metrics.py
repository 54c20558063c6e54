from __future__ import annotations

import re

import httpx
import orjson

from tests.conftest import DESKTOP_UA, ORIGIN, SITE, LiveServer
from tests.system.test_access import make_token

SAMPLE = re.compile(r'^([a-z_]+)(\{([a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf)$')


def scrape(server: LiveServer, token: str) -> dict[str, float]:
    r = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples: dict[str, float] = {}
    typed: set[str] = set()
    for line in r.text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("# HELP "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not Prometheus text format: {line!r}"
        name = match.group(1)
        assert name in typed or re.sub(r"_(bucket|sum|count)$", "", name) in typed, line
        key, value = line.rsplit(" ", 1)
        samples[key] = float(value)
    return samples


def test_metrics_need_the_admin_scope(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    token = make_token(server, "dashboards", ["stats:read"])
    r = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert server.query("SELECT token_name, action, outcome FROM audit_log") == [
        ("dashboards", "GET /metrics", "denied 403")
    ]


def test_metrics_count_accepted_dropped_commits_and_cache(server: LiveServer) -> None:
    token = make_token(server, "prometheus", ["admin"])
    event = orjson.dumps({"d": SITE, "u": "https://example.com/a"})
    for ua in (DESKTOP_UA, DESKTOP_UA, "curl/8.0", "Googlebot/2.1"):
        r = httpx.post(
            f"{server.url}/api/event",
            content=event,
            headers={"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": ua},
        )
        assert r.status_code == 202
    m = scrape(server, token)
    assert m["collector_events_accepted_total"] == 2
    assert m[f'collector_events_dropped_total{{site="{SITE}",reason="bot"}}'] == 2
    assert m["collector_queue_depth"] == 0
    batches = m["collector_batches_total"]
    assert batches >= 2
    assert m["collector_batch_commit_seconds_count"] == batches
    assert m['collector_batch_commit_seconds_bucket{le="+Inf"}'] == batches
    buckets = [v for k, v in m.items() if k.startswith("collector_batch_commit_seconds_bucket")]
    assert buckets == sorted(buckets), "histogram buckets are cumulative"
    assert m["collector_batch_commit_seconds_sum"] > 0
    assert m["collector_device_cache_hits_total"] + m["collector_device_cache_misses_total"] >= 2
    assert 0 <= m["collector_device_cache_hit_ratio"] <= 1
    assert m['collector_api_calls_total{outcome="allowed"}'] == 1
    assert m["collector_rate_limit_clients"] == 3, "one bucket per address and User-Agent"
