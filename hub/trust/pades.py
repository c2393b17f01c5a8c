"""PAdES signatures on the printable licenses (ETSI EN 319 142-1 baseline B-B), and their check.

The issuer's key signs the rendered PDF in an incremental update: an invisible signature field,
a CMS SignedData with the signing certificate (ESS signing-certificate-v2) and the chain, SubFilter
/ETSI.CAdES.detached. No time-stamp and no revocation data (that would be B-T / B-LT), so the
signing time is what the signer claims. Both functions call pyHanko's synchronous API, which runs
its own event loop: call them from plain (threaded) code, not from inside a running event loop.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime

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
        output = _TimedPdfSigner(meta, signer, now=now).sign_pdf(writer, bytes_reserved=reserved)
    except (PdfError, SigningError, ValueError) as exc:
        raise PdfSigningError(f"cannot sign the PDF: {exc}") from exc
    return output.getvalue()


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


def _signer(private_key, certificate_der: bytes, chain_der: list[bytes]) -> signers.SimpleSigner:
    """Build pyHanko's in-memory signer from a `cryptography` key and DER certificates."""
    p256 = isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, ec.SECP256R1)
    if not (p256 or isinstance(private_key, ed25519.Ed25519PrivateKey)):
        raise PdfSigningError(f"unsupported key type {type(private_key).__name__}: use ECDSA P-256 or Ed25519")
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
    pkcs8 = private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    return signers.SimpleSigner(signing_cert=certificate, signing_key=asn1_keys.PrivateKeyInfo.load(pkcs8),
                                cert_registry=SimpleCertificateStore.from_certs(chain))


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
