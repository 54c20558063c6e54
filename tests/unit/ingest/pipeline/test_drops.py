"""drop_automation and drop_prefetch: the event is dropped with its reason, or passed on unchanged."""

from __future__ import annotations

from collector.events import DropReason
from collector.ingest.pipeline.steps import drop, drop_automation, drop_prefetch
from tests.eventlib import event, request


def test_a_webdriver_event_is_dropped_as_automation() -> None:
    out = drop_automation(event(webdriver=True))
    assert out.dropped is DropReason.AUTOMATION
    assert out._replace(dropped=None) == event(webdriver=True), "dropping changes nothing else"


def test_an_event_without_webdriver_passes_drop_automation_as_the_same_object() -> None:
    kept = event()
    assert drop_automation(kept) is kept


def test_a_prefetched_request_is_dropped_as_prefetch() -> None:
    assert drop_prefetch(event(request=request(prefetch=True))).dropped is DropReason.PREFETCH


def test_a_request_that_is_no_prefetch_passes_drop_prefetch_as_the_same_object() -> None:
    kept = event(webdriver=True)
    assert drop_prefetch(kept) is kept, "drop_prefetch looks at the request only"


def test_drop_reasons_are_the_strings_counted_in_the_drops_table() -> None:
    assert [str(r) for r in DropReason] == [
        "bot",
        "automation",
        "prefetch",
        "privacy_signal",
        "invalid_url",
        "unknown_site",
        "foreign_page",
    ]
    assert drop(event(), DropReason.BOT).dropped == "bot"
