"""License types: the shipped YAML files, broken files, and checking license data."""

import re
from datetime import date, datetime
from pathlib import Path

import pytest

from hub.core.national_ids import make_credit_code
from hub.licenses.license_data import LicenseDataError, validate_license_data
from hub.licenses.types import (
    DEFAULT_STRING_MAX_LENGTH,
    LicenseType,
    LicenseTypeError,
    load_license_types,
)
from license_verifier.identifiers import is_valid_credit_code, is_valid_license_type_code

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "license-types"

BUSINESS = "11100000000013338W001"
MARRIAGE = "11100000MB90000150001"
REAL_ESTATE = "11100000MB9000023T001"
NO_CRIMINAL_RECORD = "11100000MB9000031M001"
NO_WAGE_ARREARS = "11100000MB900004XD001"

# The demo departments listed in schemas/README.md, by the type each issues.
ISSUERS = {
    BUSINESS: "11990100MB0000019L",  # 市场监督管理局
    MARRIAGE: "11990100MB0000027F",  # 民政局
    REAL_ESTATE: "11990100MB0000035A",  # 自然资源局
    NO_CRIMINAL_RECORD: "11990100MB00000435",  # 公安局
    NO_WAGE_ARREARS: "11990100MB00000510",  # 人力资源和社会保障局
}

VALID_TYPE = """\
code: 11100000000013338W001
name: 营业执照
name_en: Business license
holder: credit_code
fields:
  - {name: legal_representative, type: string, label: 法定代表人}
  - {name: established, type: date, label: 成立日期}
  - {name: employees, type: integer, label: 人数, required: false}
qr_fields: [legal_representative]
issuers: [11990100MB0000019L]
"""


@pytest.fixture(scope="module")
def shipped():
    return load_license_types(SCHEMAS)


def write(tmp_path, name, text):
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def load_error(tmp_path, text, name="broken.yaml"):
    with pytest.raises(LicenseTypeError) as info:
        load_license_types(write(tmp_path, name, text))
    return str(info.value)


# --- The shipped files ---------------------------------------------------------------------------


def test_the_five_shipped_license_types_load(shipped):
    assert set(shipped) == set(ISSUERS)
    assert {t.name for t in shipped.values()} == {
        "营业执照",
        "结婚证",
        "不动产权证书",
        "无犯罪记录证明",
        "农民工工资无拖欠证明",
    }


def test_shipped_types_use_valid_codes_and_the_demo_issuers(shipped):
    for code, license_type in shipped.items():
        assert is_valid_license_type_code(code)
        assert license_type.issuers == [ISSUERS[code]]
        assert is_valid_credit_code(ISSUERS[code])


def test_shipped_types_have_the_agreed_holders_qr_fields_and_validity(shipped):
    expected = {
        BUSINESS: ("credit_code", ["legal_representative"], None),
        MARRIAGE: ("resident_id", ["spouse_name", "registered_on"], None),
        REAL_ESTATE: ("resident_id", ["certificate_no"], None),
        NO_CRIMINAL_RECORD: ("resident_id", ["checked_on"], 90),
        NO_WAGE_ARREARS: ("credit_code", ["period_end"], 180),
    }
    for code, (holder, qr_fields, days) in expected.items():
        license_type = shipped[code]
        assert (license_type.holder, license_type.qr_fields, license_type.default_validity_days) == (
            holder,
            qr_fields,
            days,
        )


def test_shipped_field_types(shipped):
    assert shipped[BUSINESS].field("established").type == "date"
    assert shipped[MARRIAGE].field("registered_on").type == "date"
    assert shipped[MARRIAGE].field("spouse_id").format == "resident_id"
    assert shipped[REAL_ESTATE].field("area").type == "number"
    assert shipped[NO_CRIMINAL_RECORD].field("checked_on").type == "date"
    assert shipped[NO_WAGE_ARREARS].field("employees").type == "integer"
    assert shipped[NO_WAGE_ARREARS].field("period_start").type == "date"


def test_string_fields_default_to_200_characters(shipped):
    assert shipped[REAL_ESTATE].field("location").max_length == DEFAULT_STRING_MAX_LENGTH == 200
    assert shipped[REAL_ESTATE].field("area").max_length is None


def test_every_shipped_field_has_a_chinese_label(shipped):
    for license_type in shipped.values():
        for field in license_type.fields:
            assert any("\u4e00" <= char <= "\u9fff" for char in field.label), field.name


