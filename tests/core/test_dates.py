"""Dates have ranges: no year 1, no validity past 100 years, no registration or birth in the future."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from hub.core.dates import add_years, check_validity, resolve_bound
from hub.core.errors import ValidationFailed
from hub.core.national_ids import make_resident_id
from hub.licenses.license_data import LicenseDataError, validate_license_data
from hub.licenses.types import load_license_types
from tests.conftest import bearer
from tests.support.licenses import BUSINESS, MARRIAGE, business_license_request, no_crime_request

TODAY = date(2026, 11, 21)  # the hub fixture's clock
TYPES = load_license_types(Path(__file__).resolve().parents[2] / "schemas" / "license-types")


@pytest.mark.parametrize("bound,expected", [
    ("today", TODAY), ("today+30d", date(2026, 12, 21)), ("today-1y", date(2025, 11, 21)),
    ("today+100y", date(2126, 11, 21)), ("today-99999y", date(1900, 1, 1)), (date(1949, 10, 1), date(1949, 10, 1)),
])
def test_bounds_resolve_relative_to_the_issuing_day(bound, expected):
    assert resolve_bound(bound, today=TODAY) == expected


def test_a_leap_day_plus_years_is_the_last_of_february():
    assert add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)


@pytest.mark.parametrize("valid_from,valid_until", [
    (date(1999, 12, 31), None), (date(2027, 11, 22), None), (TODAY, date(2126, 11, 21)), (TODAY, date(9999, 12, 31)),
    (TODAY, date(2026, 11, 20)),
])
def test_validity_outside_its_range_is_refused(valid_from, valid_until):
    with pytest.raises(ValidationFailed):
        check_validity(valid_from, valid_until, today=TODAY)


@pytest.mark.parametrize("valid_from,valid_until", [
    (date(2000, 1, 1), None), (date(2027, 11, 21), None), (TODAY, date(2126, 11, 20)), (TODAY, TODAY),
])
def test_validity_inside_its_range_passes(valid_from, valid_until):
    check_validity(valid_from, valid_until, today=TODAY)


def _data_errors(type_code: str, data: dict) -> set[tuple[str, str]]:
    with pytest.raises(LicenseDataError) as info:
        validate_license_data(TYPES[type_code], data, today=TODAY)
    return {(e["field"], e["code"]) for e in info.value.errors}


@pytest.mark.parametrize("field,value", [
    ("established", "0001-01-01"), ("established", "1899-12-31"), ("established", "2026-11-22"),
    ("operating_until", "2126-11-22"), ("operating_until", "9999-12-31"),
])
def test_license_data_dates_outside_their_range_are_refused(field, value):
    data = business_license_request()["data"] | {field: value}
    assert _data_errors(BUSINESS, data) == {(field, "out_of_range")}


def test_license_data_dates_at_their_limits_pass():
    data = business_license_request()["data"] | {"established": "2026-11-21", "operating_until": "2126-11-21"}
    result = validate_license_data(TYPES[BUSINESS], data, today=TODAY)
    assert (result["established"], result["operating_until"]) == (TODAY, date(2126, 11, 21))


def test_a_spouse_born_tomorrow_or_married_tomorrow_is_refused():
    data = {"spouse_name": "王芳", "spouse_id": make_resident_id("350102", date(2026, 11, 22), 1, "F"),
            "registered_on": "2026-11-22", "registry_office": "示例市民政局婚姻登记处"}
    assert _data_errors(MARRIAGE, data) == {("spouse_id", "invalid"), ("registered_on", "out_of_range")}


@pytest.mark.parametrize("change,words", [
    ({"valid_until": "0001-01-01"}, "greater than or equal to 1900-01-01"),
    ({"valid_from": "9999-12-31"}, "less than or equal to 2199-12-31"),
    ({"valid_until": "2199-12-31"}, "at most 100 years"),
    ({"valid_from": "2028-01-01"}, "valid_from must lie between"),
])
def test_license_validity_out_of_range_is_422(hub, departments, change, words):
    response = hub.client.post("/licenses", json=business_license_request(**change),
                               headers=bearer(hub, departments["market"]))
    assert response.status_code == 422 and words in response.text, response.text


def test_a_holder_born_in_the_future_is_422(hub, departments):
    request = no_crime_request()
    request["holder"]["id"] = make_resident_id("350102", date(2026, 12, 1), 1, "M")
    response = hub.client.post("/licenses", json=request, headers=bearer(hub, departments["police"]))
    assert response.status_code == 422 and "holder.id" in response.text, response.text


def test_a_record_check_dated_tomorrow_is_422(hub, departments):
    request = no_crime_request(data={"purpose": "入职审查", "checked_on": "2026-11-22"})
    response = hub.client.post("/licenses", json=request, headers=bearer(hub, departments["police"]))
    assert response.status_code == 422, response.text
    assert {"field": "checked_on", "code": "out_of_range",
            "message": "must lie between 1900-01-01 and 2026-11-21"} in response.json()["errors"]
