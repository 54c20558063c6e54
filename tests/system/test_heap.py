from __future__ import annotations

import gc
from pathlib import Path

from tests.conftest import LiveServer, make_settings


def test_the_server_leaves_what_start_up_built_out_of_garbage_collections(tmp_path: Path) -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    server = LiveServer(make_settings(tmp_path)).start()
    try:
        frozen = gc.get_freeze_count()
    finally:
        server.stop()
        gc.unfreeze()
    # Settings, snippet, device and bot rules: tens of thousands of objects no full collection walks again.
    assert frozen > 20_000
