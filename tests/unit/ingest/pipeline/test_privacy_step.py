"""put_privacy: a GPC or DNT signal (request.gpc, set by ingest for Sec-GPC: 1 or DNT: 1) or the snippet's own
GPC mark makes the event anonymous, without id and client hints; a site in "drop" mode drops it instead."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from collector.events import DropReason, Event
from collector.ingest.pipeline.steps import make_put_privacy
from collector.settings import Site
from tests.conftest import ORIGIN, make_settings
from tests.eventlib import event, request

SETTINGS = make_settings(Path("unused"))
put_privacy = make_put_privacy(SETTINGS)
HINTS = {"model": "Pixel 7", "platform": "Android"}


def identified(**fields: object) -> Event:
    return event(raw_id="consented_Abc12345", client_hints=HINTS, **fields)


@pytest.mark.parametrize(
    "signalled",
    [identified(request=request(gpc=True)), identified(client_gpc=True)],
    ids=["request-gpc-or-dnt", "snippet-gpc"],
)
def test_a_privacy_signal_keeps_the_event_anonymous_without_id_or_hints(signalled: Event) -> None:
    out = put_privacy(signalled)
    assert out.dropped is None
    assert (out.anonymous, out.raw_id, out.client_hints) == (True, None, {})
    assert out._replace(anonymous=False, raw_id="consented_Abc12345", client_hints=HINTS) == signalled


def test_without_a_signal_the_event_passes_unchanged() -> None:
    kept = identified()
    assert put_privacy(kept) is kept


def test_a_site_in_drop_mode_drops_signalled_events_only() -> None:
    drop_mode = replace(SETTINGS, sites=(Site("example.com", (ORIGIN,), gpc_mode="drop"),))
    put = make_put_privacy(drop_mode)
    assert put(identified(request=request(gpc=True))).dropped is DropReason.PRIVACY_SIGNAL
    assert put(identified(client_gpc=True)).dropped is DropReason.PRIVACY_SIGNAL
    assert put(identified()).dropped is None


def test_the_site_is_looked_up_case_insensitively_for_its_mode() -> None:
    drop_mode = replace(SETTINGS, sites=(Site("example.com", (ORIGIN,), gpc_mode="drop"),))
    assert make_put_privacy(drop_mode)(event(site="EXAMPLE.com", client_gpc=True)).dropped is DropReason.PRIVACY_SIGNAL


def test_a_signalled_event_of_an_unknown_site_is_made_anonymous_not_dropped() -> None:
    # Unknown sites are refused with a 403 before the pipeline runs; here the step only finds no site mode.
    out = put_privacy(identified(site="unknown.example", client_gpc=True))
    assert (out.dropped, out.anonymous, out.raw_id) == (None, True, None)
