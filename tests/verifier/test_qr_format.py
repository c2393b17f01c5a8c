"""The QR format: round trips, an independent COSE implementation, strict decoding, QR size."""

from __future__ import annotations

import io
import random
import re
from dataclasses import replace
from datetime import date, datetime

import base45
import cbor2
import pytest
import qrcode
import zxingcpp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from PIL import Image, ImageFilter
from pycose.algorithms import EdDSA, Es256
from pycose.headers import KID, Algorithm
from pycose.keys import CoseKey
from pycose.messages import Sign1Message
from qrcode.util import MODE_ALPHA_NUM

from hub.licenses.printing import qrencode, qrimage
from hub.trust.signer import KeySigner
from hub.trust.signing import encode_qr
from license_verifier.algorithms import COSE_ALGS, kid_for_certificate, verify_raw
from license_verifier.errors import QRFormatError
from license_verifier.identifiers import license_identifier, mod37_36_check
from license_verifier.qr import MAX_TEXT_LENGTH, PREFIX, LicenseClaims, decode_qr, sig_structure
from license_verifier.trustlist import TrustList
from license_verifier.verdict import Status
from license_verifier.verifier import typed_field_value, verify
from tests.support import qr_sizes
from tests.vectors import make_vectors as mv

VECTORS = qr_sizes.ROOT / "tests" / "vectors"
DOC_TEXT = qr_sizes.DOC.read_text(encoding="utf-8")
QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")  # ISO/IEC 18004 §7.4.4


@pytest.fixture(scope="module")
def keys() -> dict[str, mv.KeyPair]:
    return mv.load_keys()


@pytest.fixture(scope="module", params=["dept-a", "dept-b"], ids=["ES256", "EdDSA"])
def pair(request, keys) -> mv.KeyPair:
    return keys[request.param]


@pytest.fixture(scope="module")
def valid_text(keys) -> str:
    return encode_qr(mv.demo_business_license(), keys["dept-a"].signer)


def _cose(text: str) -> bytes:
    return base45.b45decode(text[len(PREFIX):])


def _text(cose: bytes) -> str:
    return PREFIX + base45.b45encode(cose).decode("ascii")


def _all_types_claims() -> LicenseClaims:
    fields = ("林建华", date(2026, 5, 20), -42, 120.5, 7, True, False, None)
    return replace(mv.demo_business_license(), valid_until=date(2031, 11, 20), fields=fields)


# --- identifier -------------------------------------------------------------------------------


def test_check_character_matches_the_published_gbt_36904_example():
    assert mod37_36_check("11100000000013338W01111430000006122244L20230000403001") == "U"
    assert mod37_36_check("11100000000013338W01111430000006122244L20230000403") == "4"


def test_identifier_joins_the_parts_with_the_check_character():
    claims = replace(mv.demo_business_license(), type_code="11100000000013338W011",
                     issuer_code="11430000006122244L", serial=20230000403, version=1)
    assert claims.identifier == "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"


def test_identifier_agrees_with_the_checked_identifier_builder():
    claims = mv.demo_business_license()
    expected = license_identifier(claims.type_code, claims.issuer_code, str(claims.serial), claims.version)
    assert claims.identifier == expected


# --- signer -----------------------------------------------------------------------------------


def test_kid_is_the_first_eight_bytes_of_the_certificate_sha256(keys):
    import hashlib

    der = keys["dept-a"].cert_der
    assert kid_for_certificate(der) == hashlib.sha256(der).digest()[:8]


def test_signatures_are_raw_64_bytes_and_verify(pair):
    signer = pair.signer
    signature = signer.sign(b"message")
    assert len(signature) == 64 and signer.alg in COSE_ALGS
    assert verify_raw(pair.key.public_key(), signer.alg, signature, b"message")
    assert not verify_raw(pair.key.public_key(), signer.alg, signature, b"messagf")


