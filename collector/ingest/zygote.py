"""The zygote of the journal processes that run the pipeline: it preloads the device rules they detect with."""

from __future__ import annotations

from collector.devices import hardware
from collector.devices.detect import warm
from collector.durable.zygote import zygote_for

zygote = zygote_for(__name__)


def preload() -> None:
    """Every rule but the per-brand model rules, which a journal process loads when a brand first shows up."""
    warm()


def idle() -> bool:
    """Compile one more brand's model rules into the rules cache; False once they all are."""
    return hardware.database().cache_next()
