"""Date ranges: what a date in a request may be, and how long a license may be valid.

- Any date a request carries lies between 1900-01-01 and 2199-12-31 (`RequestDate`): no `0001-01-01`, no
  `9999-12-31` standing in for "for ever" (the hub says "no expiry" with null).
- A license's validity starts between 2000-01-01 and one year after today, and lasts at most 100 years
  (`check_validity`).
- A license type's date fields may narrow their range in the YAML with `earliest` and `latest`: a date, or
  `today` with an optional offset in days or years (`today`, `today-1y`, `today+30d`), counted at issuance
  (`resolve_bound`). Without them a field takes 1900-01-01 to today + 100 years.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated

from pydantic import Field

from hub.core.errors import ValidationFailed

EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)
EARLIEST_VALID_FROM = date(2000, 1, 1)  # license identifiers carry the year of valid_from (GB/T 36904)
MAX_VALIDITY_YEARS = 100
DEFAULT_LATEST = "today+100y"
BOUND = re.compile(r"today(?:([+-])(\d{1,5})([dy]))?")

RequestDate = Annotated[date, Field(ge=EARLIEST, le=LATEST, description="between 1900-01-01 and 2199-12-31")]


def add_years(day: date, years: int) -> date:
    """Return the same day `years` later (or earlier); 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def is_bound(value: date | str) -> bool:
    """Tell whether `value` is a date or a `today[±N(d|y)]` expression."""
    return isinstance(value, date) or BOUND.fullmatch(value) is not None


def resolve_bound(value: date | str, *, today: date) -> date:
    """Turn a bound from a license type into a date, relative to `today` where it says so."""
    if isinstance(value, date):
        return value
    match = BOUND.fullmatch(value)
    if match is None:
        raise ValueError(f"not a date bound: {value!r}")
    sign, amount, unit = match.groups()
    if sign is None:
        return today
    offset = int(amount) * (1 if sign == "+" else -1)
    if unit == "y":  # clamp the year first: date() stops at year 1 and 9999
        offset = max(EARLIEST.year - 1, min(LATEST.year + 1, today.year + offset)) - today.year
    day = add_years(today, offset) if unit == "y" else today + timedelta(days=offset)
    return min(max(day, EARLIEST), LATEST)


def check_validity(valid_from: date, valid_until: date | None, *, today: date) -> None:
    """Refuse a validity that starts before 2000, more than a year ahead, ends before it starts or lasts over
    100 years; raise ValidationFailed."""
    latest_start = add_years(today, 1)
    if not EARLIEST_VALID_FROM <= valid_from <= latest_start:
        raise ValidationFailed(f"valid_from must lie between {EARLIEST_VALID_FROM} and {latest_start}.")
    if valid_until is None:
        return
    if valid_until < valid_from:
        raise ValidationFailed("valid_until is before valid_from.")
    last_day = add_years(valid_from, MAX_VALIDITY_YEARS) - timedelta(days=1)
    if valid_until > last_day:
        raise ValidationFailed(f"A license is valid for at most {MAX_VALIDITY_YEARS} years: valid_until must not "
                               f"lie after {last_day}.")
