from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from collector.cli.main import main
from collector.privacy.retention import purge
from collector.settings import Retention
from collector.stats.rollups import refresh_daily_counts
from collector.storage import store
from tests.conftest import LiveServer, make_settings, write_config
from tests.system.test_rights import send


def test_purge_deletes_rows_older_than_each_window_and_keeps_aggregates(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, retention=Retention(events_days=30, profiles_days=60, requests_days=90))
    server = LiveServer(settings).start()
    try:
        send(server, "consented_Abc12345", "/old")
        send(server, "consented_Abc12345", "/new")
        server.query("UPDATE events SET ts = ts - INTERVAL 31 DAY WHERE path = '/old'")
        for visitor, age in ((1, 61), (2, 59)):
            server.query(
                "INSERT INTO profiles (site, visitor, first_seen, last_seen, days_active, visits, pageviews, events) "
                "VALUES ('example.com', ?, now()::TIMESTAMP - INTERVAL (?) DAY, now()::TIMESTAMP - INTERVAL (?) DAY, "
                "1, 1, 1, 0)",
                [visitor, age, age],
            )
        server.query(
            "INSERT INTO profile_sections VALUES ('example.com', 1, current_date - 61, 'a', 1, 0), "
            "('example.com', 2, current_date - 1, 'a', 1, 0)"
        )
        server.query(
            "INSERT INTO privacy_requests VALUES ('pr_old', 'erase', 'example.com', NULL, 'cli', "
            "now()::TIMESTAMP - INTERVAL 91 DAY, now()::TIMESTAMP - INTERVAL 76 DAY, now()::TIMESTAMP, 0, NULL), "
            "('pr_open', 'erase', 'example.com', NULL, 'cli', "
            "now()::TIMESTAMP - INTERVAL 91 DAY, now()::TIMESTAMP - INTERVAL 76 DAY, NULL, NULL, NULL)"
        )
        assert server.live.runtime is not None
        cur = store.cursor(server.live.runtime.con)
        try:
            refresh_daily_counts(cur, since=date.today() - timedelta(days=40))
            result = purge(cur, settings)
            refresh_daily_counts(cur)  # the periodic job recomputes only recent days: old aggregates stay
        finally:
            cur.close()
        deleted = {table: n for table, n in result["deleted"].items() if n}
        assert deleted == {"events": 1, "profiles": 1, "profile_sections": 1, "privacy_requests": 1}
        assert {"identities", "segment_members"} <= set(result["deleted"])
        assert server.query("SELECT path FROM events") == [("/new",)]
        assert server.query("SELECT visitor FROM profiles WHERE visitor < 3") == [(2,)]
        assert server.query("SELECT visitor FROM profile_sections WHERE visitor < 3") == [(2,)]
        assert server.query("SELECT request_id FROM privacy_requests") == [("pr_open",)]  # open ones are never purged
        assert server.query("SELECT sum(events) FROM daily_counts") == [(2,)]
    finally:
        server.stop()


def test_purge_runs_at_start_up_as_the_daily_job(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, retention=Retention(events_days=1))
    server = LiveServer(settings).start()
    try:
        send(server, None, "/old")
        server.query("UPDATE events SET ts = ts - INTERVAL 3 DAY")
    finally:
        server.stop()
    server = LiveServer(settings).start()
    try:
        deadline = datetime.now() + timedelta(seconds=10)
        while server.query("SELECT count(*) FROM events") != [(0,)] and datetime.now() < deadline:
            time.sleep(0.05)
        assert server.query("SELECT count(*) FROM events") == [(0,)]
    finally:
        server.stop()


def test_collector_purge_command_works_on_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path)
    server = LiveServer(settings).start()
    try:
        send(server, None, "/a")
        server.query("UPDATE events SET ts = ts - INTERVAL 400 DAY")
    finally:
        server.stop()
    config = write_config(tmp_path, settings.data_dir)
    assert main(["purge", "--config", str(config)]) == 0
    assert "events: 1 row(s) older than" in capsys.readouterr().out
