"""The printable e-license: layout, font, QR code, seal, and its PAdES signature (no app needed)."""

from __future__ import annotations

import io
import math
import multiprocessing
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils.reader import PdfFileReader

from hub.core.national_ids import make_credit_code, make_resident_id
from hub.licenses.printing import fonts
from hub.licenses.printing.layout import LEFT, RIGHT
from hub.licenses.printing.pdf import LicensePdf, format_date_zh, render_license_pdf
from hub.licenses.printing.table import NO_LINE_START, _wrap
from hub.licenses.printing.rendering import RenderJob, RenderPool
from hub.licenses.types import load_license_types
from hub.trust.certs import make_issuer, make_root
from hub.trust.pades import PdfSigningError, sign_pdf, validate_pdf

NOW = datetime(2026, 11, 21, 2, 30, tzinfo=timezone.utc)
VECTORS = Path(__file__).resolve().parents[2] / "vectors"
SCHEMAS = Path(__file__).resolve().parents[3] / "schemas" / "license-types"
MARKET, CIVIL_AFFAIRS = ("11990100MB0000019L", "示例市市场监督管理局"), ("11990100MB0000027F", "示例市民政局")
DPI = 200
SCOPE = ("软件开发；信息技术咨询服务；信息系统集成服务；数据处理和存储支持服务；人工智能应用软件开发；网络与信息安全软件开发；"
         "互联网数据服务；计算机系统服务；物联网技术服务；技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广；"
         "电子产品销售；计算机软硬件及辅助设备零售；办公设备销售；广告设计、代理；会议及展览服务；Software development "
         "and IT consulting. （除依法须经批准的项目外，凭营业执照依法自主开展经营活动）")
ADDRESS = "示例市鼓楼区五四路100号福州国际金融中心写字楼第二十八层2801、2802、2803单元及第二十九层全层（自贸试验区内）"


def business_license(scope: str = SCOPE) -> LicensePdf:
    return LicensePdf(
        identifier="1.2.156.3005.2.11100000000013338W001.11990100MB0000019L.2026000006.001.K",
        type_code="11100000000013338W001", type_name="营业执照", type_name_en="Business license",
        holder_label="统一社会信用代码", holder_id=make_credit_code(12_340_000, region="990100"),
        holder_name="福州闽江数字科技有限公司",
        fields=(("法定代表人", "Legal representative", "林建华"), ("类型", "Enterprise type", "有限责任公司"),
                ("注册资本", "Registered capital", "500万元"),
                ("成立日期", "Date of establishment", format_date_zh(date(2015, 3, 15))),
                ("营业期限至", "Operating period ends (absent means no fixed term)", "长期"),
                ("住所", "Address", ADDRESS), ("经营范围", "Business scope", scope)),
        issuer_name=MARKET[1], issuer_code=MARKET[0], issued_on=date(2026, 11, 21), valid_from=date(2026, 11, 21),
        valid_until=None, version=1, qr_text=(VECTORS / "valid.txt").read_text().strip())


def marriage_certificate() -> LicensePdf:
    holder = make_resident_id("350102", date(1970, 1, 1), 10, "M")
    spouse = make_resident_id("350102", date(1972, 2, 2), 11, "F")
    return LicensePdf(
        identifier="1.2.156.3005.2.11100000MB90000150001.11990100MB0000027F.2026000012.001.7",
        type_code="11100000MB90000150001", type_name="结婚证", type_name_en="Marriage certificate",
        holder_label="公民身份号码", holder_id=holder, holder_name="林建华",
        fields=(("配偶姓名", "Spouse's name", "陈美玲"), ("配偶身份证件号", "Spouse's resident ID number", spouse),
                ("登记日期", "Date of registration", format_date_zh(date(2021, 1, 20))),
                ("登记机关", "Registry office", "示例市鼓楼区民政局婚姻登记处")),
        issuer_name=CIVIL_AFFAIRS[1], issuer_code=CIVIL_AFFAIRS[0], issued_on=date(2026, 11, 21),
        valid_from=date(2026, 11, 21), valid_until=date(2031, 11, 20), version=2,
        qr_text=(VECTORS / "valid_eddsa.txt").read_text().strip())


LICENSES = {"business": business_license, "marriage": marriage_certificate}


@pytest.fixture(scope="module")
def root():
    return make_root(NOW)


@pytest.fixture(scope="module")
def issuers(root):
    return {"business": make_issuer(root, code=MARKET[0], name=MARKET[1], alg="ES256", now=NOW),
            "marriage": make_issuer(root, code=CIVIL_AFFAIRS[0], name=CIVIL_AFFAIRS[1], alg="ES256", now=NOW)}


