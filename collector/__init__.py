"""A privacy-preserving, first-party web analytics collector."""

from collector.app import create_app
from collector.settings import Settings, Site, load_settings

__all__ = ["Settings", "Site", "create_app", "load_settings"]
__version__ = "0.1.0"
