"""put_device: the detector's answer fills the device columns; a bot is dropped; the snippet's client hints
count only for events that are not anonymous."""

from __future__ import annotations

from collections.abc import Mapping

from collector.devices.detect import Device
from collector.events import DropReason
from collector.ingest.pipeline.steps import make_put_device
from tests.conftest import DESKTOP_UA
from tests.eventlib import event, request

PIXEL = Device(
    device_type="phone",
    device_brand="Google",
    device_model="Pixel 7",
    device_code="GVU6C",
    os_name="Android",
    os_version="14",
    browser_name="Chrome",
    browser_version="124",
)


class Detector:
    """Answers `device` and remembers each (user agent, hints) it was asked about."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.asked: list[tuple[str, dict[str, str]]] = []

    def __call__(self, user_agent: str, hints: Mapping[str, str]) -> Device:
        self.asked.append((user_agent, dict(hints)))
        return self.device


def test_the_detected_device_fills_every_device_column() -> None:
    out = make_put_device(Detector(PIXEL))(event())
    assert out.dropped is None
    assert (
        out.device_type,
        out.device_brand,
        out.device_model,
        out.device_code,
        out.os_name,
        out.os_version,
        out.browser_name,
        out.browser_version,
    ) == ("phone", "Google", "Pixel 7", "GVU6C", "Android", "14", "Chrome", "124")


def test_a_bot_is_dropped_with_no_device_columns() -> None:
    out = make_put_device(Detector(Device(is_bot=True, bot_name="Googlebot")))(event())
    assert out.dropped is DropReason.BOT
    assert out.device_type is None and out.browser_name is None


def test_the_snippets_hints_are_added_to_the_request_headers_for_detection() -> None:
    detector = Detector(PIXEL)
    hinted = event(
        client_hints={"model": "Pixel 7", "mobile": True},
        request=request(user_agent="reduced", hints={"Sec-CH-UA-Platform": '"Android"'}),
    )
    make_put_device(detector)(hinted)
    assert detector.asked == [
        (
            "reduced",
            {"Sec-CH-UA-Platform": '"Android"', "Sec-CH-UA-Model": '"Pixel 7"', "Sec-CH-UA-Mobile": "?1"},
        )
    ]


def test_an_anonymous_event_is_detected_from_the_request_headers_only() -> None:
    detector = Detector(PIXEL)
    make_put_device(detector)(event(anonymous=True, client_hints={"model": "Pixel 7"}))
    assert detector.asked == [(DESKTOP_UA, {})]
