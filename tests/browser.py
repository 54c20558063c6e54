"""How the browser tests launch Debian's Chromium (see shared notes on browser testing)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest
from playwright.sync_api import Browser, Playwright

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def missing(message: str) -> NoReturn:
    """A prerequisite is not installed: fail under CI=true (where a skipped test fails the run), else skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def tool(name: str) -> str:
    """The path of a node tool (node, npm), or missing()."""
    return shutil.which(name) or missing(f"{name} is not installed (Debian: apt-get install nodejs npm)")


def launch(p: Playwright, *extra: str) -> Browser:
    """Debian's Chromium with LAUNCH_ARGS (and `extra`), or missing()."""
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing: apt-get install chromium")
    return p.chromium.launch(executable_path=str(CHROMIUM), args=[*LAUNCH_ARGS, *extra])
