"""The tag for a local site and the demo page say what a newcomer needs to see a visit counted."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from collector.http.pages import demo_page
from collector.http.snippet import is_local, load_snippet, tag


@pytest.mark.parametrize("site", ["localhost", "app.localhost", "127.0.0.1"])
def test_the_tag_for_a_local_site_allows_local_pages(site: str) -> None:
    assert is_local(site)
    assert " data-allow-local" in tag(load_snippet(), "http://127.0.0.1:8000", site)


@pytest.mark.parametrize("site", ["example.com", "localhost.example.com", "example.com.127"])
def test_the_tag_for_a_public_site_does_not(site: str) -> None:
    assert not is_local(site)
    assert "data-allow-local" not in tag(load_snippet(), "https://stats.example.com", site)


def test_the_demo_page_names_the_command_of_a_clone_and_the_automation_drop() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": [(b"host", b"127.0.0.1:8000")]})
    page = bytes(demo_page(request, "localhost").body).decode()
    assert "<code>.venv/bin/collector status</code>" in page
    assert "counted\nunder the drop reason <code>automation</code>, not as a visit" in page
