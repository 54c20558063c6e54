"""The ingest pipeline: a named list of small Event -> Event steps that stops at the first drop.

Steps are pure given what they were built with (a detector, the keys, the day's salt); they import
neither Starlette nor DuckDB. Writing is not a step: the handler hands surviving events to the sink.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import date

from collector.devices.detect import detect, hints_from_snippet
from collector.events import Device, DropReason, Event
from collector.identifiers.visitor import consented_visitor, daily_visitor
from collector.ingest.pipeline.hosts import make_drop_foreign_page
from collector.ingest.pipeline.scrub import ScrubCounts, make_count_scrubbed, put_scrubbed, strip_click_ids
from collector.ingest.pipeline.urls import BadURL, referrer_host, split_page_url
from collector.settings import Settings

Step = Callable[[Event], Event]
Detect = Callable[[str, Mapping[str, str]], Device]
SaltFor = Callable[[date], bytes]


def drop(event: Event, reason: DropReason) -> Event:
    return event._replace(dropped=reason)


def drop_automation(event: Event) -> Event:
    return drop(event, DropReason.AUTOMATION) if event.webdriver else event


def drop_prefetch(event: Event) -> Event:
    return drop(event, DropReason.PREFETCH) if event.request.prefetch else event


def make_put_device(detector: Detect) -> Step:
    def put_device(event: Event) -> Event:
        hints = event.request.hints
        if event.client_hints and not event.anonymous:
            hints = {**hints, **hints_from_snippet(event.client_hints)}
        device = detector(event.request.user_agent, hints)
        if device.is_bot:
            return drop(event, DropReason.BOT)
        return event._replace(device=device)

    return put_device


def put_url(event: Event) -> Event:
    try:
        hostname, path, campaign = split_page_url(event.url)
    except BadURL:
        return drop(event, DropReason.INVALID_URL)
    return event._replace(
        hostname=hostname,
        path=path,
        utm=campaign,
        referrer_host=referrer_host(event.referrer, hostname),
    )


def make_put_privacy(settings: Settings) -> Step:
    def put_privacy(event: Event) -> Event:
        if not (event.request.gpc or event.client_gpc):
            return event
        site = settings.site(event.site)
        if site is not None and site.gpc_mode == "drop":
            return drop(event, DropReason.PRIVACY_SIGNAL)
        return event._replace(anonymous=True, raw_id=None, client_hints={})

    return put_privacy


def make_put_visitor_hash(pepper: bytes, salt_for: SaltFor) -> Step:
    def put_visitor_hash(event: Event) -> Event:
        if event.anonymous:
            return event._replace(visitor=None, raw_id=None)
        if event.raw_id:
            return event._replace(
                visitor=consented_visitor(pepper, event.site, event.raw_id), consented=True, raw_id=None
            )
        salt = salt_for(event.ts.date())
        return event._replace(visitor=daily_visitor(salt, event.site, event.request.ip, event.request.user_agent))

    return put_visitor_hash


class Pipeline:
    def __init__(self, steps: list[tuple[str, Step]]) -> None:
        self.steps = steps
        self._functions = [step for _, step in steps]
        self.drops: Counter[tuple[str, DropReason]] = Counter()

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.steps]

    def run(self, event: Event) -> Event:
        for step in self._functions:
            event = step(event)
            if event.dropped is not None:
                self.drops[(event.site, event.dropped)] += 1
                return event
        return event


def build_pipeline(
    settings: Settings,
    pepper: bytes,
    salt_for: SaltFor,
    detector: Detect = detect,
    scrubbed: ScrubCounts | None = None,
) -> Pipeline:
    steps: list[tuple[str, Step]] = [
        ("drop_automation", drop_automation),
        ("drop_prefetch", drop_prefetch),
        ("put_privacy", make_put_privacy(settings)),
        ("put_device", make_put_device(detector)),
        ("strip_click_ids", strip_click_ids),
        ("put_url", put_url),
        ("drop_foreign_page", make_drop_foreign_page(settings)),
        ("put_scrubbed", put_scrubbed),
        ("put_visitor_hash", make_put_visitor_hash(pepper, salt_for)),
    ]
    if scrubbed is not None:
        steps.append(("count_scrubbed", make_count_scrubbed(scrubbed)))
    return Pipeline(steps)
