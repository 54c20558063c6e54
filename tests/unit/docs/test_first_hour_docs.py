"""The README's first steps hold on a fresh machine: one list of prerequisites, which CI installs exactly;
counts that stay true; no command that needs a tool nobody installs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text(encoding="utf-8")
NUMBERS = {"twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17}
NUMBERS |= {"eighteen": 18, "nineteen": 19, "twenty": 20}


def test_ci_installs_exactly_the_readmes_prerequisites() -> None:
    listed = re.findall(r"^sudo apt-get install (.+)$", README, flags=re.M)
    assert len(listed) == 1, "the README lists its prerequisites in one place"
    ci = re.search(r"^packages=\(([^)]*)\)", (ROOT / ".ci" / "run").read_text(encoding="utf-8"), flags=re.M)
    assert ci is not None
    assert ci.group(1).split() == listed[0].split()
    assert {"python3-venv", "make", "chromium", "wrk", "nats-server", "nodejs", "npm"} <= set(ci.group(1).split())


def test_the_readmes_count_of_named_queries_is_true() -> None:
    paragraph = README.split("**Named queries.**", 1)[1].split("\n\n", 1)[0]
    count = len(list((ROOT / "queries").glob("*.sql")))
    for word in re.findall(r"\b(\w+) (?:named )?queries\b", paragraph):
        said = NUMBERS.get(word.lower(), int(word) if word.isdigit() else None)
        assert said in (None, count), f"the README says {word} named queries; queries/ holds {count}"


def test_no_doc_sends_a_newcomer_to_the_duckdb_command_line_tool() -> None:
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(cd .*&& )?duckdb \S+\.duckdb", text, flags=re.M), f"{doc.name} runs the DuckDB CLI"
