"""Every bench/*.py runs with --quick: it exits 0 and prints its figures (found by file, so a new bench is covered).

The figures themselves are not judged here (timings belong to docs/benchmarks.md, not to assertions);
this proves only that each bench still runs against the code as it is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHES = sorted(p.name for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_"))
FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?\s*(?:ms|s|x|%|/s|events|req|MB|KB|ns|us)\b|\d+\.\d+")


def test_the_benches_are_found() -> None:
    assert {"queries.py", "dashboard.py", "cluster.py", "scrub.py"} <= set(BENCHES)


@pytest.mark.parametrize("bench", BENCHES)
def test_a_bench_runs_quick_and_prints_its_figures(bench: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / bench), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    tail = (done.stdout + done.stderr)[-2000:]
    assert done.returncode == 0, f"{bench} --quick exited {done.returncode}:\n{tail}"
    assert len(FIGURE.findall(done.stdout)) >= 3, f"{bench} --quick printed no figures:\n{tail}"
