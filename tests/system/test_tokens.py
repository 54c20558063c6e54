"""`collector token ...` and `collector audit` as users run them: a child process, with and without a server."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import orjson

from tests.processes import ServerProcess, collector, write_config

TOKEN = re.compile(r"^col_[0-9a-f]{12}_[A-Za-z0-9_\-]{43}$")


def test_token_lifecycle_through_a_running_server_then_on_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path / "collector.toml")
    server = ServerProcess(config, tmp_path / "data").start()
    try:
        created = server.run("token", "create", "--name", "prom", "--scope", "admin")
        assert created.returncode == 0, created.stderr
        token = created.stdout.splitlines()[-1]
        assert TOKEN.match(token), "the token is alone on the last line"
        assert created.stdout.count(token) == 1
        metrics = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"})
        assert metrics.status_code == 200, "usable at once: created inside the running server"

        listed = server.run("token", "list", "--json")
        rows = orjson.loads(listed.stdout)
        assert [(r["name"], r["scopes"], r["sites"]) for r in rows] == [("prom", ["admin"], None)]
        assert token.split("_", 2)[2] not in listed.stdout

        revoked = server.run("token", "revoke", "prom")
        assert revoked.returncode == 0 and revoked.stdout.startswith("revoked ")
        assert httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 401

        trail = orjson.loads(server.run("audit", "--json", "--token", "prom").stdout)
        assert [(r["action"], r["outcome"]) for r in trail] == [("GET /metrics", "allowed")]
        everything = server.run("audit", "--limit", "2")
        assert everything.stdout.splitlines()[0].split()[2:6] == ["UTC", "(invalid", "token)", "GET"]
        assert len(everything.stdout.splitlines()) == 2
    finally:
        log = server.stop()
    lines = [orjson.loads(line) for line in log.splitlines()]
    assert {"msg": "token created", "token": "prom"}.items() <= next(
        x for x in lines if x["msg"] == "token created"
    ).items()
    refused = next(x for x in lines if x["msg"] == "api call refused")
    assert (refused["token"], refused["action"], refused["outcome"]) == (
        "(invalid token)",
        "GET /metrics",
        "denied 401",
    )
    client_lines = [line for line in log.splitlines() if f"127.0.0.1:{server.port}" not in line]
    assert not any("127.0.0.1" in line for line in client_lines), "no client address in the logs"
    assert token.split("_", 2)[2] not in log, "no secret in the logs"

    # The server is gone: the same commands open the database file themselves.
    args = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    created = collector(
        "token", "create", "--name", "crm", "--scope", "segments:read,stats:read", "--site", "example.com", *args
    )
    assert created.returncode == 0, created.stderr
    assert "segments:read, stats:read on example.com" in created.stdout
    assert TOKEN.match(created.stdout.splitlines()[-1])

    refused = collector("token", "create", "--name", "crm", "--scope", "admin", "--site", "nope.example", *args)
    assert refused.returncode == 2
    assert refused.stderr.strip() == "collector: site(s) not registered in the config: nope.example"
    unknown = collector("token", "revoke", "ghost", *args)
    assert unknown.returncode == 2 and "no active token is named or has the id 'ghost'" in unknown.stderr
