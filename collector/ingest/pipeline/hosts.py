"""Whose page an event is on: the site's domain, one of its subdomains, or the host of a registered origin.

A page on any other host is dropped as `foreign_page`: the Origin header proves only where the request came
from, and a forged `u` would otherwise be stored as a page of the site. The CSP report endpoint uses the
same rule for what counts as first party (collector.privacy.csp).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from collector.events import DropReason, Event
from collector.settings import Settings, Site


def origin_hosts(site: Site) -> frozenset[str]:
    """The hosts of the site's registered origins, lower case."""
    return frozenset(host for origin in site.origins if (host := (urlsplit(origin).hostname or "").lower()))


def on_site(host: str, domain: str, hosts: frozenset[str]) -> bool:
    """True when `host` is `domain`, a subdomain of it, or one of the origin `hosts`."""
    return host == domain or host.endswith("." + domain) or host in hosts


def make_drop_foreign_page(settings: Settings) -> Callable[[Event], Event]:
    sites = {site.domain.lower(): (site.domain.lower(), origin_hosts(site)) for site in settings.sites}

    def drop_foreign_page(event: Event) -> Event:
        known = sites.get(event.site)
        if known is None or event.hostname is None:
            return event  # an unregistered site is refused before the pipeline; put_url drops a page without host
        if on_site(event.hostname, *known):
            return event
        return event._replace(dropped=DropReason.FOREIGN_PAGE)

    return drop_foreign_page
