"""Property test of the live ingest endpoint: whatever arrives, the answer is 202 or a documented 4xx."""

from __future__ import annotations

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import DESKTOP_UA, ORIGIN, LiveServer
from tests.strategies import DOCUMENTED, json_values, plausible


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=200), json_values.map(orjson.dumps), plausible.map(orjson.dumps)))
def test_live_ingest_answers_2xx_or_a_documented_4xx(server: LiveServer, body: bytes) -> None:
    r = httpx.post(
        f"{server.url}/api/event",
        content=body,
        headers={"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": DESKTOP_UA},
    )
    assert r.status_code == 202 or r.status_code in DOCUMENTED, r.text
    if r.status_code != 202:
        assert set(r.json()) <= {"error", "field", "index"}
