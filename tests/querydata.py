"""A small, hand-countable data set for the named queries (expected numbers are worked out in the tests).

Visitors on example.com (cookieless hashes rotate daily; C is consented and keeps its hash):
  A cookieless, desktop Apple Mac, Mac OS X 14.4, Safari 17.4, 1440x900, en-US, Europe/Berlin
  B cookieless, smartphone Samsung SM-S911B, Android 14, Chrome 124, 390x844, de-DE, Europe/Berlin
  C consented, same device as A
  D cookieless, desktop Dell XPS, Windows 11, Chrome 124, 1920x1080, en-US, America/New_York
  N no visitor (GPC), smartphone Apple iPhone, iOS 17.4, Safari 17.4, 390x844, en-US, Europe/Berlin
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import duckdb

SITE = "example.com"
A = ("desktop", "Apple", "Mac", "Mac OS X", "14.4", "Safari", "17.4", 1440, 900, "en-US", "Europe/Berlin")
B = ("smartphone", "Samsung", "SM-S911B", "Android", "14", "Chrome", "124", 390, 844, "de-DE", "Europe/Berlin")
D = ("desktop", "Dell", "XPS", "Windows", "11", "Chrome", "124", 1920, 1080, "en-US", "America/New_York")
N = ("smartphone", "Apple", "iPhone", "iOS", "17.4", "Safari", "17.4", 390, 844, "en-US", "Europe/Berlin")

# (time, visitor, consented, device, name, path, referrer_host, utm, props)
Row = tuple[str, int | None, bool, tuple[Any, ...], str, str, str | None, tuple[str, ...] | None, str | None]
EVENTS: list[Row] = [
    ("2026-11-01 10:00", 1, False, A, "pageview", "/", "google.com", ("news", "email", "launch"), None),
    ("2026-11-01 10:05", 1, False, A, "pageview", "/pricing", None, None, None),
    ("2026-11-01 10:50", 1, False, A, "pageview", "/", None, None, None),
    ("2026-11-01 10:52", 1, False, A, "signup", "/", None, None, '{"plan": "pro"}'),
    ("2026-11-01 11:00", 2, False, B, "pageview", "/", None, None, None),
    ("2026-11-01 11:10", 2, False, B, "pageview", "/pricing", None, None, None),
    ("2026-11-01 12:00", 100, True, A, "pageview", "/pricing", "news.ycombinator.com", None, None),
    ("2026-11-01 12:01", 100, True, A, "signup", "/pricing", None, None, '{"plan": "free"}'),
    ("2026-11-01 13:00", None, False, N, "pageview", "/secret", None, None, None),
    ("2026-11-01 13:01", None, False, N, "pageview", "/", None, None, None),
    ("2026-11-02 09:00", 3, False, D, "pageview", "/", "google.com", None, None),
    ("2026-11-02 09:20", 3, False, D, "pageview", "/docs", None, None, None),
    ("2026-11-02 23:50", 100, True, A, "pageview", "/", None, None, None),
    ("2026-11-03 00:10", 100, True, A, "pageview", "/pricing", None, None, None),
    # Another site, to prove queries stay within one.
    ("2026-11-01 10:00", 7, False, B, "pageview", "/", None, None, None),
]

COLUMNS = (
    "event_id, ts, site, name, hostname, path, referrer_host, utm_source, utm_medium, utm_campaign, visitor, "
    "consented, anonymous, device_type, device_brand, device_model, os_name, os_version, browser_name, "
    "browser_version, screen_w, screen_h, language, timezone, props"
)


def insert_events(con: duckdb.DuckDBPyConnection, events: list[Row] = EVENTS, site: str = SITE) -> None:
    """Insert events and bump daily_counts as the writer does in its batch transaction."""
    for i, (ts, visitor, consented, device, name, path, ref, utm, props) in enumerate(events):
        row_site = "other.org" if visitor == 7 else site
        when = datetime.fromisoformat(ts)
        utm = utm or (None, None, None)
        con.execute(
            f"INSERT INTO events ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?)",
            [
                str(uuid.UUID(int=i + 1 + int(when.timestamp()))),
                when,
                row_site,
                name,
                row_site,
                path,
                ref,
                *utm,
                visitor,
                consented,
                visitor is None,
                *device,
                props,
            ],
        )
        con.execute(
            "INSERT INTO daily_counts VALUES (?, ?, ?, 1) ON CONFLICT DO UPDATE SET events = daily_counts.events + 1",
            [row_site, when.date(), name],
        )


def insert_extras(con: duckdb.DuckDBPyConnection) -> None:
    """Drops, segments and CSP reports, as their owners' code stores them."""
    con.executemany(
        "INSERT INTO drops VALUES (?, ?, ?, ?)",
        [
            [SITE, "2026-11-01", "bot", 3],
            [SITE, "2026-11-02", "bot", 2],
            [SITE, "2026-11-02", "prefetch", 1],
            ["other.org", "2026-11-01", "bot", 9],
        ],
    )
    con.execute(
        "INSERT INTO segments (site, name, description) VALUES (?, 'buyers', 'bought twice'), "
        "(?, 'browsers', 'read three pages'), (?, 'empty', 'nobody yet')",
        [SITE, SITE, SITE],
    )
    now = datetime(2026, 11, 3)
    members = [("buyers", v) for v in range(5)] + [("browsers", v) for v in (10, 11)]
    con.executemany("INSERT INTO segment_members VALUES (?, ?, ?, ?)", [[SITE, s, v, now] for s, v in members])
    con.execute(
        "CREATE TABLE IF NOT EXISTS third_parties (site VARCHAR NOT NULL, day DATE NOT NULL, page VARCHAR NOT NULL, "
        "host VARCHAR NOT NULL, directive VARCHAR NOT NULL, reports BIGINT NOT NULL)"
    )
    con.executemany(
        "INSERT INTO third_parties VALUES (?, ?, ?, ?, ?, ?)",
        [
            [SITE, "2026-11-01", "/", "tracker.example", "script-src", 3],
            [SITE, "2026-11-02", "/", "tracker.example", "script-src", 4],
            [SITE, "2026-11-02", "/pricing", "ads.example", "img-src", 1],
        ],
    )
