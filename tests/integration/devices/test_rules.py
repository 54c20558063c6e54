from pathlib import Path

import pytest

from collector.devices import rules
from collector.devices.scan import NamedPatterns


def test_parsed_rules_are_cached_and_a_broken_cache_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECTOR_RULES_CACHE", str(tmp_path))
    parsed = rules.read("client", "pim.yml")
    assert any(entry["name"] == "Thunderbird" for entry in parsed)
    (cached,) = tmp_path.iterdir()
    assert cached.name.endswith(".json")
    assert rules.read("client", "pim.yml") == parsed
    cached.write_bytes(b"{not json")
    assert rules.read("client", "pim.yml") == parsed


def test_unwritable_cache_only_costs_the_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("COLLECTOR_RULES_CACHE", str(blocker / "cache"))
    assert rules.read("client", "pim.yml")


def test_names_take_the_match_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECTOR_RULES_CACHE", str(tmp_path))
    patterns = NamedPatterns([(r"Foo/(\d+)", r"Foo \g<1>", True), (r"(?<!x)Bar", "", False)])
    assert patterns.name("a foo/12 b") == "Foo 12"
    assert patterns.name("Bar/3") == "Bar"
    assert patterns.name("xBar") is None


def test_a_broken_or_unwritable_database_cache_only_costs_the_compilation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLLECTOR_RULES_CACHE", str(tmp_path))
    assert NamedPatterns([("Galaxy", "Samsung", True)]).name("a galaxy") == "Samsung"
    (cached,) = tmp_path.iterdir()
    cached.write_bytes(b"[]\nnot a database")
    assert NamedPatterns([("Galaxy", "Samsung", True)]).name("a galaxy") == "Samsung"
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("COLLECTOR_RULES_CACHE", str(blocker / "cache"))
    assert NamedPatterns([("Galaxy", "Samsung", True)]).name("a galaxy") == "Samsung"
