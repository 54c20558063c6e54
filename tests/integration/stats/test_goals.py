"""conversions, funnel and retention: numbers worked out by hand (tests/querydata.py) and, for a seeded
random set of events, independently in plain Python."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from collector.errors import ClientError
from collector.stats import queries
from collector.storage.store import migrate, open_database
from tests.integration.stats.test_queries import PERIOD, with_k
from tests.querydata import SITE, A, B, Row, insert_events


def run(con: duckdb.DuckDBPyConnection, tmp_path: Path, name: str, k: int = 1, *filters: str, **params: str) -> Any:
    return [tuple(r) for r in queries.run(con, with_k(tmp_path, k), name, PERIOD | params, filters).rows]


def test_conversions_count_visitors_by_their_first_event(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    # Visitors A, B, C (consented) and D; A and C signed up. A's first event came from google.com in the
    # "launch" campaign, C's from news.ycombinator.com, B's directly, D's from google.com.
    assert run(con, tmp_path, "conversions", goal="event:signup") == [
        ("total", None, 4, 2, 0.5),
        ("source", "google.com", 2, 1, 0.5),
        ("source", "news.ycombinator.com", 1, 1, 1.0),
        ("source", "(direct)", 1, 0, 0.0),
        ("campaign", "(none)", 3, 1, 0.3333),
        ("campaign", "launch", 1, 1, 1.0),
        ("device_type", "desktop", 3, 2, 0.6667),
        ("device_type", "smartphone", 1, 0, 0.0),
        ("entry_page", "/", 3, 1, 0.3333),
        ("entry_page", "/pricing", 1, 1, 1.0),
    ]
    # A page goal: /docs was seen by D only.
    assert run(con, tmp_path, "conversions", goal="/docs")[0] == ("total", None, 4, 1, 0.25)


def test_conversions_fold_groups_under_k(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    assert run(con, tmp_path, "conversions", 2, goal="event:signup") == [
        ("total", None, 4, 2, 0.5),
        ("source", "google.com", 2, 1, 0.5),
        ("source", "(other)", 2, 1, 0.5),
        ("campaign", "(none)", 3, 1, 0.3333),
        ("campaign", "(other)", 1, 1, 1.0),
        ("device_type", "desktop", 3, 2, 0.6667),
        ("device_type", "(other)", 1, 0, 0.0),
        ("entry_page", "/", 3, 1, 0.3333),
        ("entry_page", "(other)", 1, 1, 1.0),
    ]


def test_conversions_take_filters(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    # Desktop only: A, C and D.
    rows = run(con, tmp_path, "conversions", 1, "device_type==desktop", goal="event:signup")
    assert rows[0] == ("total", None, 3, 2, 0.6667)


def test_funnel_counts_steps_done_in_order_within_one_visit(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    # / then /pricing in one visit: A (first visit), B, C (Nov 2-3); D stopped at /. A's signup came in
    # a visit that did not see /pricing, C's in one that began on /pricing: nobody reached step 3.
    assert run(con, tmp_path, "funnel", steps="/,/pricing,event:signup") == [
        (1, "/", "page", 4, None, 1.0),
        (2, "/pricing", "page", 3, 1, 0.75),
        (3, "signup", "event", 0, 3, 0.0),
    ]
    # C's Nov 1 visit: /pricing, then signup.
    assert run(con, tmp_path, "funnel", steps="/pricing,event:signup") == [
        (1, "/pricing", "page", 3, None, 1.0),
        (2, "signup", "event", 1, 2, 0.3333),
    ]
    # With k = 2, a step of one visitor shows no numbers.
    assert run(con, tmp_path, "funnel", 2, steps="/pricing,event:signup")[1] == (2, "signup", "event", None, None, None)


def test_funnel_and_goal_parameters_are_checked(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    with pytest.raises(ClientError, match="steps takes 2 to 8") as caught:
        run(con, tmp_path, "funnel", steps="/pricing")
    assert caught.value.field == "steps"
    with pytest.raises(ClientError, match="goal must be a path") as caught:
        run(con, tmp_path, "conversions", goal="signup")
    assert caught.value.field == "goal"


def test_retention_follows_consented_visitors_and_says_why_not_cookieless(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # C (consented) was first seen on Sunday Nov 1 (week of Oct 26) and came back in the week of Nov 2.
    rows = run(con, tmp_path, "retention")
    assert rows[:2] == [("2026-10-26", 0, 1, 1, 1.0, None), ("2026-10-26", 1, 1, 1, 1.0, None)]
    assert rows[2][0] == "(cookieless)" and "daily salt" in rows[2][5]
    assert run(con, tmp_path, "retention", 2)[:2] == [("(other)", 0, 1, 1, 1.0, None), ("(other)", 1, 1, 1, 1.0, None)]


# --- a seeded random set, counted again in plain Python

START = datetime(2026, 11, 1)
PATHS = ("/", "/pricing", "/signup", "/docs")


def seeded(seed: int = 21) -> list[Row]:
    rng = random.Random(seed)
    rows: list[Row] = []
    for visitor in range(1000, 1060):
        consented = visitor % 3 == 0
        device = A if visitor % 2 else B
        when = START + timedelta(hours=rng.randrange(0, 60))
        for _ in range(rng.randrange(1, 12)):
            when += timedelta(minutes=rng.choice((1, 5, 20, 29, 31, 90)))
            if rng.random() < 0.2:
                rows.append(
                    (when.isoformat(" "), visitor, consented, device, "signup", rng.choice(PATHS), None, None, None)
                )
            else:
                ref = rng.choice((None, "google.com", "t.co"))
                rows.append(
                    (when.isoformat(" "), visitor, consented, device, "pageview", rng.choice(PATHS), ref, None, None)
                )
    return rows


def visits(rows: list[Row]) -> list[list[Row]]:
    by_visitor: dict[int, list[Row]] = {}
    for row in sorted(rows, key=lambda r: r[0]):
        assert row[1] is not None
        by_visitor.setdefault(row[1], []).append(row)
    found = []
    for events in by_visitor.values():
        current: list[Row] = []
        for row in events:
            if current and datetime.fromisoformat(row[0]) - datetime.fromisoformat(current[-1][0]) >= timedelta(
                minutes=30
            ):
                found.append(current)
                current = []
            current.append(row)
        found.append(current)
    return found


def matches(row: Row, goal: str) -> bool:
    return row[4] == goal[6:] if goal.startswith("event:") else row[4] == "pageview" and row[5] == goal


def reached(visit: list[Row], steps: list[str]) -> int:
    done = 0
    for row in visit:
        if done < len(steps) and matches(row, steps[done]):
            done += 1
    return done


def test_seeded_events_agree_with_plain_python(tmp_path: Path) -> None:
    rows = seeded()
    db = open_database(tmp_path / "seeded.duckdb", None)
    migrate(db)
    insert_events(db, rows)
    period = {"site": SITE, "from": "2026-11-01", "to": "2026-11-05"}
    settings = with_k(tmp_path, 1)
    steps = ["/", "/pricing", "event:signup"]
    funnel = [tuple(r) for r in queries.run(db, settings, "funnel", period | {"steps": ",".join(steps)}).rows]
    all_visits = visits(rows)
    expected = []
    for n in range(1, len(steps) + 1):
        expected.append(len({v[0][1] for v in all_visits if reached(v, steps) >= n}))
    assert [r[3] for r in funnel] == expected
    assert [r[4] for r in funnel] == [None] + [a - b for a, b in itertools.pairwise(expected)]
    conversions = queries.run(db, settings, "conversions", period | {"goal": "/signup"}).rows
    firsts = {}
    for row in sorted(rows, key=lambda r: r[0]):
        firsts.setdefault(row[1], row)
    converted = {r[1] for r in rows if matches(r, "/signup")}
    by_entry: dict[str, list[int]] = {}
    for visitor, first in firsts.items():
        counts = by_entry.setdefault(first[5], [0, 0])
        counts[0] += 1
        counts[1] += visitor in converted
    assert conversions[0][:4] == ["total", None, len(firsts), len(converted)]
    entry = {r[1]: [r[2], r[3]] for r in conversions if r[0] == "entry_page"}
    assert entry == by_entry
    db.close()


def test_funnel_and_retention_through_a_scope_that_keeps_every_event_match_the_unfiltered(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # Every path contains "/": the scope keeps every visit, and builds only the site counts for its floor.
    steps = "/,/pricing,event:signup"
    assert run(con, tmp_path, "funnel", 1, "path~/", steps=steps) == run(con, tmp_path, "funnel", steps=steps)
    assert run(con, tmp_path, "retention", 1, "path~/") == run(con, tmp_path, "retention")
    assert run(con, tmp_path, "retention", 1, "path~/")[0][0] == "2026-10-26"
