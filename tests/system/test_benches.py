"""Every bench/*.py runs with --quick: it exits 0 and prints its figures (found by file, so a new bench is covered).

The figures themselves are not judged here (timings belong to docs/benchmarks.md, not to assertions);
this proves only that each bench still runs against the code as it is. The benches run two at a time
(RUNNING): much of a quick run waits on process start-up, servers and subprocesses, so two overlap
on two cores, and the file takes about half the sum of the runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHES = sorted(p.name for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_"))
FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?\s*(?:ms|s|x|%|/s|events|req|MB|KB|ns|us)\b|\d+\.\d+")
RUNNING = 2


def quick_run(bench: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / bench), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    """Every bench's quick run, started at once in the order of BENCHES, RUNNING at a time."""
    with ThreadPoolExecutor(max_workers=RUNNING) as pool:
        yield {bench: pool.submit(quick_run, bench) for bench in BENCHES}


def test_the_benches_are_found() -> None:
    assert {"queries.py", "dashboard.py", "cluster.py", "scrub.py"} <= set(BENCHES)


@pytest.mark.parametrize("bench", BENCHES)
def test_a_bench_runs_quick_and_prints_its_figures(
    bench: str, runs: dict[str, Future[subprocess.CompletedProcess[str]]]
) -> None:
    done = runs[bench].result()
    tail = (done.stdout + done.stderr)[-2000:]
    assert done.returncode == 0, f"{bench} --quick exited {done.returncode}:\n{tail}"
    assert len(FIGURE.findall(done.stdout)) >= 3, f"{bench} --quick printed no figures:\n{tail}"
