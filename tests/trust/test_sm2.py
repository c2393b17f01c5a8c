"""SM2 with SM3 as a third QR signature algorithm: signatures, certificates, keys at rest, verification."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import base45
import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

from hub.trust import certs, sm2
from hub.trust.signer import KeySigner
from hub.trust.signing import encode_qr, issuer_entry, sign_trust_list
from license_verifier import sm2 as verifier_sm2
from license_verifier.algorithms import (
    COSE_ALGS,
    algorithm_for_key,
    certificate_public_key,
    kid_for_certificate,
    verify_raw,
)
from license_verifier.qr import PREFIX, decode_qr
from license_verifier.trustlist import TrustList, TrustListError, b64url, load_trust_list
from license_verifier.verdict import Status
from license_verifier.verifier import verify
from tests.vectors import make_vectors as mv

DEPT_C = ("11990100MB0000043X", "示例市税务局")  # signs with SM2
ISSUED = datetime(2026, 11, 1, tzinfo=timezone.utc)
NOW = mv.NOW
PASSPHRASE = b"correct horse battery staple"

# The worked signature example on the recommended curve (GM/T 0003.5-2012, the one GmSSL, Tongsuo
# and others test against): key d, message "message digest", user id "1234567812345678", nonce k.
EXAMPLE_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
EXAMPLE_PUBLIC = (0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020,
                  0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13)
EXAMPLE_K = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21"
EXAMPLE_SIGNATURE = bytes.fromhex("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
                                  "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA")
EXAMPLE_MESSAGE = b"message digest"


@pytest.fixture(scope="module")
def keys() -> dict[str, mv.KeyPair]:
    return mv.load_keys()


@pytest.fixture(scope="module")
def root(keys) -> certs.KeyMaterial:
    return certs.KeyMaterial(keys["root"].key, x509.load_der_x509_certificate(keys["root"].cert_der))


@pytest.fixture(scope="module")
def issuer(root) -> certs.KeyMaterial:
    return certs.make_issuer(root, code=DEPT_C[0], name=DEPT_C[1], alg="SM2", now=ISSUED)


@pytest.fixture(scope="module")
def signer(issuer) -> KeySigner:
    return KeySigner(issuer.private_key, kid=kid_for_certificate(issuer.cert_der))


@pytest.fixture(scope="module")
def doc(keys, issuer) -> dict:
    """The vectors' trust list plus department C, whose SM2 key signs business licenses."""
    doc = mv.trust_document(keys)
    entry = issuer_entry(issuer.cert_der, code=DEPT_C[0], name=DEPT_C[1], license_types=[mv.BUSINESS_LICENSE])
    return dict(doc, issuers=[*doc["issuers"], entry])


@pytest.fixture(scope="module")
def trust(doc) -> TrustList:
    return TrustList.from_document(doc)


def _license():
    return replace(mv.demo_business_license(), issuer_code=DEPT_C[0])


def _cose(text: str) -> bytes:
    return base45.b45decode(text[len(PREFIX):])


def _text(cose: bytes) -> str:
    return PREFIX + base45.b45encode(cose).decode("ascii")


# --- signatures -------------------------------------------------------------------------------


def test_sm2_verifies_the_published_example_signature():
    key = sm2.private_key_from_value(EXAMPLE_D)
    numbers = key.public_key().public_numbers()
    assert (numbers.x, numbers.y) == EXAMPLE_PUBLIC
    assert verify_raw(key.public_key(), "SM2", EXAMPLE_SIGNATURE, EXAMPLE_MESSAGE)
    assert not verify_raw(key.public_key(), "SM2", EXAMPLE_SIGNATURE, b"message digesT")


def test_sm2_signatures_are_raw_64_bytes_and_round_trip(signer, issuer):
    signature = signer.sign(b"message")
    assert len(signature) == 64 and signer.alg == "SM2"
    assert verify_raw(issuer.private_key.public_key(), "SM2", signature, b"message")
    assert not verify_raw(issuer.private_key.public_key(), "SM2", signature, b"messagf")
    assert signer.sign(b"message") != signature  # SM2 nonces are random; both verify
    assert verify_raw(issuer.private_key.public_key(), "SM2", signer.sign(b"message"), b"message")


@pytest.mark.parametrize("signature", [b"", b"\x00" * 64, b"\xff" * 64, b"\x01" * 63, b"\x01" * 65, "text", None])
def test_verify_raw_returns_false_for_any_bad_sm2_signature(issuer, signature):
    assert verify_raw(issuer.private_key.public_key(), "SM2", signature, b"message") is False


