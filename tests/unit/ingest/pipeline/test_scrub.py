"""Scrubbing: identifier-shaped values replaced by their kind, the strip_click_ids, put_scrubbed and count_scrubbed
steps, and the scrub counts per site and day."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from collector.ingest.pipeline.scrub import (
    ScrubCounts,
    make_count_scrubbed,
    put_scrubbed,
    scrub_path,
    scrub_text,
    strip_click_ids,
)
from tests.eventlib import NOW, event


def scrubbed(text: str) -> tuple[str, list[str]]:
    hits: list[tuple[str, str]] = []
    out = scrub_text(text, "props", hits)
    return out, [kind for kind, _ in hits]


@pytest.mark.parametrize(
    ("text", "expected", "kinds"),
    [
        ("jane.doe+news@mail.example.com", "[email]", ["email"]),
        ("write to Jane@X.co please", "write to [email] please", ["email"]),
        ("+84 912 345 678", "[phone]", ["phone"]),
        ("0912.345.678", "[phone]", ["phone"]),
        ("(028) 3822-1234", "([phone]", ["phone"]),
        ("card 4111111111111111", "card [number]", ["number"]),
        ("id 123456789012345678", "id [number]", ["number"]),
        ("6f1c2b9e-3a4d-4b5c-8d7e-0f1a2b3c4d5e", "[id]", ["id"]),
        ("reset eyJhbGciOiJIUzI1NiJ9abcdef0123456789XYZ", "reset [id]", ["id"]),
    ],
)
def test_identifier_shaped_values_are_replaced(text: str, expected: str, kinds: list[str]) -> None:
    assert scrubbed(text) == (expected, kinds)


@pytest.mark.parametrize(
    "text", ["order 12345", "2024-05-20", "129.900.000 VND", "v1.2.3", "blue-shoes", "size 42", "12 items in 2024"]
)
def test_ordinary_values_are_kept(text: str) -> None:
    assert scrubbed(text) == (text, [])


def test_path_segments_holding_identifiers_are_replaced_even_when_percent_encoded() -> None:
    hits: list[tuple[str, str]] = []
    assert scrub_path("/users/jane%40x.com/orders/0912345678", hits) == "/users/[email]/orders/[phone]"
    assert hits == [("email", "path"), ("phone", "path")]
    assert scrub_path("/products/blue-shoes", hits) == "/products/blue-shoes"


def test_click_ids_are_stripped_from_the_page_url_and_noted_per_name() -> None:
    out = strip_click_ids(
        event(url="https://example.com/a?gclid=1&utm_source=n&MSCLKID=2&q=x", scrubbed=(("email", "path"),))
    )
    assert out.url == "https://example.com/a?utm_source=n&q=x"
    assert out.scrubbed == (("email", "path"), ("click_id", "gclid"), ("click_id", "msclkid"))
    assert out.dropped is None


def test_a_url_and_a_path_seen_before_are_stripped_scrubbed_and_noted_again_on_each_event() -> None:
    url, path = "https://example.com/u/jane%40x.com?fbclid=9&utm_source=n", "/u/jane%40x.com/0912345678"
    for _ in range(3):  # the answers for a URL or path are kept: each event still gets its own hits
        stripped = strip_click_ids(event(url=url))
        assert (stripped.url, stripped.scrubbed) == (
            "https://example.com/u/jane%40x.com?utm_source=n",
            (("click_id", "fbclid"),),
        )
        out = put_scrubbed(event(path=path, scrubbed=(("click_id", "fbclid"),)))
        assert out.path == "/u/[email]/[phone]"
        assert out.scrubbed == (("click_id", "fbclid"), ("email", "path"), ("phone", "path"))


def test_a_url_without_click_ids_passes_strip_click_ids_as_the_same_object() -> None:
    kept = event(url="https://example.com/a?utm_campaign=spring&gclid_like=1")
    assert strip_click_ids(kept) is kept


def test_put_scrubbed_cleans_path_name_campaign_and_props_and_notes_each_hit() -> None:
    parsed = event(
        name="signup jane@x.com",
        props={"plan": "pro", "who": "jane@x.com", "jane@x.com": "key"},
        path="/users/jane%40x.com/orders/12345",
        utm={"utm_source": "mail", "utm_content": "+84 912 345 678"},
    )
    out = put_scrubbed(parsed)
    assert out.path == "/users/[email]/orders/12345"
    assert out.name == "signup [email]"
    assert dict(out.utm) == {"utm_source": "mail", "utm_content": "[phone]"}
    assert dict(out.props) == {"plan": "pro", "who": "[email]", "[email]": "key"}
    assert out.scrubbed == (
        ("email", "path"),
        ("email", "name"),
        ("phone", "utm"),
        ("email", "props"),
        ("email", "props"),
    )


def test_a_clean_event_passes_put_scrubbed_as_the_same_object() -> None:
    clean = event(path="/products/blue-shoes", props={"size": "42"}, utm={"utm_campaign": "spring 2026"})
    assert put_scrubbed(clean) is clean


def test_an_event_without_a_path_keeps_none_while_its_props_are_scrubbed() -> None:
    out = put_scrubbed(event(props={"phone": "0912.345.678"}))
    assert (out.path, dict(out.props), out.scrubbed) == (None, {"phone": "[phone]"}, (("phone", "props"),))


def test_count_scrubbed_counts_each_note_per_site_day_kind_and_field() -> None:
    counts = ScrubCounts()
    count = make_count_scrubbed(counts)
    noted = event(scrubbed=(("click_id", "gclid"), ("email", "path"), ("email", "path")))
    assert count(noted) is noted
    assert count(event()) == event()
    count(event(site="other.org", scrubbed=(("phone", "props"),), ts=NOW + timedelta(days=1)))
    day, next_day = NOW.date().isoformat(), (NOW + timedelta(days=1)).date().isoformat()
    assert counts.take() == Counter(
        {
            ("example.com", day, "click_id", "gclid"): 1,
            ("example.com", day, "email", "path"): 2,
            ("other.org", next_day, "phone", "props"): 1,
        }
    )
    assert counts.take() == Counter(), "take empties the counts"


def test_counts_put_back_after_a_failed_load_are_added_to_new_ones() -> None:
    counts = ScrubCounts()
    counts.add(event(scrubbed=(("email", "props"),)))
    taken = counts.take()
    counts.add(event(scrubbed=(("email", "props"),)))
    counts.put_back(taken)
    assert counts.take() == Counter({("example.com", NOW.date().isoformat(), "email", "props"): 2})
