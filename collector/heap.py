"""Keep the garbage collector's scans small: what start-up builds lives as long as the process.

Device rules, the snippet, settings and caches are tens of thousands of objects that never become
garbage, yet every full collection walked them all (about 15 to 30 ms here, on the event loop).
Frozen objects are left out of every later scan; requests' own garbage is still collected as usual.
"""

from __future__ import annotations

import gc


def freeze_long_lived(collect: bool = True) -> None:
    """Move every object alive now out of the collector's reach (after collecting the garbage, if asked)."""
    if collect:
        gc.collect()
    gc.freeze()
