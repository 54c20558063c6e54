"""put_visitor_hash: a consented id is hashed with the pepper and removed; a cookieless visitor gets the day's
salted hash of (site, IP, User-Agent); an anonymous event gets no hash at all."""

from __future__ import annotations

from datetime import date, timedelta

from collector.identifiers.visitor import consented_visitor, daily_visitor
from collector.ingest.pipeline.steps import make_put_visitor_hash
from tests.conftest import DESKTOP_UA, SITE
from tests.eventlib import NOW, event, request

PEPPER = b"p" * 32
SALTS = {NOW.date(): b"a" * 32, NOW.date() + timedelta(days=1): b"b" * 32}


def salt_for(day: date) -> bytes:
    return SALTS[day]


put_visitor_hash = make_put_visitor_hash(PEPPER, salt_for)


def test_a_consented_id_is_hashed_with_the_pepper_and_the_raw_id_removed() -> None:
    out = put_visitor_hash(event(raw_id="consented_Abc12345"))
    assert out.visitor == consented_visitor(PEPPER, SITE, "consented_Abc12345")
    assert (out.consented, out.raw_id) == (True, None)


def test_the_consented_hash_depends_on_the_pepper_and_the_site_not_the_day_or_address() -> None:
    first = put_visitor_hash(event(raw_id="consented_Abc12345")).visitor
    later = put_visitor_hash(
        event(raw_id="consented_Abc12345", ts=NOW + timedelta(days=1), request=request(ip="203.0.113.1"))
    ).visitor
    assert later == first
    other_pepper = make_put_visitor_hash(b"q" * 32, salt_for)(event(raw_id="consented_Abc12345")).visitor
    other_site = put_visitor_hash(event(raw_id="consented_Abc12345", site="other.org")).visitor
    assert len({first, other_pepper, other_site}) == 3


def test_a_cookieless_visitor_gets_the_days_salted_hash_and_is_not_consented() -> None:
    out = put_visitor_hash(event())
    assert out.visitor == daily_visitor(b"a" * 32, SITE, "198.51.100.7", DESKTOP_UA)
    assert (out.consented, out.raw_id) == (False, None)


def test_the_cookieless_hash_of_the_same_visitor_differs_between_days() -> None:
    today = put_visitor_hash(event()).visitor
    tomorrow = put_visitor_hash(event(ts=NOW + timedelta(days=1))).visitor
    assert tomorrow == daily_visitor(b"b" * 32, SITE, "198.51.100.7", DESKTOP_UA)
    assert today != tomorrow


def test_the_cookieless_hash_changes_with_the_address_or_the_user_agent() -> None:
    hashes = {
        put_visitor_hash(event()).visitor,
        put_visitor_hash(event(request=request(ip="198.51.100.8"))).visitor,
        put_visitor_hash(event(request=request(user_agent=DESKTOP_UA + " x"))).visitor,
    }
    assert len(hashes) == 3


def test_an_anonymous_event_gets_no_visitor_and_loses_its_id() -> None:
    out = put_visitor_hash(event(anonymous=True, raw_id="consented_Abc12345", visitor=42))
    assert (out.visitor, out.raw_id, out.consented) == (None, None, False)
