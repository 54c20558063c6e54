"""Umami's /api/send payloads as the collector's own fields."""

from __future__ import annotations

import pytest

from collector.ingest.doors.hits import SiteIds
from collector.ingest.doors.umami import translate
from collector.ingest.parsing import ParseError

WEBSITE = "5c7a1f0e-6d2b-4c44-9a51-2f0e0c1d7b90"
IDS = SiteIds({WEBSITE: "a.com"}, {}, frozenset())
CONSENTED = SiteIds({WEBSITE: "a.com"}, {}, frozenset({"a.com"}))


def event(**payload: object) -> dict[str, object]:
    return {"type": "event", "payload": {"website": WEBSITE, **payload}}


def test_a_browser_page_view_gets_its_host_screen_and_language() -> None:
    body = event(hostname="a.com", url="/p?q=1", referrer="", screen="1920x1080", language="de-DE", title="T")
    (hit,) = translate(body, IDS)
    assert hit.raw == {
        "d": "a.com", "n": "pageview", "u": "https://a.com/p?q=1", "r": None,
        "w": 1920, "h": 1080, "l": "de-DE", "id": None,
    }  # fmt: skip


def test_a_named_event_keeps_its_scalar_data_as_props() -> None:
    (hit,) = translate(event(url="https://a.com/x", name="Buy", data={"sku": "A1", "n": 2, "nested": {"x": 1}}), IDS)
    assert (hit.raw["n"], hit.raw["p"]) == ("Buy", {"sku": "A1", "n": 2})


def test_identify_stores_nothing() -> None:
    assert translate({"type": "identify", "payload": {"website": WEBSITE, "data": {"email": "a@b.c"}}}, IDS) == []


def test_an_id_is_a_visitor_id_only_for_a_site_that_sends_ids_after_consent() -> None:
    body = event(url="https://a.com/", id="user_12345678")
    assert translate(body, IDS)[0].raw["id"] is None
    assert translate(body, CONSENTED)[0].raw["id"] == "user_12345678"


def test_an_unknown_website_is_refused_with_the_setting_to_use() -> None:
    with pytest.raises(ParseError) as caught:
        translate({"type": "event", "payload": {"website": "nope"}}, IDS)
    assert caught.value.status == 403 and "umami_website_id" in caught.value.message


@pytest.mark.parametrize("body", [[], {"payload": 1}, {"type": "track", "payload": {}}])
def test_a_malformed_body_is_a_400(body: object) -> None:
    with pytest.raises(ParseError) as caught:
        translate(body, IDS)
    assert caught.value.status == 400