@pytest.mark.parametrize("signature", [b"", b"\x00" * 64, b"\xff" * 64, b"\x01" * 63, "text", None])
def test_verify_raw_returns_false_for_any_bad_signature(keys, signature):
    for name in ("dept-a", "dept-b"):
        public_key = keys[name].key.public_key()
        for alg in ("ES256", "EdDSA", "none", None):
            assert verify_raw(public_key, alg, signature, b"message") is False


def test_verify_raw_refuses_a_key_of_another_algorithm(keys):
    signature = keys["dept-a"].signer.sign(b"m")
    assert not verify_raw(keys["dept-a"].key, "ES256", signature, b"m")  # a private key
    assert not verify_raw(keys["dept-b"].key.public_key(), "ES256", signature, b"m")
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    assert not verify_raw(p384, "ES256", signature, b"m")


@pytest.mark.parametrize("make_key", [lambda: rsa.generate_private_key(65537, 2048),
                                      lambda: ec.generate_private_key(ec.SECP384R1())])
def test_key_signer_refuses_unsupported_keys(make_key):
    with pytest.raises(TypeError):
        KeySigner(make_key(), kid=bytes(8))


# --- round trips ------------------------------------------------------------------------------


def test_claims_round_trip_with_every_field_type(pair):
    claims = _all_types_claims()
    decoded = decode_qr(encode_qr(claims, pair.signer))
    assert decoded.alg == pair.signer.alg and decoded.kid == pair.signer.kid
    assert decoded.claims == replace(claims, issuer_code=None, fields=("林建华", 20593, -42, 120.5, 7, True, False, None))
    types = ("string", "date", "integer", "number", "number", "boolean", "boolean", "string")
    assert tuple(map(typed_field_value, decoded.claims.fields, types)) == claims.fields
    assert verify_raw(pair.key.public_key(), decoded.alg, decoded.signature,
                      sig_structure(decoded.protected, decoded.payload))


def test_encoding_is_deterministic(pair):
    claims = _all_types_claims()
    assert encode_qr(claims, pair.signer) == encode_qr(claims, pair.signer)


@pytest.mark.parametrize("value, field_type", [("x", "integer"), (1, "string"), (True, "integer"),
                                               (1.5, "date"), (-1, "date"), ("2026-01-01", "date"),
                                               (1, "boolean"), ("1", "number"), (1, "colour")])
def test_field_value_of_the_wrong_type_is_rejected(value, field_type):
    with pytest.raises(QRFormatError):
        typed_field_value(value, field_type)


@pytest.mark.parametrize("change", [
    {"type_code": "11100000000013338W01"}, {"type_code": "11100000000013338w001"},
    {"issuer_code": "11990100MB0000019"}, {"serial": -1}, {"serial": True}, {"serial": 2**64},
    {"version": 1000}, {"valid_from": date(1969, 12, 31)}, {"valid_from": datetime(2026, 1, 1)},
    {"valid_until": date(2026, 11, 20)}, {"holder_id": ""}, {"holder_name": None},
    {"fields": (float("nan"),)}, {"fields": (b"bytes",)}, {"fields": (["nested"],)},
])
def test_invalid_claims_are_refused(change):
    with pytest.raises(ValueError):
        replace(mv.demo_business_license(), **change)


def test_signer_with_an_unknown_algorithm_cannot_encode():
    class Sm2Signer:
        kid, alg = bytes(8), "ES384"

        def sign(self, message: bytes) -> bytes:
            return bytes(64)

    with pytest.raises(ValueError):
        encode_qr(mv.demo_business_license(), Sm2Signer())


# --- an independent COSE implementation ---------------------------------------------------------


def _public_pem(pair: mv.KeyPair) -> str:
    return pair.key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_cose_sign1_verifies_with_pycose(pair):
    claims = _all_types_claims()
    message = Sign1Message.decode(_cose(encode_qr(claims, pair.signer)))
    message.key = CoseKey.from_pem_public_key(_public_pem(pair))
    assert message.verify_signature()
    assert message.phdr[Algorithm] is {"ES256": Es256, "EdDSA": EdDSA}[pair.signer.alg]
    assert message.phdr[KID] == pair.signer.kid and message.uhdr == {}
    assert cbor2.loads(message.payload)[:7] == [claims.type_code, claims.serial, 1, 20778, 22603,
                                                claims.holder_id, claims.holder_name]


