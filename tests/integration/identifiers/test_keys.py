"""The key file: created with mode 0600, refused when others may read it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from collector.identifiers.keys import load_keys


def test_the_key_file_is_created_with_mode_0600_and_refused_when_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "collector.key"
    keys = load_keys(path, env={})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(keys.pepper) == 32
    path.chmod(0o644)
    with pytest.raises(Exception, match="readable by others"):
        load_keys(path, env={})
