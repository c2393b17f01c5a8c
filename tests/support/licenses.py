"""Request builders shared by the license tests."""

from __future__ import annotations

import itertools
from datetime import date

from hub.core.national_ids import make_credit_code, make_resident_id

BUSINESS = "11100000000013338W001"
MARRIAGE = "11100000MB90000150001"
NO_CRIME = "11100000MB9000031M001"
_seq = itertools.count(1)


def company_id() -> str:
    return make_credit_code(20_000_000 + next(_seq), region="990100")


def resident_id() -> str:
    n = next(_seq)
    return make_resident_id("350102", date(1980 + n % 30, 1 + n % 12, 1 + n % 28), 1 + n % 400, "M")


def business_license_request(**overrides) -> dict:
    body = {
        "type": BUSINESS,
        "holder": {"id_type": "credit_code", "id": company_id(), "name": "福州闽江数字科技有限公司"},
        "data": {"legal_representative": "林建华", "enterprise_type": "有限责任公司", "registered_capital": "500万元",
                 "established": "2015-03-15", "address": "示例市鼓楼区五四路100号", "business_scope": "软件开发"},
    }
    body.update(overrides)
    return body


def no_crime_request(**overrides) -> dict:
    body = {"type": NO_CRIME, "holder": {"id_type": "resident_id", "id": resident_id(), "name": "陈美玲"},
            "data": {"purpose": "入职审查", "checked_on": "2026-11-20"}}
    body.update(overrides)
    return body
