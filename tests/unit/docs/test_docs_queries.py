from __future__ import annotations

import re
from pathlib import Path

from collector.stats import queries

DOC = Path(__file__).resolve().parents[3] / "docs" / "queries.md"


def test_every_named_query_and_its_parameters_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    sections = dict(re.findall(r"^### (\w+)\n(.*?)(?=^### |^## |\Z)", text, flags=re.M | re.S))
    for name, query in queries.load_queries().items():
        assert name in sections, f"docs/queries.md has no section for {name}"
        for param in query.params:
            assert f"`{param.name}`" in sections[name], f"{name}: parameter {param.name} is not documented"
            if param.default is not None:
                assert param.default in sections[name], f"{name}: the default of {param.name} is not documented"
