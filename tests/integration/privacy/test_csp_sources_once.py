"""`collector csp` names each source once, also when the collector serves from one of the site's origins."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli.main import main


def test_each_origin_is_listed_once_per_directive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(
        '[[sites]]\ndomain = "example.com"\n'
        'origins = ["https://example.com", "https://www.example.com", "https://example.com"]\n',
        encoding="utf-8",
    )
    assert (
        main(["csp", "--config", str(config), "--site", "example.com", "--collector-url", "https://example.com"]) == 0
    )
    policy = capsys.readouterr().out.splitlines()[0].split(": ", 1)[1]
    for directive in policy.split("; "):
        sources = directive.split()[1:]
        assert len(sources) == len(set(sources)), directive
    assert "script-src 'self' https://example.com https://www.example.com;" in policy