# --- Broken files --------------------------------------------------------------------------------


def test_a_valid_file_in_a_temporary_directory_loads(tmp_path):
    types = load_license_types(write(tmp_path, "ok.yaml", VALID_TYPE))
    assert types[BUSINESS].field("employees").required is False


def test_wrong_field_type_names_file_and_field_path(tmp_path):
    text = VALID_TYPE.replace("type: integer", "type: int")
    message = load_error(tmp_path, text, "business.yaml")
    assert message.startswith(f"{tmp_path / 'business.yaml'}: fields.2.type: Input should be 'string', 'date'")


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (("code: 11100000000013338W001", "code: 11100000000013338W01"), "code:", "credit code"),
        (("code: 11100000000013338W001", "code: 11100000000013338X001"), "code:", "credit code"),
        (("holder: credit_code", "holder: passport"), "holder:", "'resident_id' or 'credit_code'"),
        (("name_en: Business license\n", ""), "name_en:", "Field required"),
        (("name_en: Business license", "name_en: Business license\nname_fr: Licence"), "name_fr:", "Extra inputs"),
        (("[legal_representative]", "[legal_representative, shoe_size]"), "qr_fields:", "'shoe_size' is not one"),
        (("[legal_representative]", "[legal_representative, legal_representative]"), "qr_fields:", "duplicate"),
        (("[11990100MB0000019L]", "[11990100MB0000019M]"), "issuers:", "not a valid credit code"),
        (("[11990100MB0000019L]", "[]"), "issuers:", "at least 1 item"),
        (("name: established", "name: legal_representative"), "fields:", "duplicate field name"),
        (("name: established", "name: EstablishedOn"), "fields.1.name:", "pattern"),
        (("label: 成立日期}", "label: 成立日期, max_length: 10}"), "fields.1:", "only to string fields"),
        (("label: 成立日期}", "label: 成立日期, colour: red}"), "fields.1.colour:", "Extra inputs"),
        (("label: 成立日期}", "label: 成立日期, latest: tomorrow}"), "fields.1.latest:", "today+N(d|y)"),
        (("label: 成立日期}", "label: 成立日期, earliest: today+1w}"), "fields.1.earliest:", "a date (YYYY-MM-DD)"),
        (("label: 法定代表人}", "label: 法定代表人, latest: today}"), "fields.0:", "only to date fields"),
        (("label: 法定代表人}", "label: 法定代表人, format: email}"), "fields.0.format:", "'name' or 'multiline'"),
        (("label: 法定代表人}", "label: \"法定\\u202e代表人\"}"), "fields.0.label:", "bidirectional"),
        (("required: false", "required: 'no'"), "fields.2.required:", "valid boolean"),
        (("qr_fields", "default_validity_days: 0\nqr_fields"), "default_validity_days:", "greater than or equal to 1"),
        (("qr_fields", "default_validity_days: '90'\nqr_fields"), "default_validity_days:", "valid integer"),
    ],
)
def test_broken_files_name_the_file_and_the_failing_field(tmp_path, change, path, words):
    old, new = change
    assert old in VALID_TYPE
    message = load_error(tmp_path, VALID_TYPE.replace(old, new))
    assert message.startswith(f"{tmp_path / 'broken.yaml'}: ")
    assert path in message
    assert words in message


def test_yaml_syntax_error_names_the_file_and_line(tmp_path):
    message = load_error(tmp_path, VALID_TYPE + "fields: [unclosed\n")
    assert message.startswith(f"{tmp_path / 'broken.yaml'}: YAML syntax error")
    assert "line 12" in message


def test_duplicate_yaml_key_is_an_error_not_a_silent_overwrite(tmp_path):
    message = load_error(tmp_path, VALID_TYPE + "qr_fields: []\n")
    assert "duplicate key 'qr_fields'" in message


@pytest.mark.parametrize("text", ["", "- a list\n", "just text\n"])
def test_file_that_is_not_a_mapping_is_rejected(tmp_path, text):
    message = load_error(tmp_path, text)
    assert "expected a mapping at top level" in message


def test_duplicate_code_across_files_names_both_files(tmp_path):
    write(tmp_path, "a.yaml", VALID_TYPE)
    write(tmp_path, "b.yaml", VALID_TYPE.replace("营业执照", "营业执照（副本）"))
    with pytest.raises(LicenseTypeError) as info:
        load_license_types(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'b.yaml'}: code: duplicate license type code {BUSINESS}")
    assert str(tmp_path / "a.yaml") in message


