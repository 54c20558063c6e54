from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from collector.ingest.pipeline.scrub import scrub_path, scrub_text
from collector.ingest.pipeline.trackers import TRACKER_PARAMS, is_tracker, strip_trackers
from tests.conftest import DESKTOP_UA, ORIGIN, LiveServer


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


def test_tracker_list_strips_click_ids_and_keeps_other_parameters() -> None:
    url, removed = strip_trackers("https://x.com/a?gclid=1&utm_source=n&FBCLID=2&q=shoes&_hsenc=3&pk_campaign=c")
    assert removed == ["gclid", "fbclid", "_hsenc", "pk_campaign"]
    assert url == "https://x.com/a?utm_source=n&q=shoes"
    assert not is_tracker("utm_campaign")


def test_every_tracker_parameter_is_documented_in_privacy_md() -> None:
    text = (Path(__file__).resolve().parents[2] / "PRIVACY.md").read_text(encoding="utf-8")
    missing = sorted(p for p in TRACKER_PARAMS if f"`{p}`" not in text)
    assert missing == []


def post(server: LiveServer, body: str) -> httpx.Response:
    headers = {"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": DESKTOP_UA}
    return httpx.post(f"{server.url}/api/event", content=body, headers=headers)


def test_stored_event_is_scrubbed_and_scrubbing_is_counted_per_site(server: LiveServer) -> None:
    body = (
        '{"d":"example.com","n":"signup","u":"https://example.com/users/jane%40x.com?email=jane@x.com'
        '&utm_content=jane@x.com&utm_source=mail&gclid=abc&fbclid=def",'
        '"p":{"contact":"+84 912 345 678","plan":"pro","who":"jane@x.com"}}'
    )
    assert post(server, body).status_code == 202
    rows = server.query("SELECT path, utm_content, utm_source, props::VARCHAR FROM events")
    assert rows == [("/users/[email]", "[email]", "mail", '{"contact":"[phone]","plan":"pro","who":"[email]"}')]
    counts = server.query("SELECT kind, field, hits FROM scrubbed WHERE site = 'example.com' ORDER BY ALL")
    assert counts == [
        ("click_id", "fbclid", 1),
        ("click_id", "gclid", 1),
        ("email", "path", 1),
        ("email", "props", 1),
        ("email", "utm", 1),
        ("phone", "props", 1),
    ]
