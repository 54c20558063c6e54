"""A privacy-preserving, first-party web analytics collector."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collector.app import create_app
    from collector.settings import Settings, Site, load_settings

__all__ = ["Settings", "Site", "create_app", "load_settings"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy, so that a small process (the journal's) importing one module does not load the whole server.
    if name == "create_app":
        from collector.app import create_app

        return create_app
    if name in ("Settings", "Site", "load_settings"):
        from collector import settings

        return getattr(settings, name)
    raise AttributeError(f"module 'collector' has no attribute {name!r}")
