"""The zygote of the journal processes that run the pipeline: it preloads the device rules they detect with."""

from __future__ import annotations

from collector.devices import hardware
from collector.devices.detect import warm
from collector.durable.zygote import zygote_for

zygote = zygote_for(__name__)


def preload() -> None:
    """Every rule but the per-brand model rules (about 3 s of CPU)."""
    warm(all_models=False)  # no background thread: the zygote must stay thread-free to fork


def idle() -> bool:
    """Build one brand's model rules; False once they are all built."""
    database = hardware.database()
    if not database.complete:
        database.build_next()
    return not database.complete