def test_pycose_signed_message_verifies_with_the_hub_verifier(pair, keys):
    license = mv.demo_business_license() if pair is keys["dept-a"] else mv.demo_marriage_certificate()
    payload = decode_qr(encode_qr(license, pair.signer)).payload
    alg = {"ES256": Es256, "EdDSA": EdDSA}[pair.signer.alg]
    message = Sign1Message(phdr={Algorithm: alg, KID: pair.signer.kid}, payload=payload)
    message.key = CoseKey.from_pem_private_key(pair.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())
    trust = TrustList.from_document(mv.trust_document(keys))
    result = verify(_text(message.encode()), trust, mv.NOW)
    assert result.status is Status.VALID, result


# --- strict decoding --------------------------------------------------------------------------


def _sign1(parts, tag: int | None = 18) -> str:
    return _text(cbor2.dumps(cbor2.CBORTag(tag, parts) if tag is not None else parts))


@pytest.fixture(scope="module")
def parts(valid_text) -> list:
    return cbor2.loads(_cose(valid_text)).value


def _payload_with(parts: list, index: int, value) -> list:
    items = cbor2.loads(parts[2])
    items[index] = value
    return [parts[0], {}, cbor2.dumps(items), parts[3]]


@pytest.mark.parametrize("make_text, code", [
    (lambda v, p: None, "not_text"),
    (lambda v, p: v.encode(), "not_text"),
    (lambda v, p: "HUB1:" + "0" * MAX_TEXT_LENGTH, "too_long"),
    (lambda v, p: "hub1:" + v[5:], "bad_prefix"),
    (lambda v, p: " " + v, "bad_prefix"),
    (lambda v, p: v + "\n", "bad_base45"),
    (lambda v, p: "HUB1:0", "bad_base45"),  # a lone trailing character: RFC 9285 §4.2
    (lambda v, p: "HUB1:GGW", "bad_base45"),  # 65535 < value: RFC 9285 §4.2
    (lambda v, p: _text(_cose(v) + b"\x00"), "bad_cbor"),  # a byte after the COSE_Sign1
    (lambda v, p: _sign1(p, tag=98), "bad_cbor"),
    (lambda v, p: _sign1(p, tag=None), "bad_cose"),
    (lambda v, p: _sign1(p[:3]), "bad_cose"),
    (lambda v, p: _sign1([p[0], {}, p[2], p[3], b""]), "bad_cose"),
    (lambda v, p: _sign1([cbor2.loads(p[0]), {}, p[2], p[3]]), "bad_cose"),
    (lambda v, p: _sign1([p[0], [], p[2], p[3]]), "bad_cose"),
    (lambda v, p: _sign1([p[0], {}, None, p[3]]), "bad_cose"),  # detached payload
    (lambda v, p: _sign1([b"\x80", {}, p[2], p[3]]), "bad_header"),
    (lambda v, p: _sign1([b"\x41\x00", {}, p[2], p[3]]), "bad_header"),
    (lambda v, p: _sign1([cbor2.dumps({1: -7}), {}, p[2], p[3]]), "bad_header"),
    (lambda v, p: _sign1([cbor2.dumps({1: b"-7", 4: bytes(8)}), {}, p[2], p[3]]), "bad_header"),
    (lambda v, p: _sign1([cbor2.dumps({1: -7, 4: "kid"}), {}, p[2], p[3]]), "bad_header"),
    (lambda v, p: _sign1([bytes.fromhex("a3012604480000000000000000") + b"\x01\x26", {}, p[2], p[3]]),
     "bad_cbor"),  # duplicate alg label: RFC 9052 §3
    (lambda v, p: _sign1([p[0], {}, cbor2.dumps(cbor2.loads(p[2])[:7]), p[3]]), "bad_payload"),
    (lambda v, p: _sign1(_payload_with(p, 0, "11100000000013338W0011")), "bad_payload"),
    (lambda v, p: _sign1(_payload_with(p, 1, "2026000001")), "bad_payload"),
    (lambda v, p: _sign1(_payload_with(p, 3, -1)), "bad_date"),
    (lambda v, p: _sign1(_payload_with(p, 3, 10**7)), "bad_date"),
    (lambda v, p: _sign1(_payload_with(p, 4, 20000)), "bad_payload"),  # ends before it starts
    (lambda v, p: _sign1(_payload_with(p, 7, "林建华")), "bad_payload"),
    (lambda v, p: _sign1(_payload_with(p, 7, [{"nested": 1}])), "bad_payload"),
    (lambda v, p: _sign1(_payload_with(p, 7, [cbor2.CBORTag(5, [2**63, 1])])), "bad_cbor"),  # bigfloat
    (lambda v, p: _sign1(_payload_with(p, 7, [cbor2.CBORTag(1004, "2026-13-99")])), "bad_cbor"),
    (lambda v, p: _sign1(_payload_with(p, 7, [float("inf")])), "bad_cbor"),
    (lambda v, p: _sign1(_payload_with(p, 6, "")), "bad_payload"),
    (lambda v, p: _sign1([p[0], {}, p[2].replace("林".encode(), b"\xff\xfe\xfd"), p[3]]), "bad_cbor"),
    (lambda v, p: _sign1([p[0], {}, b"\x9f" + p[2][1:] + b"\xff", p[3]]), "bad_cbor"),  # indefinite
    (lambda v, p: _text(b"\x81" * 2000 + b"\x01"), "bad_cbor"),  # deep nesting, no RecursionError
])
def test_malformed_text_is_rejected_with_a_code(valid_text, parts, make_text, code):
    with pytest.raises(QRFormatError) as caught:
        decode_qr(make_text(valid_text, parts))
    assert caught.value.code == code


