"""The pipeline in the journal process: frames of raw requests in, rows and answers out; the server's salts."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest

from collector.durable.wire import Refusal, dump_requests, load_answers
from collector.events import Event
from collector.identifiers.visitor import daily_visitor
from collector.ingest.handler import IngestSide
from collector.ingest.pipeline.steps import Pipeline
from collector.storage.rows import SCHEMA
from tests.conftest import DESKTOP_UA, ORIGIN, SITE, make_settings

BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def headers(ua: str = DESKTOP_UA, origin: str = ORIGIN) -> dict[str, str]:
    return {"origin": origin, "content-type": "text/plain", "user-agent": ua}


def body(**fields: object) -> bytes:
    return orjson.dumps({"d": SITE, "u": "https://example.com/a"} | fields)


@pytest.fixture(scope="module")
def side(tmp_path_factory: pytest.TempPathFactory) -> IngestSide:
    settings = make_settings(tmp_path_factory.mktemp("handler"))
    today = datetime.now(UTC).date()
    return IngestSide(settings, b"p" * 32, {today: b"a" * 32, today + timedelta(days=1): b"b" * 32})


def test_a_frame_answers_each_request_and_journals_only_the_kept_rows(side: IngestSide) -> None:
    frame = dump_requests(
        [
            ("198.51.100.7", headers(), body(w=390)),
            ("198.51.100.7", headers(), b"{not json"),
            ("198.51.100.7", headers(), body(d="unknown.example")),
            ("198.51.100.7", headers(origin="https://other.org"), body()),
            ("198.51.100.8", headers(BOT_UA), body()),
        ]
    )
    rows, payload = side.handle(frame)
    answers = load_answers(payload)

    statuses = [r.status if isinstance(r, Refusal) else 202 for r in answers.refusals]
    assert statuses == [202, 400, 403, 403, 202]
    assert orjson.loads(answers.refusals[2].body)["field"] == "d"  # type: ignore[union-attr]
    assert answers.report.stored == len(rows) == 1
    (row,) = rows
    stored = dict(zip(SCHEMA.names, row, strict=True))
    assert stored["screen_w"] == 390 and stored["site"] == SITE
    salt = b"a" * 32
    assert stored["visitor"] == daily_visitor(salt, SITE, "198.51.100.7", DESKTOP_UA)
    assert b"198.51.100.7" not in orjson.dumps(rows)
    today = datetime.now(UTC).date().isoformat()
    assert answers.report.drops == {(SITE, today, "bot"): 1}
    assert answers.report.device_hits + answers.report.device_misses >= 1


def test_a_frame_of_no_requests_brings_back_only_the_counters(side: IngestSide) -> None:
    rows, payload = side.handle(dump_requests([]))  # a health probe
    answers = load_answers(payload)
    assert rows == [] and answers.refusals == [] and answers.report.stored == 0
    assert answers.report.drops is None and answers.report.clients == len(side.limits.client or ())


def test_counters_are_sent_once_and_nothing_is_journaled_for_a_refused_frame(side: IngestSide) -> None:
    side.handle(dump_requests([("198.51.100.9", headers(BOT_UA), body())]))
    rows, payload = side.handle(dump_requests([("198.51.100.9", headers(), b"[]")]))
    answers = load_answers(payload)
    assert rows == [] and answers.report.stored == 0
    assert answers.report.drops is None, "the bot was counted with the frame before"
    assert answers.refusals[0] is not None and answers.refusals[0].status == 400


def test_the_servers_salts_replace_the_process_copy(side: IngestSide) -> None:
    today: date = datetime.now(UTC).date()
    side.update(pickle.dumps({today: b"c" * 32}))
    rows, _ = side.handle(dump_requests([("203.0.113.5", headers(), body())]))
    (row,) = rows
    assert row[SCHEMA.names.index("visitor")] == daily_visitor(b"c" * 32, SITE, "203.0.113.5", DESKTOP_UA)


def test_an_unexpected_error_costs_one_request_a_500_and_logs_no_request_data(
    side: IngestSide, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(event: Event) -> Event:
        if event.url.endswith("/boom"):
            raise KeyError(f"secret {event.url}")
        return event

    steps = side.acceptor.pipeline.steps
    side.acceptor.pipeline = Pipeline([("explode", explode), *steps])
    try:
        frame = dump_requests(
            [("198.51.100.7", headers(), body(u="https://example.com/boom")), ("198.51.100.7", headers(), body())]
        )
        rows, payload = side.handle(frame)
    finally:
        side.acceptor.pipeline = Pipeline(steps)
    answers = load_answers(payload)
    assert [r.status if r else 202 for r in answers.refusals] == [500, 202]
    assert answers.report.stored == len(rows) == 1
    assert "unexpected KeyError accepting a request" in caplog.text
    assert "secret" not in caplog.text and "boom" not in caplog.text and "198.51.100.7" not in caplog.text
