"""The login throttle and the account a failed login is counted against."""

from __future__ import annotations

from datetime import datetime, timedelta

from collector.access import sessions


def test_the_throttle_forgets_failures_after_its_window() -> None:
    throttle = sessions.Throttle()
    start = datetime(2026, 11, 1, 12)
    for i in range(sessions.Throttle.LIMIT):
        throttle.failed("user:x", start + timedelta(minutes=i))
    assert throttle.blocked("user:x", start + timedelta(minutes=5))
    assert not throttle.blocked("user:x", start + sessions.Throttle.WINDOW + timedelta(minutes=5))
    assert sessions.account_of("", "col_abc123_secret") == "token:abc123"
