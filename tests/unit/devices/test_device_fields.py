"""Device and Event name the detected device's fields alike, so detection results copy onto events by name."""

from dataclasses import fields

from collector.devices.detect import Device
from collector.events import DEVICE_FIELDS, Event


def test_device_starts_with_the_events_device_fields() -> None:
    names = tuple(f.name for f in fields(Device))
    assert names[: len(DEVICE_FIELDS)] == DEVICE_FIELDS
    assert names[len(DEVICE_FIELDS) :] == ("is_bot", "bot_name")
    assert set(DEVICE_FIELDS) <= set(Event._fields)
    assert DEVICE_FIELDS[0] == "device_type" and DEVICE_FIELDS[-1] == "browser_version"
