from pathlib import Path

import pytest

from collector.settings import ConfigError, load_settings
from collector.storage.store import open_database


def test_the_database_memory_limit_is_set_and_spills_beside_the_file(tmp_path: Path) -> None:
    path = tmp_path / "collector.duckdb"
    con = open_database(path, None, memory_mb=64)
    try:
        row = con.execute("SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchone()
    finally:
        con.close()
    assert row == ("61.0 MiB", f"{path}.tmp")  # DuckDB shows 64 MB in MiB


def test_the_memory_limit_defaults_to_a_modest_figure_and_is_read_from_the_environment() -> None:
    assert load_settings(env={}).database_memory_mb == 256
    assert load_settings(env={"COLLECTOR_DATABASE_MEMORY_MB": "512"}).database_memory_mb == 512


@pytest.mark.parametrize("value", ["8", "lots", "-1"])
def test_a_memory_limit_too_small_or_not_a_number_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="database_memory_mb"):
        load_settings(env={"COLLECTOR_DATABASE_MEMORY_MB": value})
