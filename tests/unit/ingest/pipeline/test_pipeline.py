"""Pipeline and build_pipeline: the steps in their order, the first drop ends the run and is counted per site."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

from collector.devices.detect import detect
from collector.events import DropReason, Event
from collector.identifiers.visitor import consented_visitor
from collector.ingest.pipeline.scrub import ScrubCounts
from collector.ingest.pipeline.steps import Pipeline, build_pipeline, drop_automation
from tests.conftest import make_settings
from tests.eventlib import NOW, event, request

SETTINGS = make_settings(Path("unused"))
PEPPER = b"p" * 32
STEPS = [
    "drop_automation",
    "drop_prefetch",
    "put_privacy",
    "put_device",
    "strip_click_ids",
    "put_url",
    "drop_foreign_page",
    "put_scrubbed",
    "put_visitor_hash",
]


def salt_for(day: date) -> bytes:
    return b"s" * 32


GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def test_the_steps_run_in_this_order_and_counting_scrubs_comes_last_when_asked_for() -> None:
    assert build_pipeline(SETTINGS, PEPPER, salt_for, detect).names == STEPS
    assert build_pipeline(SETTINGS, PEPPER, salt_for, detect, ScrubCounts()).names == [*STEPS, "count_scrubbed"]


def test_a_consented_pageview_comes_out_complete_and_without_identifiers() -> None:
    scrubbed = ScrubCounts()
    out = build_pipeline(SETTINGS, PEPPER, salt_for, detect, scrubbed).run(
        event(
            raw_id="consented_Abc12345",
            url="https://example.com/users/jane%40x.com?gclid=9&utm_source=news",
            referrer="https://example.com/",
        )
    )
    columns = ("dropped", "hostname", "path", "referrer_host", "consented")
    assert (out.device.device_type, out.device.os_name, out.device.browser_name) == ("desktop", "Windows", "Chrome")
    assert {c: getattr(out, c) for c in columns} == {
        "dropped": None,
        "hostname": "example.com",
        "path": "/users/[email]",
        "referrer_host": None,
        "consented": True,
    }
    assert dict(out.utm) == {"utm_source": "news"}
    assert (out.visitor, out.raw_id) == (consented_visitor(PEPPER, "example.com", "consented_Abc12345"), None)
    assert out.url == "https://example.com/users/jane%40x.com?utm_source=news"
    assert out.scrubbed == (("click_id", "gclid"), ("email", "path"))
    assert sum(scrubbed.take().values()) == 2


def test_the_first_drop_ends_the_run_and_is_counted_by_site_and_reason() -> None:
    pipeline = build_pipeline(SETTINGS, PEPPER, salt_for, detect)
    bot = pipeline.run(event(request=request(user_agent=GOOGLEBOT, prefetch=False), url="https://"))
    assert bot.dropped is DropReason.BOT
    assert bot.hostname is None, "put_url never ran"
    assert pipeline.run(event(webdriver=True, request=request(prefetch=True))).dropped is DropReason.AUTOMATION
    assert pipeline.run(event(site="other.org", url="https://")).dropped is DropReason.INVALID_URL
    pipeline.run(event(webdriver=True))
    pipeline.run(event())
    assert pipeline.drops == Counter(
        {
            ("example.com", DropReason.BOT): 1,
            ("example.com", DropReason.AUTOMATION): 2,
            ("other.org", DropReason.INVALID_URL): 1,
        }
    )


def test_a_gpc_event_loses_its_id_before_the_visitor_hash_and_gets_none() -> None:
    out = build_pipeline(SETTINGS, PEPPER, salt_for, detect).run(
        event(raw_id="consented_Abc12345", request=request(gpc=True))
    )
    assert (out.dropped, out.anonymous, out.visitor, out.consented, out.raw_id) == (None, True, None, False, None)


def test_a_pipeline_of_any_named_steps_passes_the_event_through_each() -> None:
    def rename(e: Event) -> Event:
        return e._replace(name=e.name + "!")

    pipeline = Pipeline([("rename", rename), ("drop_automation", drop_automation), ("again", rename)])
    assert pipeline.run(event()).name == "pageview!!"
    assert pipeline.run(event(webdriver=True)).name == "pageview!"
    assert pipeline.drops == Counter({("example.com", DropReason.AUTOMATION): 1})
    assert event(ts=NOW).ts == NOW
