"""Account identifiers (e-mail, phone, account number): normalized, then kept only as keyed hashes.

An unkeyed hash of an e-mail is reversible by dictionary, so every identifier is an HMAC-SHA256 with
the pepper (the key file's secret, never in the database), scoped to the site and the kind.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

KINDS = ("email", "phone", "account")
MAX_ACCOUNT = 254
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-/]+$")
_ACCOUNT = re.compile(r"^[\w.\-:/#]{1,128}$")


class IdentityError(ValueError):
    """The identifier cannot be normalized; the message never repeats the identifier."""


def guess_kind(value: str) -> str:
    value = value.strip()
    if "@" in value:
        return "email"
    if _PHONE_CHARS.match(value) and sum(c.isdigit() for c in value) >= 7 and (value[0] in "+0(" or " " in value):
        return "phone"
    return "account"


def normalize(value: Any, kind: Any = None, country_code: str | None = None) -> tuple[str, str]:
    """(kind, normalized value): e-mails lower-cased, phones in E.164, account numbers trimmed."""
    if kind is not None and kind not in KINDS:
        raise IdentityError(f"kind must be one of {', '.join(KINDS)}")
    if not isinstance(value, str) or not value.strip():
        raise IdentityError("account is required")
    if len(value) > MAX_ACCOUNT:
        raise IdentityError(f"account is longer than {MAX_ACCOUNT} characters")
    value = value.strip()
    kind = kind or guess_kind(value)
    if kind == "email":
        return kind, normalize_email(value)
    if kind == "phone":
        return kind, normalize_phone(value, country_code)
    if kind == "account":
        if not _ACCOUNT.match(value):
            raise IdentityError("an account number may hold letters, digits and . - _ : / # (at most 128)")
        return kind, value
    raise IdentityError(f"kind must be one of {', '.join(KINDS)}")


def normalize_email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise IdentityError("account is not a well-formed e-mail address")
    return value


def normalize_phone(value: str, country_code: str | None = None) -> str:
    """E.164: '+' then 8 to 15 digits. A national number (leading trunk 0, or no prefix) needs a country code."""
    if not _PHONE_CHARS.match(value):
        raise IdentityError("a phone number may hold only digits, spaces, + ( ) . - /")
    digits = "".join(c for c in value if c.isdigit())
    compact = value.strip()
    if compact.startswith("+"):
        number = digits
    elif digits.startswith("00"):
        number = digits[2:]
    else:
        if country_code is None:
            raise IdentityError(
                "the phone number has no country code: send it as +<country><number>, "
                "or set [privacy] default_country_code"
            )
        number = country_code + digits.removeprefix("0")
    if not 8 <= len(number) <= 15 or number.startswith("0"):
        raise IdentityError("the phone number is not a valid international (E.164) number")
    return "+" + number


def account_hash(pepper: bytes, site: str, kind: str, normalized: str) -> str:
    return hmac.new(pepper, f"account\n{site}\n{kind}\n{normalized}".encode(), hashlib.sha256).hexdigest()


def subject_hash(pepper: bytes, site: str, subject: str) -> str:
    """What a privacy request records about its subject: a keyed hash distinct from any stored column."""
    return hmac.new(pepper, f"request\n{site}\n{subject}".encode(), hashlib.sha256).hexdigest()