def test_extra_trailing_payload_elements_are_ignored(parts, keys):
    items = cbor2.loads(parts[2]) + [[1, 7], "a later element", {"k": [1, 2.5]}]
    payload = cbor2.dumps(items)
    signature = keys["dept-a"].signer.sign(sig_structure(parts[0], payload))
    decoded = decode_qr(_sign1([parts[0], {}, payload, signature]))
    assert decoded.claims == replace(mv.demo_business_license(), issuer_code=None)


@pytest.mark.parametrize("tail", [[], [None], [None, [1, 7]]], ids=["absent", "null", "null-then-later"])
def test_the_status_element_may_be_absent_or_null(parts, keys, tail):
    items = cbor2.loads(parts[2])[:8] + tail
    payload = cbor2.dumps(items)
    signature = keys["dept-a"].signer.sign(sig_structure(parts[0], payload))
    assert decode_qr(_sign1([parts[0], {}, payload, signature])).claims.status_ref is None


@pytest.mark.parametrize("status_ref", ["x", [1], [1, -2], [1, 2, 3], [2**32, 1]])
def test_a_malformed_status_reference_is_bad_payload(parts, keys, status_ref):
    payload = cbor2.dumps(cbor2.loads(parts[2])[:8] + [status_ref])
    signature = keys["dept-a"].signer.sign(sig_structure(parts[0], payload))
    with pytest.raises(QRFormatError) as caught:
        decode_qr(_sign1([parts[0], {}, payload, signature]))
    assert caught.value.code == "bad_payload"


def test_status_reference_round_trips(keys):
    claims = replace(mv.demo_business_license(), status_ref=(3, 131071))
    assert decode_qr(encode_qr(claims, keys["dept-a"].signer)).claims.status_ref == (3, 131071)


