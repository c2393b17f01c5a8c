"""PAdES signatures on the printable licenses (ETSI EN 319 142-1 baseline B-B), and their check.

The issuer's key signs the rendered PDF in an incremental update: an invisible signature field,
a CMS SignedData with the signing certificate (ESS signing-certificate-v2) and the chain, SubFilter
/ETSI.CAdES.detached. No time-stamp and no revocation data (that would be B-T / B-LT), so the
signing time is what the signer claims. Both functions run pyHanko's coroutines to completion on
an event loop of their own (sign_pdf keeps one per thread): call them from plain (threaded) code, not
from inside a running event loop.

Signing is made cheap for repeated use of one key: the pyHanko signer is built once per key and
certificates, and its CMS containers are assembled from the parts of its first one (see
_TemplateSigner): ~3 ms a signature instead of ~13.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus as PyHankoStatus
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

FIELD_NAME = "IssuerSignature"
log = logging.getLogger("hub.pades")
_MAX_SIGNERS = 64
_signers: dict[bytes, "_TemplateSigner"] = {}  # by key and certificates: pyHanko signers are costly to build
_signers_lock = threading.Lock()
_local = threading.local()


class PdfSigningError(ValueError):
    """The PDF cannot be signed with this key or certificate."""

    code = "pdf_signing_failed"


@dataclass(frozen=True)
class PdfSignatureStatus:
    """What a check of a signed license PDF found; `valid and trusted and whole_document` is the verdict."""

    intact: bool  # the signed byte ranges hash to the signed digest
    valid: bool  # intact, and the signature verifies against the signing certificate
    trusted: bool  # the signing certificate chains to the given root
    signer_subject: str | None
    signing_time: datetime | None  # claimed by the signer (no time-stamp at B-B)
    whole_document: bool = False  # nothing was appended after the signature
    problem: str | None = None


def sign_pdf(pdf: bytes, *, private_key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
             certificate_der: bytes, chain_der: list[bytes], reason: str, location: str, signer_name: str,
             now: datetime | None = None) -> bytes:
    """Sign a PDF with a PAdES B-B signature in an invisible field; `now` fixes the claimed signing time."""
    signer = _signer(private_key, certificate_der, chain_der)
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME, subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason, location=location, name=signer_name,
    )
    # A fixed reservation skips pyHanko's size estimate, which signs a dummy document first. It counts
    # hex digits: 2 per byte of the CMS object (certificates, ~1 KB of attributes and signature).
    reserved = 2 * (2048 + len(certificate_der) + sum(map(len, chain_der)))
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        output = _run(_TimedPdfSigner(meta, signer, now=now).async_sign_pdf(writer, bytes_reserved=reserved))
    except (PdfError, SigningError, ValueError) as exc:
        raise PdfSigningError(f"cannot sign the PDF: {exc}") from exc
    return output.getvalue()


def _run(coroutine):
    """Run pyHanko's coroutine on this thread's own event loop (asyncio.run would make a loop per call)."""
    loop = getattr(_local, "loop", None)
    if loop is None:
        loop = _local.loop = asyncio.new_event_loop()
    return loop.run_until_complete(coroutine)


def validate_pdf(pdf: bytes, *, root_der: bytes, now: datetime | None = None) -> PdfSignatureStatus:
    """Check the PDF's first signature against one trusted root; a broken PDF is a negative status."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = reader.embedded_signatures
        if not embedded:
            return _negative("the PDF has no signature")
        context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(root_der)], moment=now,
                                    allow_fetching=False, revocation_mode="soft-fail")
        status: PyHankoStatus = validate_pdf_signature(embedded[0], context)
    except Exception as exc:  # noqa: BLE001 — any parse or crypto failure of untrusted input is "not valid"
        log.debug("PDF signature check failed", exc_info=True)
        return _negative(f"{type(exc).__name__}: {exc}")
    return PdfSignatureStatus(
        # pyHanko's `valid` only covers the signed attributes; a document that no longer matches its
        # digest is not a valid signature of it.
        intact=status.intact, valid=status.intact and status.valid, trusted=status.trusted,
        signer_subject=status.signing_cert.subject.human_friendly if status.signing_cert else None,
        signing_time=status.signer_reported_dt,
        whole_document=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        problem=None if status.bottom_line else status.summary(),
    )


def _negative(problem: str) -> PdfSignatureStatus:
    return PdfSignatureStatus(intact=False, valid=False, trusted=False, signer_subject=None,
                              signing_time=None, problem=problem)


def _signer(private_key, certificate_der: bytes, chain_der: list[bytes]) -> _TemplateSigner:
    """Return pyHanko's in-memory signer for a `cryptography` key and DER certificates, built once per key."""
    p256 = isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, ec.SECP256R1)
    if not (p256 or isinstance(private_key, ed25519.Ed25519PrivateKey)):
        raise PdfSigningError(f"unsupported key type {type(private_key).__name__}: use ECDSA P-256 or Ed25519")
    pkcs8 = private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    cache_key = hashlib.sha256(b"".join(len(part).to_bytes(4, "big") + part
                                        for part in (pkcs8, certificate_der, *chain_der))).digest()
    with _signers_lock:
        signer = _signers.get(cache_key)
    if signer is None:
        signer = _new_signer(private_key, pkcs8, certificate_der, chain_der)
        with _signers_lock:
            if len(_signers) >= _MAX_SIGNERS:
                _signers.pop(next(iter(_signers)))
            _signers[cache_key] = signer
    return signer


