"""The identifiers a hub license carries: the e-license identifier and the credit codes inside it.

GB/T 36904-2018 e-license identifiers ``1.2.156.3005.2.{type}.{issuer}.{serial}.{version}.{check}``
with their ISO 7064 MOD 37,36 check character, and GB 32100-2015 unified social credit codes (the
issuer code, and the first 18 characters of a license type code). Pure functions: the hub builds
identifiers with them and a verifier checks them with them. Reference values, each checked by an
implementation independent of this one, are in tests/core/test_ids.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# GB 32100-2015 §4.3: the 31-character alphabet (no I, O, S, V, Z); weights are 3^(i-1) mod 31.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11714-1997 §5: organisation code check over the 8-character body.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# ISO 7064 MOD 37,36 works over digits and upper-case Latin letters.
MOD37_36_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MOD37_36_VALUES = {char: value for value, char in enumerate(MOD37_36_ALPHABET)}
_NOT_IN_ALPHABET = 0xFF
_MOD37_36_BYTES = bytes(_MOD37_36_VALUES.get(chr(byte), _NOT_IN_ALPHABET) for byte in range(256))
# The MOD 37,36 hybrid step: the product after each value, for every product 0..36 and value 0..35.
_MOD37_36_STEP = tuple(tuple(((p + v) % 36 or 36) * 2 % 37 for v in range(36)) for p in range(37))

# GB/T 36904-2018: the e-license identifier's fixed object-identifier prefix.
LICENSE_ID_PREFIX = "1.2.156.3005.2"
_SERIAL_RE = re.compile(r"[0-9A-Z]{1,32}")
_VERSION_RE = re.compile(r"[0-9]{3}")
_DIGITS_RE = re.compile(r"[0-9]+")


# --- Unified social credit code (GB 32100-2015) -------------------------------------------------


def org_code_check_char(body: str) -> str:
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
    if org_code_check_char(code[8:16]) != code[16]:
        return False
    return credit_code_check_char(code[:17]) == code[17]


# --- ISO 7064 MOD 37,36 and the e-license identifier (GB/T 36904-2018) ----------------------------


def _mod37_36_product(text: str, product: int = 36) -> int:
    """Return the ISO 7064 MOD 37,36 running product after text, starting from product."""
    values = text.encode("ascii", "replace").translate(_MOD37_36_BYTES)  # "?" stands for any non-ASCII
    if _NOT_IN_ALPHABET in values:
        char = next(char for char in text if char not in _MOD37_36_VALUES)
        raise ValueError(f"character {char!r} is not in the alphabet 0-9A-Z")
    step = _MOD37_36_STEP
    for value in values:
        product = step[product][value]
    return product


def mod37_36_check(text: str) -> str:
    """Return the ISO 7064 MOD 37,36 (hybrid) check character for `text` over 0-9A-Z."""
    if not text:
        raise ValueError("cannot compute a check character over an empty string")
    return MOD37_36_ALPHABET[(37 - _mod37_36_product(text)) % 36]


def is_valid_license_type_code(code: str) -> bool:
    """Tell whether `code` is a license type code: the authority's credit code + 3 digits."""
    return (
        isinstance(code, str)
        and len(code) == 21
        and is_valid_credit_code(code[:18])
        and _DIGITS_RE.fullmatch(code[18:]) is not None
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


class IdentifierPrefix:
    """The identifiers of one license type and issuer, their check over both codes computed once."""

    def __init__(self, type_code: str, issuer_code: str) -> None:
        self._text = f"{LICENSE_ID_PREFIX}.{type_code}.{issuer_code}."
        self._product = _mod37_36_product(type_code + issuer_code)

    def identifier(self, serial: str, version: int) -> str:
        """Return the identifier of serial and version with its check character, without judging them."""
        version_text = f"{version:03d}"
        product = _mod37_36_product(serial + version_text, self._product)
        return f"{self._text}{serial}.{version_text}.{MOD37_36_ALPHABET[(37 - product) % 36]}"


def format_license_identifier(type_code: str, issuer_code: str, serial: str, version: int) -> str:
    """Return the identifier of these parts with its check character, without judging the parts."""
    return IdentifierPrefix(type_code, issuer_code).identifier(serial, version)


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
    return format_license_identifier(type_code, issuer_code, serial, version)


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
    if text != format_license_identifier(type_code, issuer_code, serial, version):
        raise ValueError(f"check character {check!r} does not match the identifier")
    return LicenseIdentifier(type_code, issuer_code, serial, version, check)
