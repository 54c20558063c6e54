"""The snippet tag refuses a URL or site that cannot go into it, as code and as `collector snippet`."""

from __future__ import annotations

import pytest

from collector.cli.main import main
from collector.http.snippet import TagError, load_snippet, tag


@pytest.mark.parametrize(
    ("url", "site"),
    [
        ("ftp://stats.example.com", "example.com"),
        ("https://stats.example.com/?x=1", "example.com"),
        ("https://stats.example.com", 'example.com" onload="alert(1)'),
        ("https://stats.example.com", ""),
    ],
)
def test_snippet_tag_refuses_what_cannot_go_into_it(url: str, site: str) -> None:
    with pytest.raises(TagError):
        tag(load_snippet(), url, site)
    assert main(["snippet", "--site", site, "--url", url]) == 2
