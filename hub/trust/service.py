"""Trust material: create and load keys, sign the trust list, hand out signers."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterable
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm, OKPAlgorithm
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hub.core.errors import HubError
from hub.trust import certs, sm2
from hub.trust.signer import KeySigner
from hub.trust.signing import sign_trust_list
from hub.trust.tables import HubKey
from license_verifier.algorithms import certificate_public_key, kid_for_certificate
from license_verifier.trustlist import TrustList, b64url

TRUST_LIST_FORMAT = "hub-trust-list/1"
PADES_ALGS = ("ES256", "EdDSA")  # what pyHanko can sign a PDF with


class NoActiveKey(HubError):
    status, code, title = 409, "no_active_key", "The department has no active issuer key"


def _spki_kid(public_key) -> str:
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64url(hashlib.sha256(spki).digest()[:8])


def _store(session: Session, purpose: str, material: certs.KeyMaterial, passphrase: bytes, now: datetime,
           **columns) -> HubKey:
    cert = material.certificate
    row = HubKey(
        purpose=purpose, alg="ES256" if purpose != "issuer" else columns.pop("alg"),
        private_key_pem=certs.encrypt_key(material.private_key, passphrase), certificate_der=material.cert_der,
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc, created_at=now, **columns,
    )
    session.add(row)
    session.flush()
    return row


def ensure_hub_keys(session: Session, *, passphrase: bytes, now: datetime) -> None:
    """Create the root CA and the access-token key on first start."""
    if _active(session, "root") is None:
        root = certs.make_root(now)
        _store(session, "root", root, passphrase, now, kid=b64url(kid_for_certificate(root.cert_der)))
    if _active(session, "document") is None:
        material = certs.make_issuer(load_root(session, passphrase), code=None, name="政务数据共享交换枢纽",
                                     alg="ES256", now=now, common_name="Hub document signing 电子证照文件签章")
        _store(session, "document", material, passphrase, now, kid=_spki_kid(material.private_key.public_key()))
    if _active(session, "token") is None:
        material = certs.make_issuer(load_root(session, passphrase), code=None, name="政务数据共享交换枢纽",
                                     alg="ES256", now=now, common_name="Hub access tokens 访问令牌签发")
        _store(session, "token", material, passphrase, now, kid=_spki_kid(material.private_key.public_key()))


def _active_select(purpose: str, department_id: str | None = None, *, columns: tuple = (HubKey,)):
    """The newest active key of a purpose (and department): what "active key" means, in one place."""
    query = select(*columns).where(HubKey.purpose == purpose, HubKey.status == "active")
    if department_id is not None:
        query = query.where(HubKey.department_id == department_id)
    return query.order_by(HubKey.created_at.desc()).limit(1)


_ACTIVE_ISSUER_KID = _active_select("issuer", bindparam("department_id"), columns=(HubKey.kid,))  # built once


def _active(session: Session, purpose: str, department_id: str | None = None) -> HubKey | None:
    return session.scalars(_active_select(purpose, department_id)).first()


def load_root(session: Session, passphrase: bytes) -> certs.KeyMaterial:
    """Return the root CA key and certificate."""
    row = _active(session, "root")
    if row is None or row.certificate_der is None:
        raise HubError("The hub root CA is missing: run `hub init`.")
    return certs.KeyMaterial(certs.decrypt_key(row.private_key_pem, passphrase),
                             x509.load_der_x509_certificate(row.certificate_der))


def create_issuer_key(session: Session, *, department_id: str, code: str, name: str, alg: str,
                      passphrase: bytes, now: datetime) -> HubKey:
    """Make a department issuer key and certificate signed by the root."""
    root = load_root(session, passphrase)
    material = certs.make_issuer(root, code=code, name=name, alg=alg, now=now)
    return _store(session, "issuer", material, passphrase, now, alg=alg, department_id=department_id,
                  subject_code=code, subject_name=name, kid=b64url(kid_for_certificate(material.cert_der)))


def rotate_issuer_key(session: Session, *, department_id: str, code: str, name: str, alg: str,
                      passphrase: bytes, now: datetime) -> HubKey:
    """Retire the department's active key and make a new one; old licenses keep verifying."""
    for row in session.scalars(select(HubKey).where(HubKey.purpose == "issuer", HubKey.status == "active",
                                                    HubKey.department_id == department_id)):
        row.status = "retired"
    session.flush()
    return create_issuer_key(session, department_id=department_id, code=code, name=name, alg=alg,
                             passphrase=passphrase, now=now)


class UnknownKey(HubError):
    status, code, title = 404, "unknown_key", "No such issuer key"


def revoke_issuer_key(session: Session, *, department_id: str, kid: str, since: datetime) -> HubKey:
    """Mark a key compromised from a point in time: what it signed after that is untrusted."""
    row = session.scalar(select(HubKey).where(HubKey.purpose == "issuer", HubKey.kid == kid,
                                              HubKey.department_id == department_id))
    if row is None:
        raise UnknownKey(f"The department has no issuer key {kid}.")
    row.status, row.compromised_since = "compromised", since
    return row


def issuer_keys(session: Session, department_id: str) -> list[HubKey]:
    """Return a department's issuer keys, oldest first."""
    return list(session.scalars(select(HubKey).where(HubKey.purpose == "issuer", HubKey.department_id ==
                                                     department_id).order_by(HubKey.created_at)))


def issuer_subject(session: Session, code: str) -> HubKey | None:
    """A department's oldest issuer key, found by its credit code (every department has one from its creation):
    its department_id, subject_code and subject_name say whose keys the operator's commands act on."""
    return session.scalar(select(HubKey).where(HubKey.purpose == "issuer", HubKey.subject_code == code)
                          .order_by(HubKey.created_at).limit(1))


