"""drop_foreign_page: a page on the site's domain, a subdomain or a registered origin's host is kept; any
other host is dropped as foreign_page, so a forged `u` is never stored as one of the site's pages."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from collector.events import DropReason
from collector.ingest.pipeline.hosts import make_drop_foreign_page, on_site, origin_hosts
from collector.ingest.pipeline.steps import put_url
from collector.settings import Site
from tests.conftest import make_settings
from tests.eventlib import event

SETTINGS = make_settings(Path("unused"))
drop_foreign_page = make_drop_foreign_page(SETTINGS)


@pytest.mark.parametrize(
    "url",
    ["https://example.com/a", "https://WWW.Example.com/b", "https://shop.eu.example.com/c", "http://example.com:8080/"],
)
def test_pages_on_the_domain_and_its_subdomains_are_kept(url: str) -> None:
    located = put_url(event(url=url))
    assert drop_foreign_page(located) is located


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/forged-page",
        "https://notexample.com/",
        "https://example.com.evil.net/",
        "https://other.org/",
    ],
)
def test_pages_on_any_other_host_are_dropped_as_foreign(url: str) -> None:
    assert drop_foreign_page(put_url(event(url=url))).dropped is DropReason.FOREIGN_PAGE


def test_the_host_of_a_registered_origin_counts_as_the_sites_own() -> None:
    settings = replace(SETTINGS, sites=(Site("example.com", ("https://example.com", "https://shop.example.net")),))
    step = make_drop_foreign_page(settings)
    assert step(put_url(event(url="https://shop.example.net/cart"))).dropped is None
    assert step(put_url(event(url="https://example.net/"))).dropped is DropReason.FOREIGN_PAGE


def test_a_local_site_keeps_its_pages_on_localhost_and_the_loopback_origin() -> None:
    local = Site("localhost", ("http://localhost:8000", "http://127.0.0.1:8000"))
    step = make_drop_foreign_page(replace(SETTINGS, sites=(local,)))
    for url in ("http://localhost:8000/", "http://127.0.0.1:8000/demo"):
        assert step(put_url(event(site="localhost", url=url))).dropped is None
    assert step(put_url(event(site="localhost", url="http://192.168.1.9/"))).dropped is DropReason.FOREIGN_PAGE


def test_an_unregistered_site_or_an_event_without_host_is_left_to_the_other_checks() -> None:
    unknown = put_url(event(site="unknown.example", url="https://evil.example/"))
    assert drop_foreign_page(unknown) is unknown
    hostless = event()
    assert drop_foreign_page(hostless) is hostless


def test_origin_hosts_and_on_site() -> None:
    assert origin_hosts(Site("example.com", ("https://Shop.Example.net:8443", "https://example.com"))) == {
        "shop.example.net",
        "example.com",
    }
    assert on_site("a.example.com", "example.com", frozenset())
    assert not on_site("aexample.com", "example.com", frozenset())
