"""What is derived from a signed license record: QR images and the signed PDF.

The record (row + signed QR text) is the source of truth and is committed first; artifacts are
rendered from it afterwards and stored under keys derived from the identifier. A crash between the
commit and the upload leaves an artifact missing, never an orphan: a missing artifact is rendered
again on first request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from sqlalchemy.orm import Session, sessionmaker

from hub.core.storage import ObjectNotFound, ObjectStore
from hub.licenses import qrimage
from hub.licenses.pdf import LicensePdf, format_date_zh, render_license_pdf
from hub.licenses.tables import License
from hub.licenses.types import LicenseType
from hub.registry.service import get_department
from hub.trust.pades import sign_pdf
from hub.trust.service import KeyRing
from hub.verify.core import CHINA_STANDARD_TIME

log = logging.getLogger("hub.licenses")
CONTENT_TYPES = {"qr.png": "image/png", "qr.svg": "image/svg+xml", "license.pdf": "application/pdf"}
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
                 session_factory: sessionmaker[Session]) -> None:
        self.store, self._types, self._keyring, self._factory = store, types, keyring, session_factory

    def render(self, row: License) -> dict[str, bytes]:
        """Render every artifact of a license: QR images, and the PDF signed as PAdES."""
        png, svg = qrimage.render(row.qr_text)
        return {"qr.png": png, "qr.svg": svg, "license.pdf": self._pdf(row)}

    def _pdf(self, row: License) -> bytes:
        license_type = self._types[row.type_code]
        with self._factory() as session:
            department = get_department(session, row.issuer_department_id)
            key, cert_der, chain = self._keyring.document_signer(session, department.id)
        fields = tuple((f.label, f.label_en, _display(row.data.get(f.name), f.type))
                       for f in license_type.fields if f.name in row.data)
        pdf = render_license_pdf(LicensePdf(
            identifier=row.identifier, type_code=row.type_code, type_name=license_type.name,
            type_name_en=license_type.name_en, holder_label=HOLDER_LABELS[row.holder_id_type],
            holder_id=row.holder_id, holder_name=row.holder_name, fields=fields, issuer_name=department.name,
            issuer_code=department.code, issued_on=row.issued_at.astimezone(CHINA_STANDARD_TIME).date(),
            valid_from=row.valid_from, valid_until=row.valid_until, version=row.version, qr_text=row.qr_text))
        return sign_pdf(pdf, private_key=key, certificate_der=cert_der, chain_der=chain,
                        reason=f"签发{license_type.name} Issued {license_type.name_en}", location=department.name,
                        signer_name=department.name)

    def store_all(self, row: License) -> dict[str, bytes]:
        """Render and store every artifact of a committed license."""
        artifacts = self.render(row)
        for name, data in artifacts.items():
            self.store.put(object_key(row.identifier, name), data, content_type=CONTENT_TYPES[name])
        return artifacts

    def get(self, row: License, name: str) -> bytes:
        """Return one stored artifact, rendering (and storing) them if it is missing."""
        try:
            return self.store.get(object_key(row.identifier, name))
        except ObjectNotFound:
            log.info("rendering missing artifacts of %s", row.identifier)
            return self.store_all(row)[name]

    def after_commit(self, row: License) -> Callable[[], None]:
        """Return a callback that stores the artifacts once the license is committed, logging failures."""

        def run() -> None:
            try:
                self.store_all(row)
            except Exception:  # noqa: BLE001 - the license stands; its artifacts render again on request
                log.exception("could not store the artifacts of %s; they will render on request", row.identifier)

        return run