@pytest.fixture(scope="module")
def rendered():
    return {name: render_license_pdf(build()) for name, build in LICENSES.items()}


def sign(pdf: bytes, issuer, root) -> bytes:
    return sign_pdf(pdf, private_key=issuer.private_key, certificate_der=issuer.cert_der,
                    chain_der=[root.cert_der], reason="电子证照签发 E-license issuance", location="示例市",
                    signer_name=issuer.certificate.subject.rfc4514_string(), now=NOW)


def page_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    assert len(document) == 1
    return document[0].get_textpage().get_text_range()


def page_image(pdf: bytes):
    return pdfium.PdfDocument(pdf)[0].render(scale=DPI / 72).to_pil()


# --- signature ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LICENSES)
def test_signed_license_is_intact_and_trusted_by_the_root(name, rendered, issuers, root):
    status = validate_pdf(sign(rendered[name], issuers[name], root), root_der=root.cert_der, now=NOW)
    assert status.intact and status.valid and status.trusted and status.whole_document, status.problem
    assert issuers[name].certificate.subject.rfc4514_string().split(",")[0].removeprefix("CN=") in status.signer_subject
    assert status.signing_time == NOW


@pytest.mark.parametrize("name", LICENSES)
def test_one_flipped_byte_in_the_signed_range_breaks_the_signature(name, rendered, issuers, root):
    signed = sign(rendered[name], issuers[name], root)
    subject = LICENSES[name]().identifier.encode()
    offset = signed.index(subject) + len(subject) - 3  # the document information dictionary: still parses
    assert offset < len(rendered[name])  # inside the original revision, the first signed byte range
    tampered = bytearray(signed)
    tampered[offset] ^= 0x01
    status = validate_pdf(bytes(tampered), root_der=root.cert_der, now=NOW)
    assert not status.intact and not status.valid


def test_flipped_byte_in_the_page_content_breaks_the_signature(rendered, issuers, root):
    signed = bytearray(sign(rendered["business"], issuers["business"], root))
    signed[len(rendered["business"]) // 2] ^= 0x80
    status = validate_pdf(bytes(signed), root_der=root.cert_der, now=NOW)
    assert not status.intact and not status.valid


def test_license_signed_under_another_root_is_not_trusted(rendered, root):
    other_root = make_root(NOW, name="Another Root CA")
    impostor = make_issuer(other_root, code=MARKET[0], name=MARKET[1], alg="ES256", now=NOW)
    status = validate_pdf(sign(rendered["business"], impostor, other_root), root_der=root.cert_der, now=NOW)
    assert status.intact and not status.trusted


def test_signature_is_not_trusted_once_the_certificate_has_expired(rendered, issuers, root):
    signed = sign(rendered["business"], issuers["business"], root)
    assert not validate_pdf(signed, root_der=root.cert_der, now=NOW + timedelta(days=365 * 6)).trusted


def test_ed25519_issuer_signs_a_valid_pades_signature(rendered, root):
    issuer = make_issuer(root, code=MARKET[0], name=MARKET[1], alg="EdDSA", now=NOW)
    status = validate_pdf(sign(rendered["business"], issuer, root), root_der=root.cert_der, now=NOW)
    assert status.intact and status.valid and status.trusted


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_every_signature_of_a_key_is_valid_and_binds_its_own_document(alg, rendered, root):
    # The first signature of a key is pyHanko's own; later ones reuse its CMS parts with a new digest.
    issuer = make_issuer(root, code=CIVIL_AFFAIRS[0], name=CIVIL_AFFAIRS[1], alg=alg, now=NOW)
    signed = [sign(rendered[name], issuer, root) for name in ("business", "marriage", "business")]
    for pdf in signed:
        status = validate_pdf(pdf, root_der=root.cert_der, now=NOW)
        assert status.intact and status.valid and status.trusted and status.whole_document, status.problem
    contents = [PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0].signed_data for pdf in signed]
    assert contents[0]["certificates"].dump() == contents[2]["certificates"].dump()
    assert contents[0]["signer_infos"][0]["signature"].native != contents[2]["signer_infos"][0]["signature"].native
    (start, end), (other_start, other_end) = (_contents_span(signed[2]), _contents_span(signed[1]))
    swapped = signed[2][:start] + signed[1][other_start:other_end] + signed[2][end:]  # marriage's CMS, business
    assert end - start == other_end - other_start and not validate_pdf(swapped, root_der=root.cert_der, now=NOW).valid


