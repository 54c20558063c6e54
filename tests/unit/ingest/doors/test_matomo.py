"""Matomo tracking API requests as the collector's own fields."""

from __future__ import annotations

import pytest

from collector.ingest.doors.hits import SiteIds
from collector.ingest.doors.matomo import params, translate
from collector.ingest.parsing import ParseError

IDS = SiteIds({}, {"3": "a.com"}, frozenset())
CONSENTED = SiteIds({}, {"3": "a.com"}, frozenset({"a.com"}))


def test_a_page_view_gets_its_referrer_screen_and_first_language() -> None:
    p = params(
        "?idsite=3&rec=1&url=https%3A%2F%2Fa.com%2Fx&urlref=https%3A%2F%2Fb.org%2F&res=390x844&lang=fr-FR,fr;q=0.9"
    )
    (hit,) = translate([p], IDS)
    assert hit.raw == {
        "d": "a.com", "u": "https://a.com/x", "r": "https://b.org/", "w": 390, "h": 844, "l": "fr-FR", "id": None,
    }  # fmt: skip


def test_an_event_becomes_a_custom_event_named_by_its_category_with_all_four_fields() -> None:
    p = params("idsite=3&rec=1&url=https://a.com/&e_c=Video&e_a=Play&e_n=intro&e_v=2.5")
    (hit,) = translate([p], IDS)
    assert hit.raw["n"] == "Video"
    assert hit.raw["p"] == {"category": "Video", "action": "Play", "name": "intro", "value": "2.5"}


def test_outlinks_and_downloads_become_their_events() -> None:
    (link,) = translate([params("idsite=3&rec=1&url=https://a.com/&link=https://b.org/")], IDS)
    (file,) = translate([params("idsite=3&rec=1&url=https://a.com/&download=https://a.com/f.pdf")], IDS)
    assert (link.raw["n"], file.raw["n"]) == ("Outbound Link: Click", "File Download")


def test_heartbeats_impressions_and_requests_without_rec_record_nothing() -> None:
    requests = [params(q) for q in ("idsite=3&url=https://a.com/", "idsite=3&rec=1&ping=1", "idsite=3&rec=1&c_n=b")]
    assert translate(requests, IDS) == []


def test_visitor_ids_are_used_only_for_a_site_that_sends_them_after_consent() -> None:
    p = params("idsite=3&rec=1&url=https://a.com/&_id=0123456789abcdef&uid=a%40b.c")
    assert translate([p], IDS)[0].raw["id"] is None
    assert translate([p], CONSENTED)[0].raw["id"] == "0123456789abcdef", "a uid that is not an id is skipped"


def test_an_unknown_idsite_names_the_setting_and_the_bulk_index() -> None:
    with pytest.raises(ParseError) as caught:
        translate([params("idsite=3&rec=1&url=https://a.com/"), params("idsite=9&rec=1")], IDS)
    assert (caught.value.status, caught.value.index) == (403, 1)
    assert "matomo_site_id" in caught.value.message


def test_fields_the_collector_cannot_use_are_unknown_rather_than_an_error() -> None:
    p = params("idsite=3&rec=1&url=https://a.com/&lang=en_US&urlref=android-app%3A%2F%2Fcom.x&res=0x0")
    (hit,) = translate([p], IDS)
    assert (hit.raw["l"], hit.raw["r"], hit.raw["w"], hit.raw["h"]) == ("en-US", None, None, None)
    (odd,) = translate([params("idsite=3&rec=1&url=https://a.com/&lang=*&res=999999x1")], IDS)
    assert (odd.raw["l"], odd.raw["w"], odd.raw["h"]) == (None, None, 1)
