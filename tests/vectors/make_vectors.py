"""Regenerate the offline-verifier test vectors from the fixed test keys in keys/.

    .venv/bin/python tests/vectors/make_vectors.py [OUT_DIR]

Same keys in, same files out: ES256 signs with RFC 6979 nonces and Ed25519 is deterministic.
Keys and certificates missing from keys/ are created once; they are test material only.
Each case is one file holding the exact QR text; expected.json gives its status at NOW.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import base45
import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hub.trust.signer import KeySigner  # noqa: E402
from hub.trust.signing import encode_qr, issuer_entry  # noqa: E402
from license_verifier.algorithms import kid_for_certificate  # noqa: E402
from license_verifier.qr import LicenseClaims, decode_qr, sig_structure  # noqa: E402

HERE = Path(__file__).resolve().parent
KEYS = HERE / "keys"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone(timedelta(hours=8)))
DEPT_A = ("11990100MB0000019L", "示例市市场监督管理局")  # ES256
DEPT_B = ("11990100MB0000027F", "示例市民政局")  # EdDSA
BUSINESS_LICENSE = "11100000000013338W001"
MARRIAGE_CERTIFICATE = "11100000MB90000150001"
# Status list entries ([list number, index], payload element 8): every QR the hub issues carries one. The
# business license's index is above 65535, as half of all indexes are: the larger of the two CBOR sizes.
BUSINESS_STATUS, MARRIAGE_STATUS = (1, 93217), (1, 40518)
_CERT_START, _CERT_END = datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2035, 1, 1, tzinfo=timezone.utc)
_KEY_KINDS = {"root": "ES256", "dept-a": "ES256", "dept-b": "EdDSA", "rogue": "ES256"}
_SUBJECTS = {"root": "Hub Test Root CA", "dept-a": DEPT_A[1], "dept-b": DEPT_B[1], "rogue": "Rogue"}


@dataclass(frozen=True)
class KeyPair:
    """A fixed test key with its certificate."""

    key: object
    cert_der: bytes

    @property
    def signer(self) -> KeySigner:
        return KeySigner(self.key, kid=kid_for_certificate(self.cert_der))


def _new_key(alg: str):
    return ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else ed25519.Ed25519PrivateKey.generate()


def _new_cert(name: str, key, issuer: x509.Certificate | None, issuer_key, serial: int) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.subject if issuer else subject).public_key(key.public_key())
               .serial_number(serial).not_valid_before(_CERT_START).not_valid_after(_CERT_END)
               .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True))
    return builder.sign(issuer_key, hashes.SHA256())


def _create_missing(keys_dir: Path) -> None:
    keys_dir.mkdir(parents=True, exist_ok=True)
    root_key_path = keys_dir / "root.key.pem"
    for serial, (name, alg) in enumerate(_KEY_KINDS.items(), start=1):
        key_path, cert_path = keys_dir / f"{name}.key.pem", keys_dir / f"{name}.crt.pem"
        if key_path.exists() and cert_path.exists():
            continue
        key = _new_key(alg)
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        signed_by_root = name not in ("root", "rogue")
        root = x509.load_pem_x509_certificate((keys_dir / "root.crt.pem").read_bytes()) if signed_by_root else None
        signing_key = serialization.load_pem_private_key(root_key_path.read_bytes(), None) if root else key
        cert = _new_cert(_SUBJECTS[name], key, root, signing_key, serial)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def load_keys(keys_dir: Path = KEYS) -> dict[str, KeyPair]:
    """Load the fixed test keys, creating any that are missing."""
    _create_missing(keys_dir)
    pairs = {}
    for name in _KEY_KINDS:
        key = serialization.load_pem_private_key((keys_dir / f"{name}.key.pem").read_bytes(), None)
        cert = x509.load_pem_x509_certificate((keys_dir / f"{name}.crt.pem").read_bytes())
        pairs[name] = KeyPair(key, cert.public_bytes(serialization.Encoding.DER))
    return pairs


def trust_document(keys: dict[str, KeyPair]) -> dict:
    """Return the trust list of the vectors: department A issues business licenses, B marriages."""
    return {
        "format": "hub-trust-list/1",
        "issued_at": "2026-11-01T00:00:00Z",
        "issuers": [
            issuer_entry(keys["dept-a"].cert_der, code=DEPT_A[0], name=DEPT_A[1], license_types=[BUSINESS_LICENSE]),
            issuer_entry(keys["dept-b"].cert_der, code=DEPT_B[0], name=DEPT_B[1],
                         license_types=[MARRIAGE_CERTIFICATE]),
        ],
        "license_types": [
            {"code": BUSINESS_LICENSE, "name": "营业执照", "name_en": "Business license", "holder": "credit_code",
             "qr_fields": [{"name": "legal_representative", "type": "string", "label": "法定代表人"}]},
            {"code": MARRIAGE_CERTIFICATE, "name": "结婚证", "name_en": "Marriage certificate",
             "holder": "resident_id",
             "qr_fields": [{"name": "spouse_name", "type": "string", "label": "配偶姓名"},
                           {"name": "registered_on", "type": "date", "label": "登记日期"}]},
        ],
    }


def demo_business_license() -> LicenseClaims:
    """Return the demo business license of docs/qr-format.md."""
    return LicenseClaims(
        type_code=BUSINESS_LICENSE, issuer_code=DEPT_A[0], serial=2026000001, version=1,
        valid_from=date(2026, 11, 21), valid_until=None, holder_id="91350100M000100Y43",
        holder_name="福州闽江数字科技有限公司", fields=("林建华",), status_ref=BUSINESS_STATUS,
    )


def demo_marriage_certificate() -> LicenseClaims:
    """Return a marriage certificate issued by department B."""
    return LicenseClaims(
        type_code=MARRIAGE_CERTIFICATE, issuer_code=DEPT_B[0], serial=2026000520, version=1,
        valid_from=date(2026, 5, 20), valid_until=None, holder_id="11010519491231002X",
        holder_name="张晓明", fields=("李雨桐", date(2026, 5, 20)), status_ref=MARRIAGE_STATUS,
    )


# What verify() must return for the two valid vectors; written out by hand, not computed.
EXPECTED_LICENSES = {
    "valid.txt": {
        "id": "1.2.156.3005.2.11100000000013338W001.11990100MB0000019L.2026000001.001.1",
        "type": BUSINESS_LICENSE, "type_name": "营业执照", "type_name_en": "Business license",
        "holder": {"id_type": "credit_code", "id": "91350100M000100Y43", "name": "福州闽江数字科技有限公司"},
        "fields": {"legal_representative": "林建华"},
        "valid_from": "2026-11-21", "valid_until": None, "version": 1,
    },
    "valid_eddsa.txt": {
        "id": "1.2.156.3005.2.11100000MB90000150001.11990100MB0000027F.2026000520.001.0",
        "type": MARRIAGE_CERTIFICATE, "type_name": "结婚证", "type_name_en": "Marriage certificate",
        "holder": {"id_type": "resident_id", "id": "11010519491231002X", "name": "张晓明"},
        "fields": {"spouse_name": "李雨桐", "registered_on": "2026-05-20"},
        "valid_from": "2026-05-20", "valid_until": None, "version": 1,
    },
}


def _text(cose: bytes, prefix: str = "HUB1:") -> str:
    return prefix + base45.b45encode(cose).decode("ascii")


def _body(text: str) -> bytes:
    return base45.b45decode(text[len("HUB1:"):])


def _sign1(header: dict, payload: bytes, sign, *, tagged: bool = True, wrap: bool = True) -> bytes:
    """Build a COSE_Sign1 by hand so the cases can break one rule at a time."""
    protected = cbor2.dumps(header, canonical=True)
    signature = sign(sig_structure(protected, payload)) if sign else b""
    parts = [protected if wrap else header, {}, payload, signature]
    return cbor2.dumps(cbor2.CBORTag(18, parts) if tagged else parts)


def _payload(claims: LicenseClaims, *extra) -> bytes:
    signer = KeySigner(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)), kid=bytes(8))
    return cbor2.dumps(cbor2.loads(decode_qr(encode_qr(claims, signer)).payload) + list(extra), canonical=True)


def _signature_cases(keys: dict[str, KeyPair]) -> dict[str, tuple[str, str]]:
    a, b, rogue = keys["dept-a"].signer, keys["dept-b"].signer, keys["rogue"].signer
    demo = demo_business_license()
    valid = encode_qr(demo, a)
    cose = bytearray(_body(valid))
    cose[-1] ^= 0x01
    tampered = _body(valid).replace("林建华".encode(), "林建国".encode())
    payload = _payload(demo)
    return {
        "valid.txt": (valid, "valid"),
        "valid_eddsa.txt": (encode_qr(demo_marriage_certificate(), b), "valid"),
        "valid_extra_elements.txt": (_text(_sign1({1: -7, 4: a.kid}, _payload(demo, "later", {1: 2}), a.sign)),
                                     "valid"),
        "valid_without_status.txt": (encode_qr(replace(demo, status_ref=None), a), "valid"),
        "expired.txt": (encode_qr(replace(demo, serial=2021000007, valid_from=date(2021, 12, 1),
                                          valid_until=date(2026, 11, 30)), a), "expired"),
        "not_yet_valid.txt": (encode_qr(replace(demo, valid_from=date(2026, 12, 2)), a), "not_yet_valid"),
        "flipped_byte.txt": (_text(bytes(cose)), "bad_signature"),
        "tampered_payload.txt": (_text(tampered), "bad_signature"),
        "forged_kid.txt": (_text(_sign1({1: -7, 4: a.kid}, payload, rogue.sign)), "bad_signature"),
        "alg_mismatch.txt": (_text(_sign1({1: -8, 4: a.kid}, payload, b.sign)), "bad_signature"),
        "alg_none.txt": (_text(_sign1({1: "none", 4: a.kid}, payload, None)), "bad_signature"),
        "alg_missing.txt": (_text(_sign1({4: a.kid}, payload, a.sign)), "bad_signature"),
        "unsupported_alg.txt": (_text(_sign1({1: -35, 4: a.kid}, payload, a.sign)), "bad_signature"),
        "unknown_kid.txt": (encode_qr(demo, rogue), "unknown_issuer"),
        "other_department_key.txt": (encode_qr(demo, b), "unknown_issuer"),
        "wrong_license_type.txt": (encode_qr(replace(demo_marriage_certificate(), issuer_code=DEPT_A[0]), a),
                                   "unknown_issuer"),
    }


def _malformed_cases(keys: dict[str, KeyPair]) -> dict[str, tuple[str, str]]:
    a = keys["dept-a"].signer
    valid = encode_qr(demo_business_license(), a)
    payload = _payload(demo_business_license())
    texts = {
        "truncated.txt": valid[: len(valid) // 2 // 3 * 3 + 2],  # whole base45 groups, half a COSE
        "garbage.txt": "这不是电子证照 <not a license>",
        "wrong_prefix.txt": "HC1:" + valid[len("HUB1:"):],
        "not_base45.txt": "HUB1:" + valid[len("HUB1:"):].lower(),
        "bad_cbor.txt": _text(b"\xff" * 40),
        "untagged.txt": _text(_sign1({1: -7, 4: a.kid}, payload, a.sign, tagged=False)),
        "protected_not_bstr.txt": _text(_sign1({1: -7, 4: a.kid}, payload, a.sign, wrap=False)),
        "payload_not_array.txt": _text(_sign1({1: -7, 4: a.kid}, cbor2.dumps({"type": BUSINESS_LICENSE}), a.sign)),
        "empty.txt": "",
        "10kb.txt": (valid * 40)[:10240],
    }
    return {name: (text, "malformed") for name, text in texts.items()}


def cases(keys: dict[str, KeyPair]) -> dict[str, tuple[str, str]]:
    """Return every vector as file name -> (QR text, expected status at NOW)."""
    return {**_signature_cases(keys), **_malformed_cases(keys)}


def write_vectors(out_dir: Path = HERE, keys_dir: Path = KEYS) -> None:
    """Write every case file, trust-list.json and expected.json into out_dir."""
    keys = load_keys(keys_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (text, status) in cases(keys).items():
        (out_dir / name).write_bytes(text.encode("utf-8"))
        expected[name] = status
    dump = {"now": NOW.isoformat(), "trust_list": "trust-list.json", "cases": expected,
            "licenses": EXPECTED_LICENSES}
    for name, doc in (("trust-list.json", trust_document(keys)), ("expected.json", dump)):
        (out_dir / name).write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_vectors(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
