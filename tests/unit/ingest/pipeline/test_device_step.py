"""put_device with the real detector: its answer fills the device columns, a bot is dropped, and the
snippet's client hints count only for events that are not anonymous."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collector.devices import hardware
from collector.devices.detect import Detector, warm
from collector.events import DropReason, Event
from collector.ingest.pipeline.steps import make_put_device
from tests.eventlib import event, request

PIXEL_7 = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
# Chrome's reduced User-Agent: Android 10 and the model "K" whatever the phone; the hints say what it is.
REDUCED = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture(scope="module")
def detector() -> Iterator[Detector]:
    warm()
    hardware.database()
    yield Detector()


def device_columns(out: Event) -> tuple[object, ...]:
    return (
        out.device.device_type,
        out.device.device_brand,
        out.device.device_model,
        out.device.os_name,
        out.device.os_version,
        out.device.browser_name,
    )


def test_the_detected_device_fills_the_device_columns(detector: Detector) -> None:
    out = make_put_device(detector.detect)(event(request=request(user_agent=PIXEL_7)))
    assert out.dropped is None
    assert device_columns(out) == ("mobile", "Google", "Pixel 7", "Android", "14", "Chrome Mobile")


def test_a_bot_is_dropped_with_no_device_columns(detector: Detector) -> None:
    out = make_put_device(detector.detect)(event(request=request(user_agent=GOOGLEBOT)))
    assert out.dropped is DropReason.BOT
    assert out.device.device_type is None and out.device.browser_name is None


def test_the_snippets_hints_name_the_model_a_reduced_agent_hides(detector: Detector) -> None:
    hinted = event(client_hints={"model": "Pixel 7", "platformVersion": "14.0.0"}, request=request(user_agent=REDUCED))
    out = make_put_device(detector.detect)(hinted)
    assert (out.device.device_brand, out.device.device_model) == ("Google", "Pixel 7")


def test_an_anonymous_events_hints_are_ignored(detector: Detector) -> None:
    hinted = event(anonymous=True, client_hints={"model": "Pixel 7"}, request=request(user_agent=REDUCED))
    out = make_put_device(detector.detect)(hinted)
    assert out.device.device_model != "Pixel 7"


def test_a_web_views_browser_is_the_app_its_request_names(detector: Detector) -> None:
    in_app = request(user_agent=PIXEL_7, hints={"x-requested-with": "com.instagram.android"})
    out = make_put_device(detector.detect)(event(request=in_app))
    assert (out.device.browser_name, out.device.device_model) == ("Instagram", "Pixel 7")