def _decode_or_format_error(text) -> None:
    try:
        decode_qr(text)
    except QRFormatError:
        pass


def test_decoding_fuzzed_input_raises_only_qr_format_errors(valid_text):
    rng = random.Random(20261121)
    cose = _cose(valid_text)
    alphabet = sorted(QR_ALPHANUMERIC) + ["a", "é", "\n", "中", "\x00"]
    for length in range(len(valid_text) + 1):
        _decode_or_format_error(valid_text[:length])
    for position in range(len(cose)):
        for value in (0x00, 0xFF, 0x18, 0x1B, 0x1F, 0x5B, 0x9F, 0xBF, 0xC5, 0xF9, rng.randrange(256)):
            mutated = bytearray(cose)
            mutated[position] = value
            _decode_or_format_error(_text(bytes(mutated)))
    for _ in range(3000):
        _decode_or_format_error(_text(rng.randbytes(rng.randrange(600))))
        _decode_or_format_error("".join(rng.choice(alphabet) for _ in range(rng.randrange(400))))
        _decode_or_format_error(PREFIX + "".join(rng.choice(alphabet[:45]) for _ in range(rng.randrange(400))))


# --- QR code size -----------------------------------------------------------------------------


def _demo_qr(keys) -> tuple[str, qrcode.QRCode]:
    text = encode_qr(mv.demo_business_license(), keys["dept-a"].signer)
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    return text, code


def test_qr_text_is_pure_alphanumeric_mode(keys):
    text, code = _demo_qr(keys)
    assert set(text) <= QR_ALPHANUMERIC
    assert [segment.mode for segment in code.data_list] == [MODE_ALPHA_NUM]


def test_demo_business_license_qr_size_is_measured(keys):
    text, code = _demo_qr(keys)
    size = 17 + 4 * code.version
    print(f"\ndemo business license: {len(text)} characters, QR version {code.version} ({size}x{size}), EC level M")
    assert text == (VECTORS / "valid.txt").read_text()
    assert f"(`tests/vectors/valid.txt`, {len(text)} characters)" in DOC_TEXT
    assert f"= **{len(text)} characters**" in DOC_TEXT


def test_demo_business_license_versions_per_error_correction_level_are_as_documented(keys):
    text = _demo_qr(keys)[0]
    levels = {"L": qrcode.constants.ERROR_CORRECT_L, "M": qrcode.constants.ERROR_CORRECT_M,
              "Q": qrcode.constants.ERROR_CORRECT_Q, "H": qrcode.constants.ERROR_CORRECT_H}
    documented = dict(re.findall(r"^\| ([LMQH])(?: \(the hub's choice\))? \| (\d+) \(", DOC_TEXT, re.M))
    assert set(documented) == set(levels)
    for level, constant in levels.items():
        code = qrcode.QRCode(error_correction=constant)
        code.add_data(text)
        code.make(fit=True)
        assert code.version == int(documented[level]), level


def test_demo_business_license_fits_qr_version_10(keys):
    assert _demo_qr(keys)[1].version <= 10


def test_the_payload_has_the_documented_element_count_and_order(keys):
    items = cbor2.loads(decode_qr((VECTORS / "valid.txt").read_text()).payload)
    assert len(items) == qr_sizes.documented_payload_elements() == 9
    rows = re.findall(r"^\| (\d) \| (\w+) \|", DOC_TEXT[DOC_TEXT.index("## 4. Payload"):], re.M)
    assert [int(pos) for pos, _ in rows] == list(range(len(items)))
    claims = mv.demo_business_license()
    named = {"type_code": claims.type_code, "serial": claims.serial, "version": claims.version,
             "valid_from": 20778, "valid_until": None, "holder_id": claims.holder_id,
             "holder_name": claims.holder_name, "fields": list(claims.fields), "status": list(claims.status_ref)}
    assert [named[name] for _, name in rows] == items


