"""Identifier rules against the reference values in VECTORS.md, plus generated codes."""

import random
from datetime import date

import pytest

from hub.core.national_ids import (
    is_valid_resident_id,
    make_credit_code,
    make_resident_id,
    mask_credit_code,
    mask_identity,
    mask_resident_id,
    resident_id_check_char,
)
from license_verifier.identifiers import (
    CREDIT_CODE_ALPHABET,
    MOD37_36_ALPHABET,
    LicenseIdentifier,
    credit_code_check_char,
    is_valid_credit_code,
    is_valid_license_type_code,
    license_identifier,
    mod37_36_check,
    parse_license_identifier,
)

CREDIT_CODE_VECTORS = [
    ("91350100M000100Y43", True),
    ("91110000802100433B", True),
    ("11100000000013338W", True),
    ("11430000006122244L", True),
    ("91350100M000100Y44", False),
]
RESIDENT_ID_VECTORS = [
    ("11010519491231002X", True),
    ("110105194912310021", False),
]
PUBLISHED_ID = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"
# A code whose credit check is right but whose embedded organisation check (position 17) is wrong.
BAD_ORG_CHECK = "91350100M000100Y5" + credit_code_check_char("91350100M000100Y5")


@pytest.mark.parametrize(("code", "valid"), CREDIT_CODE_VECTORS)
def test_credit_code_vectors(code, valid):
    assert is_valid_credit_code(code) is valid


@pytest.mark.parametrize(("code", "valid"), CREDIT_CODE_VECTORS)
def test_credit_code_check_char_matches_vectors(code, valid):
    assert (credit_code_check_char(code[:17]) == code[17]) is valid


def test_credit_code_with_wrong_organisation_check_is_rejected():
    assert BAD_ORG_CHECK[17] == credit_code_check_char(BAD_ORG_CHECK[:17])
    assert not is_valid_credit_code(BAD_ORG_CHECK)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "91350100M000100Y4",  # too short
        "91350100M000100Y433",  # too long
        "91350100m000100Y43",  # lower case
        "91350100I000100Y43",  # I is not in the alphabet
        "913501A0M000100Y43",  # region is not digits
        None,
        913501,
    ],
)
def test_malformed_credit_codes_are_rejected(code):
    assert not is_valid_credit_code(code)


@pytest.mark.parametrize(("number", "valid"), RESIDENT_ID_VECTORS)
def test_resident_id_vectors(number, valid):
    assert is_valid_resident_id(number) is valid


def test_resident_id_check_char_matches_vector():
    assert resident_id_check_char("11010519491231002") == "X"


@pytest.mark.parametrize(
    "first17",
    [
        "11010519490230002",  # 30 February
        "11010519491301002",  # month 13
        "11010517001231002",  # born in 1700
        "1101051949123100A",  # letter among the digits
        "１1010519491231002",  # full-width digit
    ],
)
def test_resident_id_with_impossible_birth_date_or_characters_is_rejected(first17):
    try:
        number = first17 + resident_id_check_char(first17)
    except ValueError:
        number = first17 + "0"
    assert not is_valid_resident_id(number)


def test_resident_id_lower_case_x_is_rejected():
    assert not is_valid_resident_id("11010519491231002x")


def test_resident_id_born_in_the_future_is_rejected_when_today_is_given():
    number = make_resident_id("110105", date(2030, 1, 1), 1, "F")
    assert is_valid_resident_id(number)
    assert not is_valid_resident_id(number, today=date(2025, 6, 1))
    assert is_valid_resident_id(number, today=date(2030, 1, 1))


def test_published_license_identifier_check_is_u():
    assert mod37_36_check("11100000000013338W01111430000006122244L20230000403001") == "U"


def test_decoy_check_characters_are_not_what_the_rule_gives():
    # VECTORS.md: without the version it would be 4, over the whole prefixed string 7.
    assert mod37_36_check("11100000000013338W01111430000006122244L20230000403") == "4"
    with_prefix = PUBLISHED_ID.removesuffix(".U").replace(".", "")
    assert mod37_36_check(with_prefix) == "7"
    built = license_identifier("11100000000013338W011", "11430000006122244L", "20230000403", 1)
    assert built.endswith(".U")
    assert built[-1] not in ("4", "7")


def test_license_identifier_builds_the_published_example():
    assert license_identifier("11100000000013338W011", "11430000006122244L", "20230000403", 1) == PUBLISHED_ID


def test_parse_license_identifier_round_trips_the_published_example():
    parsed = parse_license_identifier(PUBLISHED_ID)
    assert parsed == LicenseIdentifier(
        type_code="11100000000013338W011",
        issuer_code="11430000006122244L",
        serial="20230000403",
        version=1,
        check="U",
    )
    assert parsed.authority_code == "11100000000013338W"
    assert str(parsed) == PUBLISHED_ID


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PUBLISHED_ID[:-1] + "4", "check character"),
        (PUBLISHED_ID[:-1] + "7", "check character"),
        (PUBLISHED_ID[:-1] + "u", "check character"),
        (PUBLISHED_ID[:-2], "check"),
        ("1.2.156.3005.3" + PUBLISHED_ID[14:], "must start with"),
        (PUBLISHED_ID.replace(".001.", ".1."), "version"),
        (PUBLISHED_ID.replace(".001.", ".000."), "version"),
        (PUBLISHED_ID.replace(".001.U", ".U"), "5 parts"),
        (PUBLISHED_ID + ".X", "5 parts"),
        (PUBLISHED_ID.replace("11100000000013338W011", "11100000000013338W01"), "license type code"),
        (PUBLISHED_ID.replace("11100000000013338W011", "11100000000013338X011"), "license type code"),
        (PUBLISHED_ID.replace("11430000006122244L", "11430000006122244M"), "issuer code"),
        (PUBLISHED_ID.replace("20230000403", "2023-0403"), "serial"),
        (PUBLISHED_ID.replace("20230000403", ""), "serial"),
        ("", "must start with"),
        (None, "must be a string"),
    ],
)
def test_malformed_license_identifiers_raise_a_clear_error(text, message):
    with pytest.raises(ValueError, match=message):
        parse_license_identifier(text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("11100000000013338W011", "11430000006122244L", "abc", 1), "serial"),
        (("11100000000013338W011", "11430000006122244L", "1", 1000), "version"),
        (("11100000000013338W011", "11430000006122244L", "1", True), "version"),
        (("11100000000013338W", "11430000006122244L", "1", 1), "license type code"),
        (("11100000000013338W011", "11430000006122244", "1", 1), "issuer code"),
    ],
)
def test_license_identifier_rejects_bad_parts(args, message):
    with pytest.raises(ValueError, match=message):
        license_identifier(*args)


