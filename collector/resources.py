"""Where the files shipped beside the code live: in the wheel under collector/_data, in a checkout at the top."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The snippet/ or queries/ folder, installed or in a source checkout."""
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"{name}/ is missing from the installation (looked in {installed} and {checkout})")
