"""The offline verifier against the vector files, plus the signed trust list it relies on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from hub.trust.signing import encode_qr, sign_trust_list
from license_verifier.statuslist import LIST_SIZE, StatusListView, list_id, with_bit
from license_verifier.trustlist import TrustList, TrustListError, load_trust_list, verify_trust_list
from license_verifier.verdict import Result, Status, StatusListFreshness
from license_verifier.verifier import CHINA_STANDARD_TIME, verify
from tests.vectors import make_vectors as mv

VECTORS = Path(__file__).parents[1] / "vectors"
EXPECTED = json.loads((VECTORS / "expected.json").read_text(encoding="utf-8"))
NOW = datetime.fromisoformat(EXPECTED["now"])


@pytest.fixture(scope="module")
def keys() -> dict[str, mv.KeyPair]:
    return mv.load_keys()


@pytest.fixture(scope="module")
def doc(keys) -> dict:
    return mv.trust_document(keys)


@pytest.fixture(scope="module")
def trust(doc) -> TrustList:
    return TrustList.from_document(doc)


def _vector(name: str) -> str:
    return (VECTORS / name).read_bytes().decode("utf-8")


# --- the vectors ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED["cases"]))
def test_vector_verifies_to_its_expected_status(name, trust):
    result = verify(_vector(name), trust, NOW)
    assert result.status == EXPECTED["cases"][name], result.reason
    assert result.valid is (result.status is Status.VALID)
    if result.status in (Status.BAD_SIGNATURE, Status.UNKNOWN_ISSUER, Status.MALFORMED):
        assert result.license is None and result.issuer is None
    else:
        assert result.license is not None and result.issuer is not None


@pytest.mark.parametrize("name", sorted(EXPECTED["licenses"]))
def test_valid_vector_carries_the_license_fields(name, trust):
    result = verify(_vector(name), trust, NOW)
    assert result.license == EXPECTED["licenses"][name]
    assert result.issuer["code"] == result.license["id"].split(".")[6]


def test_every_vector_file_has_an_expected_status():
    files = {path.name for path in VECTORS.glob("*.txt")}
    assert files == set(EXPECTED["cases"])


def test_vectors_regenerate_byte_for_byte(tmp_path):
    mv.write_vectors(tmp_path)
    for path in tmp_path.iterdir():
        assert path.read_bytes() == (VECTORS / path.name).read_bytes(), path.name


def test_stored_trust_list_is_the_one_the_tests_build(doc):
    assert json.loads((VECTORS / EXPECTED["trust_list"]).read_text(encoding="utf-8")) == doc


# --- statuses beyond the vectors --------------------------------------------------------------


def test_validity_ends_at_midnight_china_standard_time(keys, trust):
    claims = replace(mv.demo_business_license(), valid_until=date(2026, 11, 30))
    text = encode_qr(claims, keys["dept-a"].signer)
    last_second = datetime(2026, 11, 30, 15, 59, 59, tzinfo=timezone.utc)  # 23:59:59 +08:00
    assert verify(text, trust, last_second).status is Status.VALID
    assert verify(text, trust, last_second + timedelta(seconds=1)).status is Status.EXPIRED


def test_validity_starts_at_midnight_china_standard_time(keys, trust):
    text = encode_qr(mv.demo_business_license(), keys["dept-a"].signer)  # valid from 2026-11-21
    start = datetime(2026, 11, 21, tzinfo=CHINA_STANDARD_TIME)
    assert verify(text, trust, start - timedelta(microseconds=1)).status is Status.NOT_YET_VALID
    assert verify(text, trust, start).status is Status.VALID
    assert verify(text, trust, start.astimezone(timezone(timedelta(hours=-10)))).status is Status.VALID


def _with_issuer_a(doc: dict, **members) -> TrustList:
    issuers = [dict(doc["issuers"][0], **members), *doc["issuers"][1:]]
    return TrustList.from_document(dict(doc, issuers=issuers))


@pytest.mark.parametrize("members, status", [
    ({"compromised_since": "2026-11-21T15:59:59Z"}, Status.UNKNOWN_ISSUER),  # 23:59:59 +08:00 on valid_from
    ({"compromised_since": "2026-11-21T00:00:00+08:00"}, Status.UNKNOWN_ISSUER),  # any offset is read
    ({"compromised_since": "2026-11-21T04:00:00.250000Z"}, Status.UNKNOWN_ISSUER),  # fractional seconds
    ({"compromised_since": "2026-11-21T16:00:00Z"}, Status.VALID),  # the day after valid_from in China
    ({"compromised_since": None}, Status.VALID),
    ({"status": "compromised"}, Status.VALID),  # status is informational: compromised_since decides
    ({"status": "retired"}, Status.VALID),
])
def test_trust_list_compromise_members_are_read_as_documented(doc, members, status):
    assert verify(_vector("valid.txt"), _with_issuer_a(doc, **members), NOW).status is status


@pytest.mark.parametrize("value", ["2026-11-21", "2026-11-21T16:00:00", "yesterday", 1763683200])
def test_a_compromised_since_without_an_offset_invalidates_the_trust_list(doc, value):
    with pytest.raises(TrustListError):
        _with_issuer_a(doc, compromised_since=value)


def _lists(revoked: bool, *, changed: datetime, fetched: datetime | None) -> dict[str, StatusListView]:
    list_no, index = mv.BUSINESS_STATUS
    empty = bytes(LIST_SIZE // 8)
    views = [StatusListView(list_id(mv.DEPT_A[0], list_no, "revocation"), "revocation",
                            with_bit(empty, index, revoked), changed, fetched),
             StatusListView(list_id(mv.DEPT_A[0], list_no, "suspension"), "suspension", empty,
                            changed - timedelta(days=3), fetched and fetched + timedelta(hours=1))]
    return {view.id: view for view in views}


def test_offline_answer_says_when_its_lists_were_fetched_apart_from_their_last_change(trust):
    changed = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    fetched = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)  # NOW is 2026-12-01T04:00Z
    result = verify(_vector("valid.txt"), trust, NOW, _lists(True, changed=changed, fetched=fetched))
    assert result.status is Status.REVOKED
    assert result.status_list == StatusListFreshness(fetched_at=fetched, updated_at=changed, age_seconds=72_000)
    assert result.status_list.as_json() == {"fetched_at": "2026-11-30T08:00:00Z", "age_seconds": 72_000,
                                            "updated_at": "2026-11-25T09:00:00Z"}
    unknown = verify(_vector("valid.txt"), trust, NOW, _lists(False, changed=changed, fetched=None))
    assert unknown.status is Status.VALID and unknown.status_list.age_seconds is None
    assert verify(_vector("valid_without_status.txt"), trust, NOW, _lists(True, changed=changed,
                                                                          fetched=fetched)).status_list is None


def test_expired_license_still_shows_what_it_was(trust):
    result = verify(_vector("expired.txt"), trust, NOW)
    assert result.license["valid_until"] == "2026-11-30" and not result.valid


def test_naive_now_is_a_caller_error(trust):
    with pytest.raises(ValueError):
        verify(_vector("valid.txt"), trust, datetime(2026, 12, 1, 12, 0))


def test_unknown_license_type_keeps_fields_by_position(keys, doc):
    other = dict(doc, license_types=[])
    result = verify(_vector("valid.txt"), TrustList.from_document(other), NOW)
    assert result.status is Status.VALID
    assert result.license["fields"] == {"f0": "林建华"} and result.license["type_name"] is None


def test_fields_are_matched_to_declarations_by_position(doc):
    types = json.loads(json.dumps(doc["license_types"]))
    business = types[0]["qr_fields"]
    business.append({"name": "registered_capital", "type": "string", "label": "注册资本"})
    result = verify(_vector("valid.txt"), TrustList.from_document(dict(doc, license_types=types)), NOW)
    assert result.license["fields"] == {"legal_representative": "林建华", "registered_capital": None}
    del business[:]
    result = verify(_vector("valid.txt"), TrustList.from_document(dict(doc, license_types=types)), NOW)
    assert result.license["fields"] == {"f0": "林建华"}


def test_field_that_contradicts_its_declared_type_is_malformed(keys, doc):
    types = json.loads(json.dumps(doc["license_types"]))
    types[0]["qr_fields"][0]["type"] = "date"
    result = verify(_vector("valid.txt"), TrustList.from_document(dict(doc, license_types=types)), NOW)
    assert result.status is Status.MALFORMED and result.license is None


@pytest.mark.parametrize("status", list(Status))
def test_every_status_has_a_chinese_and_an_english_message(status):
    result = Result.of(status)
    assert result.message and result.message_en.endswith(".")
    assert any("\u4e00" <= char <= "\u9fff" for char in result.message)


@pytest.mark.parametrize("text", [None, 12, b"HUB1:", "HUB1:" + "\u4e2d" * 5000])
def test_verify_answers_malformed_for_non_text(text, trust):
    assert verify(text, trust, NOW).status is Status.MALFORMED


# --- the trust list ---------------------------------------------------------------------------


def test_trust_list_exposes_issuers_and_types(trust, keys):
    issuer = trust.issuers[keys["dept-a"].signer.kid]
    assert (issuer.code, issuer.name, issuer.alg) == (*mv.DEPT_A, "ES256")
    assert issuer.license_types == frozenset({mv.BUSINESS_LICENSE})
    assert issuer.not_before < NOW < issuer.not_after
    business = trust.types[mv.BUSINESS_LICENSE]
    assert (business.name, business.holder, business.qr_fields[0].name) == ("营业执照", "credit_code",
                                                                             "legal_representative")
    assert trust.issuers[keys["dept-b"].signer.kid].alg == "EdDSA"


def test_signed_trust_list_round_trips(keys, doc, trust):
    jws = sign_trust_list(doc, keys["root"].key, keys["root"].cert_der)
    header = jwt.get_unverified_header(jws)
    assert header["typ"] == "hub-trust-list+jws" and header["alg"] == "ES256"
    assert base64.b64decode(header["x5c"][0]) == keys["root"].cert_der
    assert "营业执照".encode() in base64.urlsafe_b64decode(jws.split(".")[1] + "==")  # UTF-8, not \u escapes
    assert verify_trust_list(jws, keys["root"].cert_der) == doc
    assert load_trust_list(jws, keys["root"].cert_der) == trust


def test_trust_list_signed_by_another_key_is_rejected(keys, doc):
    jws = sign_trust_list(doc, ec.generate_private_key(ec.SECP256R1()), keys["root"].cert_der)
    with pytest.raises(TrustListError) as caught:
        verify_trust_list(jws, keys["root"].cert_der)
    assert caught.value.code == "bad_signature"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_with_the_root_certificate_as_secret(doc: dict, cert_der: bytes) -> str:
    """Forge the classic key-confusion token: HMAC keyed with public material."""
    signing_input = _b64url(b'{"alg":"HS256","typ":"hub-trust-list+jws"}') + "." + _b64url(json.dumps(doc).encode())
    return signing_input + "." + _b64url(hmac.new(cert_der, signing_input.encode(), hashlib.sha256).digest())


def test_tampered_or_unsigned_trust_list_is_rejected(keys, doc):
    jws = sign_trust_list(doc, keys["root"].key, keys["root"].cert_der)
    header, payload, signature = jws.split(".")
    forged = dict(doc, issuers=doc["issuers"][:1])
    forged_payload = _b64url(json.dumps(forged).encode())
    unsigned = jwt.PyJWS().encode(json.dumps(doc).encode(), None, algorithm="none",
                                  headers={"typ": "hub-trust-list+jws"})
    hs256 = _hs256_with_the_root_certificate_as_secret(doc, keys["root"].cert_der)
    for bad in (f"{header}.{forged_payload}.{signature}", unsigned, hs256, "", "a.b.c", None):
        with pytest.raises(TrustListError):
            verify_trust_list(bad, keys["root"].cert_der)


def test_trust_list_with_the_wrong_typ_is_rejected(keys, doc):
    jws = jwt.PyJWS().encode(json.dumps(doc).encode(), keys["root"].key, algorithm="ES256",
                             headers={"typ": "JWT"})
    with pytest.raises(TrustListError) as caught:
        verify_trust_list(jws, keys["root"].cert_der)
    assert caught.value.code == "bad_type"


def _broken(doc: dict, path: tuple, value) -> dict:
    copy = json.loads(json.dumps(doc))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


@pytest.mark.parametrize("path, value", [
    (("format",), "hub-trust-list/2"),
    (("issuers",), {}),
    (("issued_at",), "yesterday"),
    (("issuers", 0, "kid"), "AAAAAAAAAAA"),  # not bound to the certificate
    (("issuers", 0, "alg"), "EdDSA"),  # the certificate holds a P-256 key
    (("issuers", 0, "certificate"), "not base64!"),
    (("issuers", 0, "certificate"), base64.b64encode(b"not DER").decode()),
    (("issuers", 0, "department"), "示例市市场监督管理局"),
    (("issuers", 0, "not_after"), "2035-01-01T00:00:00"),  # no offset
    (("issuers", 0, "license_types"), [1]),
    (("issuers", 1), {"alg": "ES256"}),
    (("license_types", 0, "holder"), "passport"),
    (("license_types", 0, "qr_fields", 0, "type"), "colour"),
    (("license_types", 1, "code"), mv.BUSINESS_LICENSE),  # duplicate code
])
def test_bad_trust_list_document_is_rejected(doc, path, value):
    with pytest.raises(TrustListError):
        TrustList.from_document(_broken(doc, path, value))


def test_issuer_with_an_algorithm_this_verifier_lacks_is_left_out(doc, keys):
    trust = TrustList.from_document(_broken(doc, ("issuers", 1, "alg"), "ES384"))
    assert set(trust.issuers) == {keys["dept-a"].signer.kid}


@pytest.mark.parametrize("code", ["11990100MB0000019", "11990100mb0000019l", "", "11990100MB0000019L0"])
def test_trust_list_with_a_malformed_department_code_is_rejected(doc, code):
    issuers = [dict(doc["issuers"][0], department=dict(doc["issuers"][0]["department"], code=code))]
    with pytest.raises(TrustListError):
        TrustList.from_document(dict(doc, issuers=issuers))