def test_sm2_signature_does_not_verify_with_another_key_or_algorithm(signer, issuer, keys):
    signature = signer.sign(b"m")
    assert not verify_raw(sm2.generate_private_key().public_key(), "SM2", signature, b"m")
    assert not verify_raw(issuer.private_key, "SM2", signature, b"m")  # a private key
    assert not verify_raw(issuer.private_key.public_key(), "ES256", signature, b"m")
    assert not verify_raw(keys["dept-a"].key.public_key(), "SM2", signature, b"m")
    es256 = keys["dept-a"].signer.sign(b"m")
    assert not verify_raw(issuer.private_key.public_key(), "SM2", es256, b"m")


def test_sm2_is_a_third_algorithm_behind_the_signer_interface(issuer, keys):
    assert (COSE_ALGS["ES256"], COSE_ALGS["EdDSA"], COSE_ALGS["SM2"]) == (-7, -8, -65537)
    assert COSE_ALGS["SM2"] < -65536  # IANA "COSE Algorithms": Private Use
    assert algorithm_for_key(issuer.private_key) == algorithm_for_key(issuer.private_key.public_key()) == "SM2"
    assert algorithm_for_key(keys["dept-a"].key) == "ES256"
    with pytest.raises(ValueError):
        KeySigner(issuer.private_key, kid=b"short")
    with pytest.raises(TypeError):
        KeySigner(issuer.private_key.public_key(), kid=bytes(8))


def _gmssl_key(gmssl_sm2, private_value: int, x: int, y: int):
    key = gmssl_sm2.CryptSM2(private_key=f"{private_value:064x}", public_key="")
    key.public_key = f"{x:064x}{y:064x}"  # set afterwards: the constructor lstrips "0" and "4" characters
    return key


def test_gmssl_and_the_hub_accept_each_others_sm2_signatures():
    gmssl_sm2 = pytest.importorskip("gmssl.sm2", reason="gmssl (pure Python) is the independent cross-check")
    key = sm2.generate_private_key()
    numbers = key.public_key().public_numbers()
    other = _gmssl_key(gmssl_sm2, key.private_numbers().private_value, numbers.x, numbers.y)
    for message in (b"", b"message", "电子证照".encode() * 50):
        assert other.verify_with_sm3(sm2.sign(key, message).hex(), message)  # Z_A with the default user id
        assert verify_raw(key.public_key(), "SM2", bytes.fromhex(other.sign_with_sm3(message)), message)
    example = _gmssl_key(gmssl_sm2, EXAMPLE_D, *EXAMPLE_PUBLIC)
    assert bytes.fromhex(example.sign_with_sm3(EXAMPLE_MESSAGE, EXAMPLE_K)) == EXAMPLE_SIGNATURE


# --- certificate and key at rest ----------------------------------------------------------------


def test_sm2_issuer_certificate_carries_the_sm2_key_and_chains_to_the_root(issuer, root):
    cert = issuer.certificate
    cert.verify_directly_issued_by(root.certificate)
    root.private_key.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    spki = asn1_keys.PublicKeyInfo.load(sm2.public_key_der(issuer.private_key))
    assert spki["algorithm"]["algorithm"].dotted == "1.2.840.10045.2.1"  # id-ecPublicKey
    assert spki["algorithm"]["parameters"].chosen.dotted == verifier_sm2.CURVE_OID
    assert spki.dump() in issuer.cert_der
    public = certificate_public_key(issuer.cert_der)
    assert public.public_numbers() == issuer.private_key.public_key().public_numbers()
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == DEPT_C[0]
    assert cert.issuer == root.certificate.subject
    assert not cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca
    aki = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value
    assert aki.key_identifier == x509.SubjectKeyIdentifier.from_public_key(root.private_key.public_key()).digest
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (ISSUED - timedelta(minutes=5),
                                                                      ISSUED + certs.ISSUER_VALIDITY)
    assert len(kid_for_certificate(issuer.cert_der)) == 8


def test_sm2_certificate_signed_by_another_key_does_not_chain(root):
    impostor = certs.KeyMaterial(ec.generate_private_key(ec.SECP256R1()), root.certificate)
    forged = certs.make_issuer(impostor, code=DEPT_C[0], name=DEPT_C[1], alg="SM2", now=ISSUED)
    with pytest.raises(InvalidSignature):
        forged.certificate.verify_directly_issued_by(root.certificate)


def test_encrypted_pkcs8_round_trip_for_every_algorithm():
    for alg in certs.KEY_ALGS:
        key = certs.generate_key(alg)
        pem = certs.encrypt_key(key, PASSPHRASE)
        assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        loaded = certs.decrypt_key(pem, PASSPHRASE)
        assert algorithm_for_key(loaded) == alg
        assert _public_der(loaded) == _public_der(key)
        with pytest.raises(ValueError):
            certs.decrypt_key(pem, b"wrong passphrase")


