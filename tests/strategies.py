"""Hypothesis strategies for request bodies: any JSON value, and objects shaped like events."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.conftest import SITE

# The statuses the API documents for a refused event.
DOCUMENTED = {400, 403, 408, 413, 415, 429}
KEYS = ["d", "n", "u", "r", "w", "h", "l", "tz", "ch", "id", "p", "wd", "gpc", "x"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=12,
)
# Objects that look like events, so the field checks (not only the shape checks) are reached.
plausible = st.fixed_dictionaries(
    {},
    optional={
        "d": st.sampled_from([SITE, "EXAMPLE.COM ", "", "other.org"]) | json_values,
        "u": st.sampled_from(["https://example.com/a?gclid=1", "ftp://x", "HTTP://", " "]) | json_values,
        **{k: json_values for k in KEYS[2:]},
        "p": st.dictionaries(st.text(max_size=70), scalars | st.text(min_size=250, max_size=260), max_size=32),
        "ch": st.dictionaries(st.text(max_size=70), scalars, max_size=14) | json_values,
    },
)