def test_documented_qr_versions_for_long_holder_names_are_what_the_encoder_produces():
    measured = {(row.type_name, row.name_length): (row.version, row.characters) for row in qr_sizes.measure()}
    assert qr_sizes.documented_table() == measured
    assert {n for _, n in measured} >= {10, 20, 30}


@pytest.mark.parametrize("name_length, version", [(12, 10), (100, 17)])
def test_a_long_name_symbol_scans_as_well_per_module_when_small_and_blurred(keys, name_length, version):
    name = mv.demo_business_license().holder_name if name_length == 12 else qr_sizes._ENTERPRISE[:name_length]
    text = encode_qr(replace(mv.demo_business_license(), holder_name=name), keys["dept-a"].signer)
    image = Image.open(io.BytesIO(qrimage.render(text)[0])).convert("L")
    modules = image.width // qrimage.BOX
    small = image.resize((modules * 5 // 2, modules * 5 // 2), Image.BILINEAR).filter(ImageFilter.GaussianBlur(1))
    assert qrimage.qr_version(text) == version
    found = zxingcpp.read_barcodes(small, formats=zxingcpp.BarcodeFormat.QRCode)
    assert [result.text for result in found] == [text]  # 2.5 pixels per module, blurred


def test_demo_qr_image_decodes_back_to_the_same_text(keys):
    text, code = _demo_qr(keys)
    image = code.make_image().get_image().convert("L")
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert [result.text for result in results] == [text]


# --- the hub's QR encoder ---------------------------------------------------------------------------


def _qrcode_matrix(text: str, border: int = 4) -> tuple[tuple[bool, ...], ...]:
    """The reference: qrcode's own symbol (version by best fit, mask by its 8-placement search)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    code.add_data(qrcode.util.QRData(text.encode("ascii"), mode=MODE_ALPHA_NUM, check_data=False))
    code.make(fit=True)
    return tuple(tuple(row) for row in code.get_matrix())


def test_encoder_builds_the_symbol_qrcode_builds(keys):
    rng = random.Random(18004)
    alphabet = sorted(QR_ALPHANUMERIC)
    texts = [encode_qr(mv.demo_business_license(), keys["dept-a"].signer), "HUB1:", "A", "AB", "12345"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.choice((rng.randint(1, 60), rng.randint(60, 600),
                                                                      rng.randint(600, 1800)))))
              for _ in range(120)]
    versions = set()
    for text in texts:
        symbol = qrencode.encode(text)
        versions.add(symbol.version)
        assert symbol.matrix(4) == _qrcode_matrix(text), (len(text), symbol.version, symbol.mask)
    assert {1, 2, 7, 10, 20} <= versions  # small, version-information (7+) and large symbols


def test_encoder_refuses_characters_outside_alphanumeric_mode():
    with pytest.raises(ValueError):
        qrencode.encode("HUB1:abc")


def test_qr_images_scan_back_to_the_text(keys):
    text = encode_qr(mv.demo_business_license(), keys["dept-a"].signer)
    png, svg = qrimage.render(text)
    scanned = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormat.QRCode)
    assert [r.text for r in scanned] == [text]
    assert svg.startswith(b"<?xml") and b"<path d=\"M" in svg
    assert qrimage.qr_version(text) == qrimage.make_qr(text).version <= 10


def test_mask_penalty_is_the_score_qrcode_gives():
    rng = random.Random(783)
    for n in (21, 25, 45, 57):
        for trial in range(12):
            if trial % 2:  # long runs, blocks and finder-like patterns are common in structured rows
                rows = [rng.choice((0, (1 << n) - 1, 0b10111010000 << rng.randrange(n - 10), rng.getrandbits(n)))
                        for _ in range(n)]
            else:
                rows = [rng.getrandbits(n) for _ in range(n)]
            modules = [[bool(row >> (n - 1 - c) & 1) for c in range(n)] for row in rows]
            assert qrencode._penalty(qrencode._flat(rows, n), n) == qrcode.util.lost_point(modules), (n, trial)
