"""Typed import fields: the declaration (FieldSpec) and the coercion of one cell to its JSON value."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from connectors.base import ConnectorConfigError

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# 2024-03-05, 2024/3/5, 2024.3.5, 2024年3月5日, optionally followed by a time of day; or 20240305.
_DATE = re.compile(r"([0-9]{4})[-/.年]([0-9]{1,2})[-/.月]([0-9]{1,2})日?(?:[T ][0-9:.+\-Z]*)?"
                   r"|([0-9]{4})([0-9]{2})([0-9]{2})")
# Text a spreadsheet would run as a formula when a CSV or XLSX holding it is opened ("CSV injection"): it starts
# with =, @, a tab, CR or LF, or with + or - followed by anything but digits, blanks and . , ( ) / - (so a signed
# number, a phone number such as "+86 10 6512 3456" and a lone "-" for "none" stay allowed: they cannot call
# a function or reach DDE).
_FORMULA = re.compile(r"[=@\t\r\n]|[+\-](?![0-9 .,()/\-]*\Z)")
_TRIGGERS = frozenset("=+-@\t\r\n")
FORMULA_RULE = "starts like a spreadsheet formula (=, +, -, @, tab or line break): refused so that no export can run it"
_TRUE = frozenset({"true", "t", "yes", "y", "1", "是", "√"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "否", "×"})

Coerce = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One imported column: its name and type (string, integer, number, date or boolean)."""

    name: str
    type: str = "string"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConnectorConfigError("fields: a field name must be a non-empty string")
        if self.type not in COERCERS:
            raise ConnectorConfigError(f"fields.{self.name}.type: {self.type!r} is not one of {', '.join(COERCERS)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def looks_like_formula(text: str) -> bool:
    """Tell whether a spreadsheet would take this text for a formula (see _FORMULA)."""
    return _FORMULA.match(text) is not None


def to_string(value: Any) -> str | None:
    """Keep text (refusing formula-like text); write numbers as text (an integral spreadsheet float loses its '.0')."""
    if isinstance(value, str):
        if value[:1] in _TRIGGERS and _FORMULA.match(value):
            raise ValueError(f"the text {FORMULA_RULE}")
        return value or None
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{_show(value)} is not text")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    raise ValueError(f"{_show(value)} is not text")


def to_integer(value: Any) -> int | None:
    """Parse ASCII digits with an optional sign; accept integral numbers."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _INTEGER.fullmatch(text):
            return int(text)
    elif value is None:
        return None
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"{_show(value)} is not an integer")


def to_number(value: Any) -> float | None:
    """Parse a finite decimal number."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _NUMBER.fullmatch(text):
            return float(text)
    elif value is None:
        return None
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise ValueError(f"{_show(value)} is not a number")


def to_date(value: Any) -> str | None:
    """Parse a calendar date in the usual Chinese and ISO spellings; store it as YYYY-MM-DD."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        match = _DATE.fullmatch(text)
        if match:
            parts = match.group(1, 2, 3) if match.group(1) else match.group(4, 5, 6)
            try:
                return date(*map(int, parts)).isoformat()
            except ValueError:
                pass
    elif value is None:
        return None
    elif isinstance(value, datetime):
        return value.date().isoformat()
    elif isinstance(value, date):
        return value.isoformat()
    raise ValueError(f"{_show(value)} is not a date (YYYY-MM-DD)")


def to_boolean(value: Any) -> bool | None:
    """Parse true/false, yes/no, 1/0, 是/否."""
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    elif value is None or isinstance(value, bool):
        return value
    elif isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{_show(value)} is not a boolean (true/false)")


COERCERS: dict[str, Coerce] = {"string": to_string, "integer": to_integer, "number": to_number, "date": to_date,
                               "boolean": to_boolean}


def coercers(fields: Sequence[Any]) -> list[tuple[str, Coerce]]:
    """Return (name, coerce) per field; refuse duplicate names."""
    fields = [as_field_spec(field) for field in fields]
    names = [spec.name for spec in fields]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConnectorConfigError(f"fields: duplicate field names {', '.join(duplicates)}")
    return [(spec.name, COERCERS[spec.type]) for spec in fields]


def as_field_spec(field: Any) -> FieldSpec:
    """Accept a FieldSpec, a {"name", "type"} mapping or any object with .name and .type."""
    if isinstance(field, FieldSpec):
        return field
    if isinstance(field, dict):
        return FieldSpec(field.get("name"), field.get("type", "string"))
    return FieldSpec(getattr(field, "name", None), getattr(field, "type", "string"))
