from pathlib import Path

import pytest

from collector.devices import scan
from collector.devices.scan import FirstMatch, NamedPatterns, cache_ahead


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLLECTOR_RULES_CACHE", str(tmp_path))
    return tmp_path


def entries(*patterns: str) -> list[tuple[str, bool]]:
    return [(p, True) for p in patterns]


def test_the_first_rule_in_order_wins_not_the_first_in_the_text() -> None:
    rules = FirstMatch(entries(r"Pixel \d", r"Android", r"Linux"))
    assert rules.first("Mozilla/5.0 (Linux; Android 14; Pixel 8)") == 0
    assert rules.first("Mozilla/5.0 (Linux; Android 14; K)") == 1
    assert rules.first("Mozilla/5.0 (Windows NT 10.0)") is None


def test_look_around_is_confirmed_exactly() -> None:
    # Hyperscan sees "Huawei" without the look-ahead; the exact rule refuses the browser's name.
    rules = FirstMatch(entries(r"Huawei(?!Browser)", r"HuaweiBrowser"), guarded=True)
    assert rules.first("HuaweiBrowser/14.0") == 1
    assert rules.first("Huawei Mate 20") == 0


def test_the_token_guard_applies_to_guarded_lists() -> None:
    names = NamedPatterns([("Lumia", "Nokia", True)], guarded=True)
    assert names.name("Windows Phone; NOKIA; Lumia 920") == "Nokia"
    assert names.name("Windows Phone; XLumia 920") is None
    assert NamedPatterns([("Lumia", "Nokia", True)]).name("XLumia 920") == "Nokia"


def test_names_take_the_matchs_groups() -> None:
    names = NamedPatterns([(r"Fetcher/(\d+)", "Fetcher $1", True), (r"Crawly", "", False)])
    assert names.name("Fetcher/7") == "Fetcher 7"
    assert names.name("a Crawly thing") == "Crawly"
    assert names.name("crawly") is None  # case-sensitive entry


def test_a_rule_hyperscan_refuses_is_always_a_candidate() -> None:
    rules = FirstMatch(entries(r"Build/\KAndroid", r"Android"))  # \K: no Hyperscan prefilter for it
    assert rules.always == [0]
    assert rules.first("Build/Android") == 0
    assert rules.first("Android 14") == 1


def test_databases_are_compiled_once_into_the_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = entries(r"Galaxy", r"Redmi")
    assert cache_ahead(rules)
    assert len(list(cache.iterdir())) == 1
    assert not cache_ahead(rules)

    def no_compiling(expressions: object) -> object:
        raise AssertionError("compiled again")

    monkeypatch.setattr(scan, "compile_chunk", no_compiling)
    assert FirstMatch(rules).first("Redmi Note 12") == 1
