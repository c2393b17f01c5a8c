"""Identifier rules: credit codes, resident ID numbers, e-license identifiers.

Pure functions with no framework imports, so the verifier and third parties can use them.
Reference values, each checked by an implementation independent of the hub's, are in tests/test_ids.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

# GB 32100-2015 §4.3: the 31-character alphabet (no I, O, S, V, Z); weights are 3^(i-1) mod 31.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11714-1997 §5: organisation code check over the 8-character body.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# GB 11643-1999 §7: ISO 7064 MOD 11-2 weights and check characters.
_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECKS = "10X98765432"
# ISO 7064 MOD 37,36 works over digits and upper-case Latin letters.
MOD37_36_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# GB/T 36904-2018: the e-license identifier's fixed object-identifier prefix.
LICENSE_ID_PREFIX = "1.2.156.3005.2"
_SERIAL_RE = re.compile(r"[0-9A-Z]{1,32}")
_VERSION_RE = re.compile(r"[0-9]{3}")
_DIGITS_RE = re.compile(r"[0-9]+")

ID_TYPES = ("resident_id", "credit_code")


# --- Unified social credit code (GB 32100-2015) -------------------------------------------------


def _org_code_check_char(body: str) -> str:
    """Return the GB 11714 check character for an 8-character organisation code body."""
    total = 0
    for char, weight in zip(body, _ORG_WEIGHTS, strict=True):
        if char.isdigit():
            value = int(char)
        elif "A" <= char <= "Z":
            value = ord(char) - ord("A") + 10
        else:
            raise ValueError(f"character {char!r} is not allowed in an organisation code")
        total += value * weight
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def credit_code_check_char(first17: str) -> str:
    """Return the GB 32100 check character (position 18) for the first 17 characters."""
    if len(first17) != 17:
        raise ValueError(f"expected 17 characters, got {len(first17)}")
    total = 0
    for char, weight in zip(first17, _CREDIT_WEIGHTS, strict=True):
        index = CREDIT_CODE_ALPHABET.find(char)
        if index < 0:
            raise ValueError(f"character {char!r} is not in the credit code alphabet")
        total += index * weight
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    """Tell whether `code` is a unified social credit code with both check characters right."""
    if not isinstance(code, str) or len(code) != 18:
        return False
    if any(char not in CREDIT_CODE_ALPHABET for char in code):
        return False
    # Positions 3-8 are the GB/T 2260 administrative division code: six digits.
    if not code[2:8].isdigit():
        return False
    if _org_code_check_char(code[8:16]) != code[16]:
        return False
    return credit_code_check_char(code[:17]) == code[17]


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
    first17 = registration_authority + category + region + org_body + _org_code_check_char(org_body)
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


# --- ISO 7064 MOD 37,36 and the e-license identifier (GB/T 36904-2018) ----------------------------


def mod37_36_check(text: str) -> str:
    """Return the ISO 7064 MOD 37,36 (hybrid) check character for `text` over 0-9A-Z."""
    if not text:
        raise ValueError("cannot compute a check character over an empty string")
    product = 36
    for char in text:
        value = MOD37_36_ALPHABET.find(char)
        if value < 0:
            raise ValueError(f"character {char!r} is not in the alphabet 0-9A-Z")
        total = (product + value) % 36 or 36
        product = total * 2 % 37
    return MOD37_36_ALPHABET[(37 - product) % 36]


def is_valid_license_type_code(code: str) -> bool:
    """Tell whether `code` is a license type code: the authority's credit code + 3 digits."""
    return (
        isinstance(code, str)
        and len(code) == 21
        and is_valid_credit_code(code[:18])
        and _is_ascii_digits(code[18:])
    )


@dataclass(frozen=True)
class LicenseIdentifier:
    """The parts of an e-license identifier (证照标识)."""

    type_code: str
    issuer_code: str
    serial: str
    version: int
    check: str

    @property
    def authority_code(self) -> str:
        """Credit code of the authority that defines the license type."""
        return self.type_code[:18]

    def __str__(self) -> str:
        return (
            f"{LICENSE_ID_PREFIX}.{self.type_code}.{self.issuer_code}."
            f"{self.serial}.{self.version:03d}.{self.check}"
        )


def _identifier_check(type_code: str, issuer_code: str, serial: str, version: int) -> str:
    return mod37_36_check(f"{type_code}{issuer_code}{serial}{version:03d}")


def _check_identifier_parts(type_code: str, issuer_code: str, serial: str, version: int) -> None:
    if not is_valid_license_type_code(type_code):
        raise ValueError(
            f"license type code {type_code!r} is not a credit code followed by 3 digits"
        )
    if not is_valid_credit_code(issuer_code):
        raise ValueError(f"issuer code {issuer_code!r} is not a valid credit code")
    if not isinstance(serial, str) or _SERIAL_RE.fullmatch(serial) is None:
        raise ValueError(f"serial {serial!r} must be 1-32 characters of 0-9A-Z")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 999:
        raise ValueError(f"version {version!r} must be an integer from 1 to 999")


def license_identifier(type_code: str, issuer_code: str, serial: str, version: int) -> str:
    """Build the identifier `1.2.156.3005.2.{type}.{issuer}.{serial}.{version:03d}.{check}`."""
    _check_identifier_parts(type_code, issuer_code, serial, version)
    check = _identifier_check(type_code, issuer_code, serial, version)
    return str(LicenseIdentifier(type_code, issuer_code, serial, version, check))


def parse_license_identifier(text: str) -> LicenseIdentifier:
    """Split and check an e-license identifier; raise ValueError saying what is wrong."""
    if not isinstance(text, str):
        raise ValueError("license identifier must be a string")
    prefix = LICENSE_ID_PREFIX + "."
    if not text.startswith(prefix):
        raise ValueError(f"license identifier must start with {prefix!r}")
    parts = text[len(prefix) :].split(".")
    if len(parts) != 5:
        raise ValueError(
            "license identifier must have 5 parts after the prefix "
            f"(type, issuer, serial, version, check), got {len(parts)}"
        )
    type_code, issuer_code, serial, version_text, check = parts
    if _VERSION_RE.fullmatch(version_text) is None:
        raise ValueError(f"version {version_text!r} must be 3 digits")
    version = int(version_text)
    _check_identifier_parts(type_code, issuer_code, serial, version)
    if len(check) != 1:
        raise ValueError(f"check {check!r} must be one character")
    expected = _identifier_check(type_code, issuer_code, serial, version)
    if check != expected:
        raise ValueError(f"check character {check!r} does not match the identifier")
    return LicenseIdentifier(type_code, issuer_code, serial, version, check)


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