def _public_der(key) -> bytes:
    if sm2.is_sm2_key(key):
        return sm2.public_key_der(key)
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_sm2_key_at_rest_is_pbes2_with_sm4():
    pem = certs.encrypt_key(sm2.generate_private_key(), PASSPHRASE)
    _, _, der = asn1_pem.unarmor(pem)
    scheme = asn1_keys.EncryptedPrivateKeyInfo.load(der)["encryption_algorithm"]
    assert scheme["algorithm"].native == "pbes2"
    assert scheme["parameters"]["encryption_scheme"]["algorithm"].dotted == "1.2.156.10197.1.104.2"  # SM4-CBC
    assert PASSPHRASE not in der and b"SM2" not in der


def test_sm2_public_key_as_jwk(issuer):
    jwk = sm2.public_jwk(issuer.private_key.public_key())
    numbers = issuer.private_key.public_key().public_numbers()
    assert (jwk["kty"], jwk["crv"]) == ("EC", "SM2") and "d" not in jwk
    assert verifier_sm2.load_public_key_der(sm2.public_key_der(issuer.private_key)).public_numbers() == numbers
    assert (jwk["x"], jwk["y"]) == (b64url(numbers.x.to_bytes(32, "big")), b64url(numbers.y.to_bytes(32, "big")))


# --- the QR and the trust list ------------------------------------------------------------------


def test_sm2_qr_verifies_against_the_trust_list(signer, trust):
    text = encode_qr(_license(), signer)
    decoded = decode_qr(text)
    assert (decoded.alg, decoded.cose_alg, decoded.kid) == ("SM2", -65537, signer.kid)
    result = verify(text, trust, NOW)
    assert result.status is Status.VALID, result.reason
    assert result.issuer["code"] == DEPT_C[0] and result.issuer["name"] == DEPT_C[1]
    assert result.license["id"] == _license().identifier
    assert len(text) == 301  # 4 bytes of alg more than ES256 (295 characters): still QR version 10-M (311)


def test_sm2_qr_with_a_flipped_byte_has_a_bad_signature(signer, trust):
    cose = bytearray(_cose(encode_qr(_license(), signer)))
    cose[-1] ^= 0x01
    result = verify(_text(bytes(cose)), trust, NOW)
    assert (result.status, result.reason) == (Status.BAD_SIGNATURE, "signature_mismatch")


def test_sm2_qr_signed_by_another_key_under_the_kid_has_a_bad_signature(signer, trust):
    impostor = KeySigner(sm2.generate_private_key(), kid=signer.kid)
    result = verify(encode_qr(_license(), impostor), trust, NOW)
    assert (result.status, result.reason) == (Status.BAD_SIGNATURE, "signature_mismatch")


def test_sm2_kid_with_another_alg_header_is_an_alg_mismatch(signer, trust, keys):
    # department A's ES256 key signing under department C's SM2 kid
    forged = KeySigner(keys["dept-a"].key, kid=signer.kid)
    result = verify(encode_qr(_license(), forged), trust, NOW)
    assert (result.status, result.reason) == (Status.BAD_SIGNATURE, "alg_mismatch")


def test_sm2_signed_trust_list_round_trips(doc, trust, keys, signer):
    jws = sign_trust_list(doc, keys["root"].key, keys["root"].cert_der)
    loaded = load_trust_list(jws, keys["root"].cert_der)
    assert loaded == trust and loaded.issuers[signer.kid].alg == "SM2"


def test_trust_list_rejects_an_sm2_certificate_under_another_alg(doc):
    issuers = [dict(entry) for entry in doc["issuers"]]
    issuers[2]["alg"] = "ES256"
    with pytest.raises(TrustListError):
        TrustList.from_document(dict(doc, issuers=issuers))


# --- speed --------------------------------------------------------------------------------------


def _rate(call, seconds: float = 0.5) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        call()
        count += 1
    return count / elapsed


def test_sm2_sign_and_verify_rates(signer, issuer):
    message = b"x" * 140  # about the Sig_structure of a license
    signature = signer.sign(message)
    public = issuer.private_key.public_key()
    signs, verifies = _rate(lambda: signer.sign(message)), _rate(lambda: verify_raw(public, "SM2", signature, message))
    print(f"\nSM2 (tongsuopy) through the signer interface: {signs:,.0f} signs/s, {verifies:,.0f} verifies/s")
    assert signs > 100 and verifies > 100
