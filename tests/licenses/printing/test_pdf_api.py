"""GET /licenses/{id}/pdf: a PAdES-signed PDF trusted by the hub root, readable, stored; on both backend pairs."""

from __future__ import annotations

import io

import pypdfium2
import zxingcpp
from PIL import Image
from sqlalchemy import select

from hub.licenses.printing.artifacts import object_key
from hub.trust.pades import validate_pdf
from hub.trust.tables import HubKey
from tests.conftest import bearer
from tests.support.licenses import business_license_request


def _root_der(hub) -> bytes:
    with hub.app.state.services.session_factory() as session:
        return session.scalar(select(HubKey.certificate_der).where(HubKey.purpose == "root"))


def _page_text_and_qr(pdf: bytes) -> tuple[str, list[str]]:
    document = pypdfium2.PdfDocument(io.BytesIO(pdf))
    page = document[0]
    text = page.get_textpage().get_text_range()
    image = page.render(scale=3).to_pil()
    return text, [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def test_issued_license_pdf_is_signed_stored_and_readable(hub, departments):
    headers = bearer(hub, departments["market"])
    issued = hub.client.post("/licenses", json=business_license_request(), headers=headers).json()
    response = hub.client.get(f"/licenses/{issued['id']}/pdf", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    status = validate_pdf(response.content, root_der=_root_der(hub))
    assert status.intact and status.valid and status.trusted, status.problem
    assert departments["market"]["name"] in status.signer_subject
    text, codes = _page_text_and_qr(response.content)
    assert issued["holder"]["name"] in text and issued["id"] in text.replace("\r\n", "").replace("\n", "")
    assert codes == [issued["qr"]]
    assert hub.app.state.services.store.exists(object_key(issued["id"], "license.pdf"))  # stored at issuance
    tampered = bytearray(response.content)
    tampered[len(tampered) // 3] ^= 0x01
    assert not validate_pdf(bytes(tampered), root_der=_root_der(hub)).intact


def test_pdf_follows_the_license_access_rules(hub, departments):
    headers = bearer(hub, departments["market"])
    issued = hub.client.post("/licenses", json=business_license_request(), headers=headers).json()
    assert hub.client.get(f"/licenses/{issued['id']}/pdf", headers=hub.operator_headers()).status_code == 200
    assert hub.client.get(f"/licenses/{issued['id']}/pdf", headers=bearer(hub, departments["civil"])).status_code == 404
    assert hub.client.get(f"/licenses/{issued['id']}/pdf").status_code == 401


def test_issuance_stores_the_signed_pdf_and_the_qr_images_on_first_request(hub, departments):
    headers = bearer(hub, departments["market"])
    issued = hub.client.post("/licenses", json=business_license_request(), headers=headers).json()
    store = hub.app.state.services.store
    assert store.exists(object_key(issued["id"], "license.pdf"))  # before the response
    assert not store.exists(object_key(issued["id"], "qr.png")) and not store.exists(object_key(issued["id"], "qr.svg"))
    png = hub.client.get(f"/licenses/{issued['id']}/qr.png", headers=headers)
    scanned = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)), formats=zxingcpp.BarcodeFormat.QRCode)
    assert png.status_code == 200 and [r.text for r in scanned] == [issued["qr"]]
    assert store.get(object_key(issued["id"], "qr.png")) == png.content and store.exists(object_key(issued["id"],
                                                                                                   "qr.svg"))