class KeyRing:
    """Decrypted signers cached by key id, so issuance does not re-run the key derivation.

    At most `size` signers are kept (past it the cache starts over: a miss costs one decryption); `forget`
    drops them all (hub.services.Services.keys_changed).
    """

    def __init__(self, passphrase: bytes, *, size: int = 1024) -> None:
        self._passphrase, self._size = passphrase, size
        self._signers: dict[str, KeySigner] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        with self._lock:
            self._signers.clear()

    def signer_for(self, session: Session, department_id: str) -> KeySigner:
        """Return the signer of the department's active issuer key.

        Which key is active is read every time (a rotation or a revocation holds at once); the key row
        itself, with its encrypted private key, is loaded only for a key not yet decrypted here.
        """
        kid = session.scalar(_ACTIVE_ISSUER_KID, {"department_id": department_id})
        signer = self._signers.get(kid) if kid is not None else None
        if signer is not None:
            return signer
        row = _active(session, "issuer", department_id)
        if row is None:
            raise NoActiveKey("The department has no active issuer key.")
        return self._signer(row)

    def _signer(self, row: HubKey) -> KeySigner:
        with self._lock:
            signer = self._signers.get(row.kid)
            if signer is None:
                if len(self._signers) >= self._size:
                    self._signers.clear()
                key = certs.decrypt_key(row.private_key_pem, self._passphrase)
                signer = self._signers[row.kid] = KeySigner(key, kid=kid_for_certificate(row.certificate_der))
        return signer

    def document_signer(self, session: Session, department_id: str) -> tuple[object, bytes, list[bytes]]:
        """Return (private key, certificate DER, chain DER) that sign a department's PDFs (PAdES).

        pyHanko signs with ECDSA and Ed25519 keys but has no SM2: an SM2 department's PDFs are signed
        with the hub's document key (P-256, certified by the root) and name the department as signer.
        """
        row = _active(session, "issuer", department_id)
        if row is None:
            raise NoActiveKey("The department has no active issuer key.")
        if row.alg not in PADES_ALGS:
            row = _active(session, "document")
        root = _active(session, "root")
        return self._signer(row).private_key, row.certificate_der, [root.certificate_der]

    def token_jwk(self, session: Session) -> dict:
        """Return the private JWK that signs access tokens."""
        row = _active(session, "token")
        if row is None:
            raise HubError("The access-token key is missing: run `hub init`.")
        key = certs.decrypt_key(row.private_key_pem, self._passphrase)
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
        return {**jwk, "kid": row.kid, "alg": "ES256", "use": "sig"}


def token_public_keys(session: Session) -> dict[str, object]:
    """Return the public keys that verify access tokens, by key id."""
    rows = session.scalars(select(HubKey).where(HubKey.purpose == "token")).all()
    return {row.kid: x509.load_der_x509_certificate(row.certificate_der).public_key() for row in rows}


def issuer_rows(session: Session) -> list[HubKey]:
    return list(session.scalars(select(HubKey).where(HubKey.purpose == "issuer").order_by(HubKey.created_at)))


def trust_document(session: Session, license_types: Iterable, *, now: datetime) -> dict:
    """Build the trust list document: every issuer key with its certificate and allowed types."""
    types = list(license_types)
    issuers = []
    for row in issuer_rows(session):
        allowed = sorted(t.code for t in types if row.subject_code in t.issuers)
        issuers.append({
            "kid": row.kid, "department": {"code": row.subject_code, "name": row.subject_name},
            "alg": row.alg, "certificate": base64.b64encode(row.certificate_der or b"").decode(),
            "not_before": _rfc3339(row.not_before), "not_after": _rfc3339(row.not_after),
            "status": row.status, "license_types": allowed,
            "compromised_since": _rfc3339(row.compromised_since) if row.compromised_since else None,
        })
    return {
        "format": TRUST_LIST_FORMAT, "issued_at": _rfc3339(now), "issuers": issuers,
        "license_types": [_type_entry(t) for t in types],
    }


def _type_entry(t) -> dict:
    by_name = {f.name: f for f in t.fields}
    return {
        "code": t.code, "name": t.name, "name_en": t.name_en, "holder": t.holder,
        "qr_fields": [{"name": n, "type": by_name[n].type, "label": by_name[n].label} for n in t.qr_fields],
    }


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def signed_trust_list(session: Session, license_types: Iterable, *, passphrase: bytes, now: datetime) -> str:
    """Return the trust list document as a compact JWS signed by the root (docs/qr-format.md section 7)."""
    doc = trust_document(session, license_types, now=now)
    root = load_root(session, passphrase)
    return sign_trust_list(doc, root.private_key, root.cert_der)


def load_trust(session: Session, license_types: Iterable, *, now: datetime) -> TrustList:
    """Build the verifier's trust list from the database."""
    return TrustList.from_document(trust_document(session, license_types, now=now))


def jwks(session: Session) -> dict:
    """Return the issuer and access-token public keys as a JWK set, each with its certificate in x5c.

    Access-token keys carry the kid of the tokens' JWS header; issuer keys the kid of their QR codes.
    """
    keys = []
    token_rows = session.scalars(select(HubKey).where(HubKey.purpose == "token").order_by(HubKey.created_at))
    for row in [*issuer_rows(session), *token_rows]:
        public_key = certificate_public_key(row.certificate_der)
        if row.alg == "SM2":
            jwk = sm2.public_jwk(public_key)
        else:
            jwk = (ECAlgorithm if row.alg == "ES256" else OKPAlgorithm).to_jwk(public_key, as_dict=True)
        keys.append({**jwk, "kid": row.kid, "alg": row.alg, "use": "sig",
                     "x5c": [base64.b64encode(row.certificate_der).decode()]})
    return {"keys": keys}
