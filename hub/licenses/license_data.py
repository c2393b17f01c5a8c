"""A license's data checked against its type: each value normalised to the field's kind, every problem named.

`validate_license_data` returns the data as stored and signed (dates as ISO strings, numbers as numbers, text
trimmed) or raises LicenseDataError listing each field's problem as {field, code, message}.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

from hub.core.dates import DEFAULT_LATEST, EARLIEST, resolve_bound
from hub.core.national_ids import is_valid_resident_id
from hub.core.text import check_line, check_name, check_text
from hub.licenses.types import DEFAULT_STRING_MAX_LENGTH, LicenseField, LicenseType
from license_verifier.identifiers import is_valid_credit_code


class LicenseDataError(Exception):
    """License data does not fit its type; `errors` lists each problem as {field, code, message}."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        details = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(f"invalid license data: {details}")


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTEGER_RE = re.compile(r"[+-]?\d{1,18}")
_NUMBER_RE = re.compile(r"[+-]?(\d{1,18}(\.\d{1,18})?|\.\d{1,18})")
# Control and bidi characters have no place on a certificate; only `multiline` text keeps tab and line breaks.
_TEXT_CHECKS = {"name": check_name, "multiline": check_text}


class _Invalid(Exception):
    def __init__(self, code: str, message: str):
        self.code = code
        self.message = message


def validate_license_data(lt: LicenseType, data: dict[str, Any], *, today: date | None = None) -> dict[str, Any]:
    """Check `data` against `lt`; return it normalised or raise LicenseDataError listing all problems.

    Dates become `date` (within their range, counted from `today`: the issuing day, the system's by default),
    integers `int`, numbers `int` or `float`, strings are stripped. Optional fields that are absent or null are
    left out of the result.
    """
    today = today or date.today()
    if not isinstance(data, dict):
        raise LicenseDataError([_error("", "wrong_type", "license data must be an object")])
    errors: list[dict[str, str]] = []
    known = {f.name for f in lt.fields}
    for key in data:
        if key not in known:
            errors.append(_error(str(key), "unknown_field", f"{lt.name} has no field {key!r}"))
    result: dict[str, Any] = {}
    for field in lt.fields:
        value = data.get(field.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if field.required:
                message = f"required field is missing ({field.label})"
                errors.append(_error(field.name, "missing", message))
            continue
        try:
            result[field.name] = _normalise(field, value, today)
        except _Invalid as problem:
            errors.append(_error(field.name, problem.code, problem.message))
    if errors:
        raise LicenseDataError(errors)
    return result


def _error(field: str, code: str, message: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


def _normalise(field: LicenseField, value: Any, today: date) -> Any:
    if field.type == "string":
        return _normalise_string(field, value, today)
    if field.type == "date":
        return _date_in_range(field, _normalise_date(value), today)
    if field.type == "integer":
        return _normalise_integer(value)
    if field.type == "number":
        return _normalise_number(value)
    return _normalise_boolean(value)


def _normalise_string(field: LicenseField, value: Any, today: date) -> str:
    if not isinstance(value, str):
        raise _Invalid("wrong_type", "expected a string")
    text = value.strip()
    try:
        _TEXT_CHECKS.get(field.format or "", check_line)(text)
    except ValueError as exc:
        raise _Invalid("invalid", str(exc)) from None
    limit = field.max_length or DEFAULT_STRING_MAX_LENGTH
    if len(text) > limit:
        raise _Invalid("too_long", f"at most {limit} characters, got {len(text)}")
    if field.format == "resident_id":
        text = text.upper()
        if not is_valid_resident_id(text, today=today):
            raise _Invalid("invalid", "not a valid resident ID number")
    elif field.format == "credit_code":
        text = text.upper()
        if not is_valid_credit_code(text):
            raise _Invalid("invalid", "not a valid unified social credit code")
    return text


def _normalise_date(value: Any) -> date:
    # datetime is a subclass of date; a timestamp in a date field is a mistake, not a date.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or _DATE_RE.fullmatch(value.strip()) is None:
        raise _Invalid("wrong_type", "expected a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise _Invalid("invalid", f"not a real date: {value.strip()}") from exc


def _date_in_range(field: LicenseField, day: date, today: date) -> date:
    earliest = resolve_bound(field.earliest or EARLIEST, today=today)
    latest = resolve_bound(field.latest or DEFAULT_LATEST, today=today)
    if not earliest <= day <= latest:
        raise _Invalid("out_of_range", f"must lie between {earliest} and {latest}")
    return day


def _normalise_integer(value: Any) -> int:
    # bool is a subclass of int: `true` must not pass as 1.
    if isinstance(value, bool):
        raise _Invalid("wrong_type", "expected an integer, got a boolean")
    if isinstance(value, str) and _INTEGER_RE.fullmatch(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise _Invalid("wrong_type", "expected an integer")
    return _check_int_range(value)


def _check_int_range(value: int) -> int:
    # Keep to signed 64 bits so the value fits every database column and CBOR/JSON consumer.
    if not -(2**63) <= value < 2**63:
        raise _Invalid("invalid", "integer out of range")
    return value


def _normalise_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise _Invalid("wrong_type", "expected a number, got a boolean")
    if isinstance(value, str) and _NUMBER_RE.fullmatch(value.strip()):
        text = value.strip()
        value = float(text) if "." in text else int(text)
    if isinstance(value, int):
        return _check_int_range(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Invalid("invalid", "must be a finite number")
        return value
    raise _Invalid("wrong_type", "expected a number")


def _normalise_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip() in ("true", "false"):
        return value.strip() == "true"
    raise _Invalid("wrong_type", "expected true or false")
