from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_every_test_named_in_privacy_md_exists() -> None:
    text = (ROOT / "PRIVACY.md").read_text(encoding="utf-8")
    named = set(re.findall(r"(tests/(?:\w+/)*test_\w+)\.py::(test_\w+)", text))
    assert len(named) >= 20
    missing = []
    for module, name in sorted(named):
        path = ROOT / f"{module}.py"
        tree = ast.parse(path.read_text(encoding="utf-8")) if path.exists() else ast.Module(body=[], type_ignores=[])
        if name not in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}:
            missing.append(f"{module}::{name}")
    assert missing == []
