"""Goals and funnel steps: `/thank-you` (a page view of that path) or `event:signup` (a custom event of that name).

Pure: the named queries conversions and funnel take a goal or a list of steps as text, checked here; the
SQL compares each event with them as bound values.
"""

from __future__ import annotations

from collector.errors import ClientError

MAX_STEP = 300
MIN_STEPS = 2
MAX_STEPS = 8


def goal(text: str, field: str = "goal") -> str:
    """A goal as given (`/path` or `event:NAME`); ClientError names `field` when it is neither."""
    value = text.strip()
    if value.startswith("event:"):
        if not value[6:].strip() or len(value) > MAX_STEP:
            raise ClientError(f"{field}: event:NAME needs an event name of 1 to {MAX_STEP - 6} characters", field)
        return "event:" + value[6:].strip()
    if not value.startswith("/") or len(value) > MAX_STEP or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ClientError(f"{field} must be a path (/thank-you) or event:NAME (event:signup), not {text!r}", field)
    return value


def steps(text: str) -> list[str]:
    """Funnel steps, comma-separated, MIN_STEPS to MAX_STEPS of them; ClientError names `steps`."""
    found = [goal(part, "steps") for part in text.split(",") if part.strip()]
    if not MIN_STEPS <= len(found) <= MAX_STEPS:
        raise ClientError(f"steps takes {MIN_STEPS} to {MAX_STEPS} comma-separated steps, not {len(found)}", "steps")
    return found


def label(step: str) -> str:
    """How a goal reads in a table: the path, or the event's name."""
    return step[6:] if step.startswith("event:") else step
