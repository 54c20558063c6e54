"""`collector csp` prints a first-party-only Content-Security-Policy for a site of the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli.main import main
from tests.conftest import SITE, write_config


def test_csp_command_prints_a_first_party_only_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, tmp_path / "data")
    assert main(["csp", "--config", str(config), "--site", SITE, "--collector-url", "https://stats.example.com"]) == 0
    out = capsys.readouterr().out
    policy = out.splitlines()[0]
    assert policy.startswith("Content-Security-Policy: default-src 'self' https://example.com;")
    assert "script-src 'self' https://example.com https://stats.example.com;" in policy
    assert "report-uri https://stats.example.com/api/csp-report?site=example.com" in policy
    assert 'Reporting-Endpoints: collector-csp="https://stats.example.com/api/csp-report?site=example.com"' in out
    assert main(["csp", "--config", str(config), "--site", SITE, "--report-only"]) == 0
    assert capsys.readouterr().out.startswith("Content-Security-Policy-Report-Only: ")
    assert main(["csp", "--config", str(config), "--site", "nope.org"]) == 2