def _contents_span(pdf: bytes) -> tuple[int, int]:
    start = pdf.index(b"/Contents <") + len(b"/Contents <")
    return start, pdf.index(b">", start)


def test_signing_refuses_other_key_types_and_foreign_certificates(rendered, issuers, root):
    with pytest.raises(PdfSigningError, match="P-256 or Ed25519"):
        sign_pdf(rendered["business"], private_key=ec.generate_private_key(ec.SECP384R1()),
                 certificate_der=issuers["business"].cert_der, chain_der=[], reason="r", location="l", signer_name="s")
    with pytest.raises(PdfSigningError, match="does not belong"):
        sign_pdf(rendered["business"], private_key=issuers["marriage"].private_key,
                 certificate_der=issuers["business"].cert_der, chain_der=[], reason="r", location="l", signer_name="s")


def test_signing_something_that_is_not_a_pdf_fails_clearly(issuers, root):
    with pytest.raises(PdfSigningError, match="cannot sign"):
        sign(b"not a pdf", issuers["business"], root)


@pytest.mark.parametrize("junk", [b"", b"not a pdf", b"%PDF-1.4\n%%EOF"], ids=["empty", "text", "stub"])
def test_broken_pdf_is_reported_not_raised(junk, root):
    status = validate_pdf(junk, root_der=root.cert_der)
    assert not status.intact and not status.valid and not status.trusted and status.problem


def test_unsigned_or_truncated_pdf_is_not_valid(rendered, issuers, root):
    assert not validate_pdf(rendered["business"], root_der=root.cert_der).valid
    signed = sign(rendered["business"], issuers["business"], root)
    assert not validate_pdf(signed[: len(signed) - 200], root_der=root.cert_der).valid


# --- page content ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LICENSES)
def test_qr_code_scans_from_the_rendered_page(name, rendered):
    doc = LICENSES[name]()
    found = zxingcpp.read_barcodes(page_image(rendered[name]), formats=zxingcpp.BarcodeFormat.QRCode)
    assert [r.text for r in found] == [doc.qr_text]
    corners = found[0].position
    width_mm = math.dist((corners.top_left.x, corners.top_left.y), (corners.top_right.x, corners.top_right.y))
    assert width_mm / DPI * 25.4 >= 35


def test_qr_code_is_vector_not_an_image(rendered):
    page = pdfium.PdfDocument(rendered["business"])[0]
    assert not list(page.get_objects(filter=[pdfium.raw.FPDF_PAGEOBJ_IMAGE]))


@pytest.mark.parametrize("name", LICENSES)
def test_page_text_carries_holder_issuer_and_identifier(name, rendered):
    doc, text = LICENSES[name](), page_text(rendered[name])
    for expected in (doc.holder_name, doc.holder_id, doc.issuer_name, doc.identifier, "扫码核验", "2026年11月21日"):
        assert expected in text
    assert ("长期" in text) == (doc.valid_until is None)


def test_cjk_font_is_embedded_as_a_subset(rendered):
    page = PdfFileReader(io.BytesIO(rendered["business"])).root["/Pages"]["/Kids"][0]
    fonts_used = [font.get_object() for font in page["/Resources"]["/Font"].values()]
    assert any("WenQuanYiMicroHei" in str(f["/BaseFont"]) for f in fonts_used)
    for font in fonts_used:  # every font: embedded, subset (ABCDEF+Name), and mapped back to Unicode
        assert "/FontFile2" in font["/FontDescriptor"], font["/BaseFont"]
        assert str(font["/BaseFont"])[7] == "+" and "/ToUnicode" in font


def test_long_values_wrap_inside_the_table(rendered):
    page = pdfium.PdfDocument(rendered["business"])[0]
    textpage = page.get_textpage()
    boxes = [textpage.get_charbox(i) for i in range(textpage.count_chars())]
    right_edges = [right for left, bottom, right, top in boxes if right > left]
    assert min(left for left, *_ in boxes) >= LEFT - 1
    assert max(right_edges) <= RIGHT + 6  # a full stop may hang past the cell's padding, as in print
    assert SCOPE[-20:] in textpage.get_text_range().replace("\r\n", "").replace("\n", "")


def test_a_business_scope_of_the_maximum_length_still_fits_one_page():
    scope = (SCOPE * 8)[:2000]
    text = page_text(render_license_pdf(business_license(scope))).replace("\r\n", "").replace("\n", "")
    assert scope[-30:] in text and "……" not in text


