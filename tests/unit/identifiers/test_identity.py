from __future__ import annotations

import hashlib

import pytest

from collector.identifiers.identity import IdentityError, account_hash, guess_kind, normalize


def test_email_is_trimmed_and_lower_cased() -> None:
    assert normalize("  Jane.Doe@Example.COM ") == ("email", "jane.doe@example.com")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("+84 912 345 678", "+84912345678"), ("0084-912-345-678", "+84912345678"), ("0912 345 678", "+84912345678")],
)
def test_phone_numbers_become_e164(raw: str, expected: str) -> None:
    assert normalize(raw, "phone", country_code="84") == ("phone", expected)


def test_national_phone_without_a_default_country_code_is_refused_without_echoing_it() -> None:
    with pytest.raises(IdentityError) as err:
        normalize("0912 345 678", "phone")
    assert "912" not in str(err.value)


def test_kinds_are_guessed() -> None:
    assert [guess_kind(v) for v in ("a@b.co", "+84 912 345 678", "ACC-001234")] == ["email", "phone", "account"]


def test_bad_values_are_refused() -> None:
    for value, kind in (("not-an-email@", "email"), ("12", "phone"), ("has space here", "account"), ("x", "ssn")):
        with pytest.raises(IdentityError):
            normalize(value, kind, "84")


def test_account_hash_is_keyed_not_a_plain_digest() -> None:
    email = "jane.doe@example.com"
    a = account_hash(b"k" * 32, "example.com", "email", email)
    assert a != hashlib.sha256(email.encode()).hexdigest()
    assert a != account_hash(b"j" * 32, "example.com", "email", email)
    assert a != account_hash(b"k" * 32, "other.org", "email", email)