def _new_signer(private_key, pkcs8: bytes, certificate_der: bytes, chain_der: list[bytes]) -> _TemplateSigner:
    try:
        certificate = asn1_x509.Certificate.load(certificate_der)
        chain = [asn1_x509.Certificate.load(der) for der in chain_der]
        public = certificate.public_key.dump()
    except ValueError as exc:
        raise PdfSigningError(f"unreadable certificate: {exc}") from exc
    key_public = private_key.public_key().public_bytes(serialization.Encoding.DER,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    if public != key_public:
        raise PdfSigningError("the certificate does not belong to the private key")
    return _TemplateSigner(signing_cert=certificate, signing_key=asn1_keys.PrivateKeyInfo.load(pkcs8),
                           cert_registry=SimpleCertificateStore.from_certs(chain))


def _der(tag: int, content: bytes) -> bytes:
    """Encode one DER element (X.690 §8.1): tag, definite length, content."""
    length = len(content)
    if length < 0x80:
        return bytes((tag, length)) + content
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big") + content


class _TemplateSigner(signers.SimpleSigner):
    """A SimpleSigner that assembles its CMS container from parts pyHanko built once for this key.

    Building the SignedData with asn1crypto (certificates, ESS signing-certificate-v2, SignerInfo) is
    most of pyHanko's signing time, yet for one key only the message digest and the signature value
    differ between two PAdES B-B signatures. The first signature is made by pyHanko itself; its
    encoded parts are kept, and later ones reuse them with the new digest and signature. Anything
    but that plain case (a signed attribute that varies, a dry run, a time-stamp) goes to pyHanko.
    """

    _parts: tuple | None = None  # from _template_parts; False when this signer's containers vary

    async def async_sign(self, data_digest: bytes, digest_algorithm: str, dry_run=False, use_pades=False,
                         timestamper=None, signed_attr_settings=None, is_pdf_sig=True,
                         encap_content_info=None) -> cms.ContentInfo:
        plain = not dry_run and timestamper is None and encap_content_info is None and use_pades and is_pdf_sig
        if plain and self._parts and self._parts[4] == digest_algorithm:
            return self._assemble(data_digest)
        signed = await super().async_sign(data_digest, digest_algorithm, dry_run=dry_run, use_pades=use_pades,
                                          timestamper=timestamper, signed_attr_settings=signed_attr_settings,
                                          is_pdf_sig=is_pdf_sig, encap_content_info=encap_content_info)
        if plain and self._parts is None:
            self._parts = _template_parts(signed, data_digest, digest_algorithm) or False
        return signed

    def _assemble(self, data_digest: bytes) -> cms.ContentInfo:
        signed_data_head, signer_info_head, (before, after), signer_info_tail, digest_algorithm = self._parts
        attrs = before + data_digest + after  # the message digest keeps its length: the order of the SET stays
        signature = self.sign_raw(_der(0x31, attrs), digest_algorithm)
        signer_info = _der(0x30, signer_info_head + _der(0xA0, attrs) + signer_info_tail + _der(0x04, signature))
        signed_data = _der(0x30, signed_data_head + _der(0x31, signer_info))
        return cms.ContentInfo.load(_der(0x30, _SIGNED_DATA_OID + _der(0xA0, signed_data)))


_SIGNED_DATA_OID = _der(0x06, bytes.fromhex("2a864886f70d010702"))  # 1.2.840.113549.1.7.2
_MESSAGE_DIGEST = "message_digest"
_FIXED_ATTRIBUTES = {"content_type", _MESSAGE_DIGEST, "signing_certificate_v2"}


def _template_parts(signed: cms.ContentInfo, data_digest: bytes, digest_algorithm: str):
    """Split a pyHanko CMS container into the parts that do not depend on the document, or None."""
    signed_data = signed["content"]
    infos = signed_data["signer_infos"]
    if len(infos) != 1:
        return None
    info = infos[0]
    attrs = info["signed_attrs"]
    names = [attr["type"].native for attr in attrs]
    if sorted(names) != sorted(_FIXED_ATTRIBUTES) or info["unsigned_attrs"].native is not None:
        return None  # e.g. a signing-time attribute: it changes with every signature
    encoded = b"".join(attr.dump() for attr in attrs)
    if encoded.count(data_digest) != 1:
        return None
    before, _, after = encoded.partition(data_digest)
    signed_data_head = b"".join(signed_data[name].dump() for name in
                                ("version", "digest_algorithms", "encap_content_info", "certificates"))
    signer_info_head = b"".join(info[name].dump() for name in ("version", "sid", "digest_algorithm"))
    return signed_data_head, signer_info_head, (before, after), info["signature_algorithm"].dump(), digest_algorithm


class _TimedPdfSigner(signers.PdfSigner):
    """A PdfSigner whose signing time is given rather than read from the clock."""

    def __init__(self, *args, now: datetime | None, **kwargs):
        super().__init__(*args, **kwargs)
        self._now = now

    def init_signing_session(self, *args, **kwargs):
        session = super().init_signing_session(*args, **kwargs)
        if self._now is not None:
            session.system_time = self._now
        return session