def test_error_carries_structured_errors(tmp_path):
    text = VALID_TYPE.replace("holder: credit_code", "holder: x").replace("type: date", "type: day")
    with pytest.raises(LicenseTypeError) as info:
        load_license_types(write(tmp_path, "two.yaml", text))
    assert info.value.path == str(tmp_path / "two.yaml")
    assert [loc for loc, _ in info.value.errors] == ["holder", "fields.1.type"]


def test_files_other_than_yaml_are_ignored(tmp_path):
    write(tmp_path, "ok.yaml", VALID_TYPE)
    write(tmp_path, "notes.txt", "not: [valid")
    assert list(load_license_types(tmp_path)) == [BUSINESS]


def test_license_types_are_immutable(shipped):
    with pytest.raises(Exception):
        shipped[BUSINESS].name = "changed"


# --- Checking license data -----------------------------------------------------------------------


def business_data(**changes):
    data = {
        "legal_representative": "张三",
        "enterprise_type": "有限责任公司（自然人投资或控股）",
        "registered_capital": "100万元人民币",
        "established": "2020-05-18",
        "address": "示例市鼓楼区五一北路1号",
        "business_scope": "软件开发；信息技术咨询服务。",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def codes(info):
    return {(e["field"], e["code"]) for e in info.value.errors}


def test_valid_data_is_normalised(shipped):
    result = validate_license_data(shipped[BUSINESS], business_data(legal_representative="  张三 "))
    assert result["established"] == date(2020, 5, 18)
    assert result["legal_representative"] == "张三"
    assert "operating_until" not in result


def test_every_problem_is_listed_with_its_field(shipped):
    data = business_data(
        legal_representative=...,
        established="18/05/2020",
        address="街" * 201,
        colour="red",
    )
    with pytest.raises(LicenseDataError) as info:
        validate_license_data(shipped[BUSINESS], data)
    assert codes(info) == {
        ("legal_representative", "missing"),
        ("established", "wrong_type"),
        ("address", "too_long"),
        ("colour", "unknown_field"),
    }
    assert "legal_representative" in str(info.value)


def test_blank_required_string_counts_as_missing(shipped):
    with pytest.raises(LicenseDataError) as info:
        validate_license_data(shipped[BUSINESS], business_data(address="   ", legal_representative=None))
    assert codes(info) == {("address", "missing"), ("legal_representative", "missing")}


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2020-02-30", "invalid"),
        ("20200518", "wrong_type"),
        ("2020-W21-1", "wrong_type"),
        ("2020-05-18T00:00:00", "wrong_type"),
        (datetime(2020, 5, 18, 12, 0), "wrong_type"),
        (20200518, "wrong_type"),
    ],
)
def test_dates_must_be_real_calendar_dates_as_yyyy_mm_dd(shipped, value, code):
    with pytest.raises(LicenseDataError) as info:
        validate_license_data(shipped[BUSINESS], business_data(established=value))
    assert codes(info) == {("established", code)}


def test_date_objects_are_accepted(shipped):
    result = validate_license_data(shipped[BUSINESS], business_data(established=date(2020, 5, 18)))
    assert result["established"] == date(2020, 5, 18)


def wage_data(employees):
    return {"period_start": "2024-01-01", "period_end": "2024-12-31", "employees": employees}


@pytest.mark.parametrize(("value", "expected"), [(12, 12), ("12", 12), (" 0 ", 0)])
def test_integers_accept_ints_and_decimal_strings(shipped, value, expected):
    assert validate_license_data(shipped[NO_WAGE_ARREARS], wage_data(value))["employees"] == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (True, "wrong_type"),
        (False, "wrong_type"),
        (12.5, "wrong_type"),
        (12.0, "wrong_type"),
        ("12.0", "wrong_type"),
        ("twelve", "wrong_type"),
        (2**70, "invalid"),
    ],
)
def test_booleans_and_fractions_are_not_integers(shipped, value, code):
    with pytest.raises(LicenseDataError) as info:
        validate_license_data(shipped[NO_WAGE_ARREARS], wage_data(value))
    assert codes(info) == {("employees", code)}