def test_mod37_36_rejects_characters_outside_the_alphabet():
    for text in ("abc", "A-B", "", "Ä"):
        with pytest.raises(ValueError):
            mod37_36_check(text)


def test_license_type_code_is_a_credit_code_and_three_digits():
    assert is_valid_license_type_code("11100000000013338W001")
    assert not is_valid_license_type_code("11100000000013338W01")
    assert not is_valid_license_type_code("11100000000013338W0A1")
    assert not is_valid_license_type_code("11100000000013338X001")


def test_masks_keep_only_the_agreed_ends():
    assert mask_resident_id("11010519491231002X") == "110105********002X"
    assert mask_credit_code("91350100M000100Y43") == "91350100********43"
    assert mask_identity("resident_id", "11010519491231002X") == "110105********002X"
    assert mask_identity("credit_code", "91350100M000100Y43") == "91350100********43"


def test_masks_hide_short_values_completely():
    assert mask_resident_id("1234567890") == "**********"
    assert mask_credit_code("") == ""


def test_mask_identity_rejects_unknown_types():
    with pytest.raises(ValueError, match="unknown identity type"):
        mask_identity("passport", "E12345678")


def test_make_credit_code_reproduces_a_published_vector():
    assert make_credit_code(org_body="M000100Y") == "91350100M000100Y43"
    assert make_credit_code(registration_authority="1", region="100000", org_body="00001333") == (
        "11100000000013338W"
    )


def test_make_credit_code_is_deterministic_and_valid_for_many_seeds():
    rng = random.Random(20240601)
    for _ in range(500):
        seed = rng.randrange(100_000_000)
        code = make_credit_code(seed, region="990100")
        assert is_valid_credit_code(code), code
        assert code == make_credit_code(seed, region="990100")


def test_make_resident_id_is_valid_and_encodes_sex():
    male = make_resident_id("110105", date(1949, 12, 31), 1, "M")
    female = make_resident_id("110105", date(1949, 12, 31), 1, "F")
    assert is_valid_resident_id(male) and is_valid_resident_id(female)
    assert int(male[16]) % 2 == 1 and int(female[16]) % 2 == 0
    rng = random.Random(7)
    for _ in range(500):
        birth = date.fromordinal(rng.randrange(date(1920, 1, 1).toordinal(), date(2020, 1, 1).toordinal()))
        number = make_resident_id("990102", birth, rng.randint(1, 499), rng.choice("MF"))
        assert is_valid_resident_id(number), number


def test_make_resident_id_reproduces_the_published_vector():
    # Order code 002 is the first woman of the day.
    assert make_resident_id("110105", date(1949, 12, 31), 1, "F") == "11010519491231002X"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("11010", date(1990, 1, 1), 1, "M"), "region"),
        (("110105", date(1990, 1, 1), 0, "M"), "seq"),
        (("110105", date(1990, 1, 1), 500, "F"), "seq"),
        (("110105", date(1990, 1, 1), 1, "X"), "sex"),
    ],
)
def test_make_resident_id_rejects_bad_parts(args, message):
    with pytest.raises(ValueError, match=message):
        make_resident_id(*args)


def _single_changes(text, alphabet, rng, count):
    """Yield `count` random copies of `text` with exactly one character replaced."""
    pool = alphabet + "abcxyz-. IOSVZ"
    for _ in range(count):
        position = rng.randrange(len(text))
        replacement = rng.choice([c for c in pool if c != text[position]])
        yield text[:position] + replacement + text[position + 1 :]


def test_any_single_character_change_of_a_credit_code_is_detected():
    rng = random.Random(1)
    for code, valid in CREDIT_CODE_VECTORS:
        if valid:
            for changed in _single_changes(code, CREDIT_CODE_ALPHABET, rng, 2000):
                assert not is_valid_credit_code(changed), changed


def test_every_substitution_in_a_credit_code_is_detected():
    code = "91350100M000100Y43"
    for position in range(18):
        for char in CREDIT_CODE_ALPHABET:
            if char != code[position]:
                assert not is_valid_credit_code(code[:position] + char + code[position + 1 :])


def test_any_single_character_change_of_a_resident_id_is_detected():
    rng = random.Random(2)
    for changed in _single_changes("11010519491231002X", "0123456789X", rng, 2000):
        assert not is_valid_resident_id(changed), changed


def test_any_single_character_change_of_a_license_identifier_is_detected():
    rng = random.Random(3)
    for changed in _single_changes(PUBLISHED_ID, MOD37_36_ALPHABET, rng, 3000):
        with pytest.raises(ValueError):
            parse_license_identifier(changed)
