"""What is derived from a signed license record: QR images and the signed PDF.

The record (row + signed QR text) is the source of truth and is committed first; artifacts are
rendered from it afterwards and stored under keys derived from the identifier. A crash between the
commit and the upload leaves an artifact missing, never an orphan: a missing artifact is rendered
again on first request.

At issuance the signed PDF is rendered (in a worker process, see `hub.licenses.printing.rendering`) and
stored once the license is committed. The QR images are rendered from the QR text on their first
request (a millisecond or two) and stored then: two fewer objects to write per license issued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date

from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session, sessionmaker

from hub.core.storage.base import ObjectNotFound, ObjectStore
from hub.licenses.printing import qrimage
from hub.licenses.printing.pdf import LicensePdf, format_date_zh
from hub.licenses.printing.rendering import RenderJob, RenderPool, shared_pool
from hub.licenses.tables import License
from hub.licenses.types import LicenseType
from hub.departments.service import get_department
from hub.trust.service import KeyRing
from license_verifier.verifier import CHINA_STANDARD_TIME

log = logging.getLogger("hub.licenses")
PDF = "license.pdf"
QR_IMAGES = ("qr.png", "qr.svg")
CONTENT_TYPES = {"qr.png": "image/png", "qr.svg": "image/svg+xml", PDF: "application/pdf"}
HOLDER_LABELS = {"credit_code": "统一社会信用代码", "resident_id": "公民身份号码"}


def object_key(identifier: str, name: str) -> str:
    return f"licenses/{identifier}/{name}"


def _display(value, field_type: str) -> str:
    if value is None:
        return "—"
    if field_type == "date":
        return format_date_zh(date.fromisoformat(value))
    if field_type == "boolean":
        return "是 Yes" if value else "否 No"
    return str(value)


class Artifacts:
    """Renders, stores and serves the artifacts of licenses, with what rendering needs."""

    def __init__(self, store: ObjectStore, *, types: dict[str, LicenseType], keyring: KeyRing,
                 session_factory: sessionmaker[Session], pool: RenderPool | None = None) -> None:
        self.store, self._types, self._keyring, self._factory = store, types, keyring, session_factory
        self._pool = pool  # None: the process's shared pool
        # (department id, kid of the key that signed the QR) -> what signs the PDF; see after_commit
        self._signing: dict[tuple[str, str], tuple[bytes, bytes, tuple[bytes, ...]]] = {}

    def render(self, row: License, *, session: Session | None = None) -> dict[str, bytes]:
        """Render every artifact of a license: QR images, and the PDF signed as PAdES."""
        png, svg = qrimage.render(row.qr_text)
        return {"qr.png": png, "qr.svg": svg, PDF: self._render_pdf(row, session)}

    def store_all(self, row: License, *, session: Session | None = None) -> dict[str, bytes]:
        """Render and store every artifact of a committed license (reading with `session` if given)."""
        artifacts = self.render(row, session=session)
        self._put(row, artifacts)
        return artifacts

    def get(self, row: License, name: str) -> bytes:
        """Return one stored artifact, rendering (and storing) it if it is missing."""
        try:
            return self.store.get(object_key(row.identifier, name))
        except ObjectNotFound:
            log.info("rendering the missing %s of %s", name, row.identifier)
        if name == PDF:
            artifacts = {PDF: self._render_pdf(row, None)}
        else:
            artifacts = dict(zip(QR_IMAGES, qrimage.render(row.qr_text)))
        self._put(row, artifacts)
        return artifacts[name]

    def after_commit(self, row: License, *, session: Session | None = None, department=None) -> Callable[[], None]:
        """Return a callback that renders and stores the signed PDF once the license is committed.

        `session` is the issuing request's (still open when its after-commit callbacks run) and
        `department` the issuer loaded there: no second connection, no second lookup. The PDF is
        signed by the key that document_signer names for the key that signed the QR; that pair is
        kept, as it holds for every license that key signs at issuance (a rotation or a revocation
        makes another key the signing one, so another kid).
        """

        def run() -> None:
            try:
                material = self._signing.get((row.issuer_department_id, row.kid))
                self._put(row, {PDF: self._render_pdf(row, session, department, material, cache=True)})
            except Exception:  # noqa: BLE001 - the license stands; its PDF renders again on request
                log.exception("could not store the PDF of %s; it will render on request", row.identifier)

        return run

    def _put(self, row: License, artifacts: dict[str, bytes]) -> None:
        for name, data in artifacts.items():
            self.store.put(object_key(row.identifier, name), data, content_type=CONTENT_TYPES[name])

    def _render_pdf(self, row: License, session: Session | None, department=None, material=None, *,
                    cache: bool = False) -> bytes:
        if department is None or material is None:
            with nullcontext(session) if session is not None else self._factory() as session:
                department = department or get_department(session, row.issuer_department_id)
                key, cert_der, chain = self._keyring.document_signer(session, department.id)
            material = (key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()), cert_der, tuple(chain))
            if cache:
                self._signing[(row.issuer_department_id, row.kid)] = material
        return (self._pool or shared_pool()).render(self._job(row, department, material))

    def _job(self, row: License, department, material: tuple[bytes, bytes, tuple[bytes, ...]]) -> RenderJob:
        license_type = self._types[row.type_code]
        fields = tuple((f.label, f.label_en, _display(row.data.get(f.name), f.type))
                       for f in license_type.fields if f.name in row.data)
        page = LicensePdf(
            identifier=row.identifier, type_code=row.type_code, type_name=license_type.name,
            type_name_en=license_type.name_en, holder_label=HOLDER_LABELS[row.holder_id_type],
            holder_id=row.holder_id, holder_name=row.holder_name, fields=fields, issuer_name=department.name,
            issuer_code=department.code, issued_on=row.issued_at.astimezone(CHINA_STANDARD_TIME).date(),
            valid_from=row.valid_from, valid_until=row.valid_until, version=row.version, qr_text=row.qr_text)
        pkcs8, cert_der, chain = material
        return RenderJob(page=page, key_pkcs8=pkcs8, certificate_der=cert_der, chain_der=chain,
                         reason=f"签发{license_type.name} Issued {license_type.name_en}",
                         location=department.name, signer_name=department.name)