def estate_data(area):
    return {
        "certificate_no": "示（2024）示例市不动产权第0001234号",
        "location": "示例市鼓楼区五一北路1号3幢101",
        "area": area,
        "usage": "住宅",
        "right_type": "国有建设用地使用权/房屋所有权",
    }


@pytest.mark.parametrize(("value", "expected"), [(89.5, 89.5), (120, 120), ("89.50", 89.5), ("120", 120)])
def test_numbers_accept_ints_floats_and_decimal_strings(shipped, value, expected):
    result = validate_license_data(shipped[REAL_ESTATE], estate_data(value))
    assert result["area"] == expected
    assert type(result["area"]) is type(expected)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (True, "wrong_type"),
        (float("nan"), "invalid"),
        (float("inf"), "invalid"),
        ("1e3", "wrong_type"),
        ([1], "wrong_type"),
    ],
)
def test_bad_numbers_are_rejected(shipped, value, code):
    with pytest.raises(LicenseDataError) as info:
        validate_license_data(shipped[REAL_ESTATE], estate_data(value))
    assert codes(info) == {("area", code)}


def test_strings_must_be_strings_without_control_characters(shipped):
    with pytest.raises(LicenseDataError) as info:
        validate_license_data(shipped[REAL_ESTATE], estate_data(89.5) | {"usage": 3, "location": "a\x00b"})
    assert codes(info) == {("usage", "wrong_type"), ("location", "invalid")}


def test_string_length_counts_characters_not_bytes(shipped):
    data = business_data(legal_representative="张" * 50)
    assert validate_license_data(shipped[BUSINESS], data)["legal_representative"] == "张" * 50
    with pytest.raises(LicenseDataError) as info:
        validate_license_data(shipped[BUSINESS], business_data(legal_representative="张" * 51))
    assert codes(info) == {("legal_representative", "too_long")}


def marriage_data(spouse_id):
    return {
        "spouse_name": "李四",
        "spouse_id": spouse_id,
        "registered_on": "2021-10-01",
        "registry_office": "示例市民政局婚姻登记处",
    }


def test_resident_id_fields_are_checked_and_upper_cased(shipped):
    result = validate_license_data(shipped[MARRIAGE], marriage_data("11010519491231002x"))
    assert result["spouse_id"] == "11010519491231002X"
    with pytest.raises(LicenseDataError) as info:
        validate_license_data(shipped[MARRIAGE], marriage_data("110105194912310021"))
    assert codes(info) == {("spouse_id", "invalid")}


def test_booleans_accept_true_false_only():
    license_type = LicenseType.model_validate(
        {
            "code": BUSINESS,
            "name": "测试",
            "name_en": "Test",
            "holder": "credit_code",
            "fields": [{"name": "flag", "type": "boolean", "label": "标志"}],
            "qr_fields": [],
            "issuers": [ISSUERS[BUSINESS]],
        }
    )
    assert validate_license_data(license_type, {"flag": False}) == {"flag": False}
    assert validate_license_data(license_type, {"flag": "true"}) == {"flag": True}
    for bad in (0, 1, "yes", "True"):
        with pytest.raises(LicenseDataError) as info:
            validate_license_data(license_type, {"flag": bad})
        assert codes(info) == {("flag", "wrong_type")}


def test_data_that_is_not_an_object_is_rejected(shipped):
    with pytest.raises(LicenseDataError) as info:
        validate_license_data(shipped[BUSINESS], ["张三"])
    assert codes(info) == {("", "wrong_type")}


def test_validation_does_not_change_the_input(shipped):
    data = business_data(legal_representative=" 张三 ")
    validate_license_data(shipped[BUSINESS], data)
    assert data["legal_representative"] == " 张三 "
    assert data["established"] == "2020-05-18"


def test_every_code_in_the_schemas_readme_is_valid():
    readme = (SCHEMAS.parent / "README.md").read_text(encoding="utf-8")
    codes_in_readme = set(re.findall(r"`([0-9A-Z]{18}(?:[0-9]{3})?)`", readme))
    assert set(ISSUERS) | set(ISSUERS.values()) <= codes_in_readme
    for code in codes_in_readme:
        valid = is_valid_license_type_code if len(code) == 21 else is_valid_credit_code
        assert valid(code), code


def test_demo_department_codes_come_from_the_documented_recipe():
    made = [
        make_credit_code(registration_authority="1", region="990100", org_body=f"MB{n:06d}")
        for n in range(1, 6)
    ]
    assert made == list(ISSUERS.values())
