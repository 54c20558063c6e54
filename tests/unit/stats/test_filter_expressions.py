from __future__ import annotations

import pytest

from collector.stats.filters import Filter, FilterError, parse, parse_all, predicates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("device_model==Pixel 7", Filter("device_model", "==", "Pixel 7")),
        ("path~/blog", Filter("path", "~", "/blog")),
        ("prop:plan!=free", Filter("prop:plan", "!=", "free")),
        (" referrer == google.com ", Filter("referrer", "==", "google.com")),
        ("path==/a==b", Filter("path", "==", "/a==b")),
        ("event!=sign~up", Filter("event", "!=", "sign~up")),
    ],
)
def test_an_expression_is_field_operator_value(text: str, expected: Filter) -> None:
    assert parse(text) == expected
    assert str(parse(text)) == f"{expected.field}{expected.op}{expected.value}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("device_brand=Samsung", "is not FIELD==VALUE, FIELD!=VALUE or FIELD~VALUE"),
        ("colour==red", "unknown filter field 'colour'"),
        ("path==", "filter path needs a value of 1 to 300 printable characters"),
        ("path==/\x00", "filter path needs a value"),
        ("path==" + "x" * 301, "filter path needs a value"),
        ("prop:==x", "is not FIELD==VALUE"),
        ("prop:a b==x", "is not FIELD==VALUE"),
        ("DEVICE_BRAND==Apple", "is not FIELD==VALUE"),
    ],
)
def test_a_bad_expression_is_one_line_naming_the_filter(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=message.replace("(", r"\(")) as caught:
        parse(text)
    assert caught.value.field == "filter"
    assert "\n" not in caught.value.message


def test_older_name_value_parameters_are_is_filters_and_repeats_collapse() -> None:
    found = parse_all(["os_name==iOS", "os_name==iOS"], {"device_brand": "Apple"})
    assert found == (Filter("os_name", "==", "iOS"), Filter("device_brand", "==", "Apple"))


def test_values_and_property_keys_are_bound_and_only_known_columns_are_written() -> None:
    found = predicates(parse_all(["device_brand!=Robert'); DROP TABLE events; --", "prop:plan~pro", "referrer==x"]))
    assert "DROP" not in found.events + found.visits + found.row + found.candidates
    assert found.values == {
        "f0": "Robert'); DROP TABLE events; --",
        "f1": "pro",
        "fk1": "plan",
        "f2": "x",
    }
    assert found.events == "(device_brand IS DISTINCT FROM getvariable('scope_f0'))"
    assert found.visit_filtered
    assert "getvariable('scope_fk1')" in found.flags
    assert found.visits == "bool_or(p1) AND arg_min_null(p2, ts)"


def test_without_visit_filters_nothing_is_grouped_by_visit() -> None:
    found = predicates(parse_all(["screen_class==phone", "language~de"]))
    assert not found.visit_filtered
    assert found.visits == found.row == found.candidates == "true"
    assert found.flags == "NULL AS p"
    assert predicates(()).events == "true"


def test_is_not_on_what_a_visit_did_is_no_event_of_it_matching() -> None:
    found = predicates(parse_all(["path!=/blog"]))
    assert found.flags == "coalesce(CASE WHEN name = 'pageview' THEN path END = getvariable('scope_f0'), false) AS p0"
    assert found.visits == "NOT bool_or(p0)"
    assert found.row == "NOT coalesce(CASE WHEN name = 'pageview' THEN path END = getvariable('scope_f0'), false)"
    # No positive visit filter: every visitor is a candidate.
    assert found.candidates == "true"