def test_every_license_type_renders_from_its_fields():
    for license_type in load_license_types(SCHEMAS).values():
        sample = {"string": "示例值", "date": format_date_zh(date(2026, 1, 2)), "integer": "55", "number": "89.5",
                  "boolean": "是"}
        person = license_type.holder == "resident_id"
        doc = LicensePdf(
            identifier=f"1.2.156.3005.2.{license_type.code}.{license_type.issuers[0]}.2026000001.001.0",
            type_code=license_type.code, type_name=license_type.name, type_name_en=license_type.name_en,
            holder_label="公民身份号码" if person else "统一社会信用代码",
            holder_id=make_resident_id("350102", date(1990, 5, 6), 7, "F") if person else make_credit_code(1),
            holder_name="张晓燕" if person else "示例市海峡物流有限公司",
            fields=tuple((f.label, f.label_en, sample[f.type]) for f in license_type.fields),
            issuer_name="示例市人力资源和社会保障局", issuer_code=license_type.issuers[0], issued_on=date(2026, 11, 21),
            valid_from=date(2026, 11, 21), valid_until=date(2027, 11, 20), version=1,
            qr_text=(VECTORS / "valid.txt").read_text().strip())
        text = page_text(render_license_pdf(doc))
        assert doc.holder_name in text and all(f.label in text for f in license_type.fields), license_type.code


def test_metadata_names_the_license_and_issuer(rendered):
    meta = pdfium.PdfDocument(rendered["business"]).get_metadata_dict()
    assert meta["Author"] == MARKET[1] and meta["Subject"] == business_license().identifier
    assert meta["Title"].startswith("营业执照") and meta["CreationDate"].startswith("D:20261121")


def test_rendering_is_deterministic():
    assert render_license_pdf(marriage_certificate()) == render_license_pdf(marriage_certificate())


def test_wrapping_keeps_punctuation_and_words_in_place():
    font = fonts.cjk_fonts().regular
    text = "技术服务、技术开发。" * 12 + " international consulting services " * 3
    lines = _wrap(text, font, 10, 120)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert not any(line[:1] in NO_LINE_START for line in lines)
    for line in lines:
        assert fonts.pdfmetrics.stringWidth(line.rstrip("".join(NO_LINE_START)), font, 10) <= 120
    words = {word for line in lines for word in line.split()}
    assert {"international", "consulting", "services"} <= words


def test_missing_font_names_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setenv(fonts.FONT_ENV, str(tmp_path / "none.ttc"))
    with pytest.raises(fonts.FontNotFoundError, match="fonts-wqy-microhei"):
        fonts.cjk_fonts()


def _render_job(issuer, root) -> RenderJob:
    pkcs8 = issuer.private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
    return RenderJob(page=business_license(), key_pkcs8=pkcs8, certificate_der=issuer.cert_der,
                     chain_der=(root.cert_der,), reason="签发营业执照", location="示例市", signer_name="示例市市场监督管理局")


def test_render_workers_sign_pdfs_and_a_killed_worker_is_replaced(issuers, root):
    job = _render_job(issuers["business"], root)
    pool, others = RenderPool(1), set(multiprocessing.active_children())  # others: the shared pool's
    try:
        pdfs = [pool.render(job)]
        (worker,) = set(multiprocessing.active_children()) - others
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(timeout=10)
        pdfs += [pool.render(job), pool.render(job)]  # rendered here, then by a new worker
        (replacement,) = set(multiprocessing.active_children()) - others
        assert replacement.name == "hub-render" and replacement.pid != worker.pid
    finally:
        pool.close()
    for pdf in pdfs:
        status = validate_pdf(pdf, root_der=root.cert_der)
        assert status.intact and status.valid and status.trusted, status.problem


class _DiesWhenUnpickled:
    """A page that makes the rendering worker exit as it receives the job, like a worker killed mid-job."""

    def __reduce__(self):
        return os._exit, (3,)


def test_callers_waiting_for_a_worker_that_dies_start_a_new_one(issuers, root):
    job = _render_job(issuers["business"], root)
    pool = RenderPool(1)
    try:
        with ThreadPoolExecutor(4) as callers:
            doomed = callers.submit(pool.render, replace(job, page=_DiesWhenUnpickled()))
            waiting = [callers.submit(pool.render, job) for _ in range(3)]  # they queue for the one worker
            pdfs = [future.result(timeout=120) for future in waiting]
            with pytest.raises(AttributeError):  # rendered here after the worker died: not a page
                doomed.result(timeout=120)
    finally:
        pool.close()
    for pdf in pdfs:
        assert validate_pdf(pdf, root_der=root.cert_der).intact
