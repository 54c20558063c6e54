"""ReportLimits: CSP reports get a token bucket per client and per site, from the settings; 0 turns one off;
every refusal is counted under its reason."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from collector.errors import ClientError
from collector.privacy.csp import ReportLimits, TooManyReports
from collector.settings import load_settings
from tests.conftest import make_settings
from tests.unit.ingest.test_ratelimit import Clock

SETTINGS = replace(make_settings(Path("unused")), csp_reports_client_per_minute=3, csp_reports_site_per_minute=5)


def test_a_client_gets_its_burst_then_waits_for_the_refill() -> None:
    clock = Clock()
    limits = ReportLimits(SETTINGS, clock)
    for _ in range(3):
        limits.check_client("192.0.2.1", "UA")
    with pytest.raises(TooManyReports) as refused:
        limits.check_client("192.0.2.1", "UA")
    assert (refused.value.status, refused.value.limit, refused.value.retry_after) == (429, "client", 20)
    limits.check_client("192.0.2.1", "another UA")  # another client
    clock.now += 20  # 3 a minute: one every 20 s
    limits.check_client("192.0.2.1", "UA")


def test_a_site_is_charged_one_token_per_report() -> None:
    limits = ReportLimits(SETTINGS, Clock())
    limits.check_site("example.com", 4)
    with pytest.raises(TooManyReports) as refused:
        limits.check_site("example.com", 2)
    assert refused.value.limit == "site" and "site example.com" in refused.value.message
    limits.check_site("other.org", 5)


def test_refusals_are_counted_by_reason_and_the_collectors_own_faults_are_not() -> None:
    limits = ReportLimits(SETTINGS, Clock())
    for error in (
        TooManyReports("client", "x", 1),
        TooManyReports("site", "x", 1),
        ClientError("body is larger than 65536 bytes", "body", 413),
        ClientError("site is not registered", "site", 403),
        ClientError("retry later", None, 503),
    ):
        limits.count(error)
    assert limits.refused == {"client": 1, "site": 1, "size": 1, "invalid": 1}


def test_the_limits_come_from_the_settings_and_a_rate_of_0_turns_one_off() -> None:
    env = {"COLLECTOR_CSP_REPORTS_CLIENT_PER_MINUTE": "0", "COLLECTOR_CSP_MAX_BODY_BYTES": "1024"}
    settings = load_settings(env=env)
    limits = ReportLimits(settings)
    assert (limits.client, limits.max_body) == (None, 1024)
    assert limits.site is not None and limits.site.rate == 3000 / 60
    for _ in range(1000):
        limits.check_client("192.0.2.1", "UA")
