"""Identifier rules the hub needs beyond what a license carries: resident ID numbers, test codes, masks.

Credit codes and e-license identifiers are checked in ``license_verifier.identifiers`` (a verifier
needs them too); this module builds valid credit codes for tests and demo data from those rules.
Pure functions with no framework imports. Reference values, each checked by an implementation
independent of the hub's, are in tests/core/test_ids.py.
"""

from __future__ import annotations

import re
from datetime import date

from license_verifier.identifiers import credit_code_check_char, is_valid_credit_code, org_code_check_char

# GB 11643-1999 §7: ISO 7064 MOD 11-2 weights and check characters.
_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECKS = "10X98765432"
_DIGITS_RE = re.compile(r"[0-9]+")

ID_TYPES = ("resident_id", "credit_code")


# --- Unified social credit code (GB 32100-2015) -------------------------------------------------


def make_credit_code(
    seed: int = 0,
    *,
    registration_authority: str = "9",
    category: str = "1",
    region: str = "350100",
    org_body: str | None = None,
) -> str:
    """Build a valid credit code, computing both check characters (for tests and demo data).

    The organisation code body is `org_body` if given, else the seed as eight digits, so the same
    seed always gives the same code; `make_credit_code(org_body="M000100Y")` is
    `91350100M000100Y43`.
    """
    if org_body is None:
        if not 0 <= seed <= 99_999_999:
            raise ValueError("seed must be between 0 and 99999999")
        org_body = f"{seed:08d}"
    if len(registration_authority) != 1 or len(category) != 1:
        raise ValueError("registration_authority and category are one character each")
    if len(region) != 6 or not region.isdigit():
        raise ValueError("region must be a 6-digit administrative division code")
    if len(org_body) != 8:
        raise ValueError("org_body must be 8 characters")
    first17 = registration_authority + category + region + org_body + org_code_check_char(org_body)
    code = first17 + credit_code_check_char(first17)
    if not is_valid_credit_code(code):
        raise ValueError(f"cannot build a valid credit code from these parts: {code}")
    return code


# --- Resident identity number (GB 11643-1999) ---------------------------------------------------


def resident_id_check_char(first17: str) -> str:
    """Return the GB 11643 check character (ISO 7064 MOD 11-2) for the first 17 digits."""
    if len(first17) != 17 or not _is_ascii_digits(first17):
        raise ValueError("expected 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, _RESIDENT_WEIGHTS, strict=True))
    return _RESIDENT_CHECKS[total % 11]


def is_valid_resident_id(number: str, *, today: date | None = None) -> bool:
    """Tell whether `number` is a valid 18-character resident ID with a real birth date.

    The check character must be an upper-case `X`; callers that accept user input upper-case it
    first. With `today`, a birth date in the future is rejected too.
    """
    if not isinstance(number, str) or len(number) != 18:
        return False
    if not _is_ascii_digits(number[:17]):
        return False
    birth = _parse_yyyymmdd(number[6:14])
    if birth is None or birth.year < 1800 or (today is not None and birth > today):
        return False
    return resident_id_check_char(number[:17]) == number[17]


def make_resident_id(region: str, birth: date, seq: int, sex: str) -> str:
    """Build a valid resident ID (for tests and demo data).

    `seq` (1-499) numbers people born on the same day in the same region; the 3-digit order code
    is odd for men and even for women (GB 11643 §5.3), so it is 2*seq-1 for "M" and 2*seq for "F".
    """
    if len(region) != 6 or not _is_ascii_digits(region):
        raise ValueError("region must be a 6-digit administrative division code")
    if not 1 <= seq <= 499:
        raise ValueError("seq must be between 1 and 499")
    if sex not in ("M", "F"):
        raise ValueError("sex must be 'M' or 'F'")
    if not 1800 <= birth.year <= 9999:
        raise ValueError("birth year out of range")
    order = 2 * seq - 1 if sex == "M" else 2 * seq
    first17 = f"{region}{birth:%Y%m%d}{order:03d}"
    return first17 + resident_id_check_char(first17)


def _parse_yyyymmdd(text: str) -> date | None:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _is_ascii_digits(text: str) -> bool:
    # str.isdigit() also accepts superscripts and other scripts' digits.
    return _DIGITS_RE.fullmatch(text) is not None


# --- Masking for logs and pages -------------------------------------------------------------------


def _mask(value: str, keep_start: int, keep_end: int) -> str:
    # A value too short to keep both ends is masked whole: masking must never reveal everything.
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    hidden = len(value) - keep_start - keep_end
    return value[:keep_start] + "*" * hidden + value[len(value) - keep_end :]


def mask_resident_id(number: str) -> str:
    """Mask a resident ID, keeping the region (first 6) and the last 4: `110105********002X`."""
    return _mask(number, 6, 4)


def mask_credit_code(code: str) -> str:
    """Mask a credit code, keeping the first 8 (authority, category, region) and the last 2."""
    return _mask(code, 8, 2)


def mask_identity(id_type: str, id: str) -> str:  # noqa: A002 - mirrors the holder's field name
    """Mask an identity number according to its type (`resident_id` or `credit_code`)."""
    if id_type == "resident_id":
        return mask_resident_id(id)
    if id_type == "credit_code":
        return mask_credit_code(id)
    raise ValueError(f"unknown identity type {id_type!r}; expected one of {', '.join(ID_TYPES)}")
