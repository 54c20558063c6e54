"""`collector user add/list/remove` on the database file: the password from stdin, only an Argon2id hash stored."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from collector.access import users
from collector.cli.main import main
from collector.http.runtime import open_runtime
from tests.conftest import make_settings

PASSWORD = "correct horse battery"


def test_user_add_reads_the_password_from_stdin_and_stores_only_an_argon2id_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path)
    open_runtime(settings).close()
    base = ["--data-dir", str(settings.data_dir)]
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "add", "bea", "--password-stdin", *base]) == 2
    assert "at least 10 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["user", "add", "bea", "--password-stdin", "--admin", *base]) == 0
    assert main(["user", "list", *base]) == 0
    assert re.search(r"bea\s+admin stats:read\s+all sites", capsys.readouterr().out)
    runtime = open_runtime(settings)
    con = runtime.con
    try:
        stored = con.execute("SELECT password_hash FROM users WHERE name = 'bea'").fetchone()
        assert stored and stored[0].startswith("$argon2id$") and PASSWORD not in stored[0]
        assert users.verify_user(con, "bea", PASSWORD) is not None
        assert users.verify_user(con, "bea", PASSWORD + "!") is None
    finally:
        runtime.close()
    assert main(["user", "remove", "bea", *base]) == 0
    assert main(["user", "remove", "bea", *base]) == 2
