"""The printable e-license: one A4 page drawn with reportlab, the same layout for every license type.

The page carries the type's name, a table of the license's fields in type order (Chinese labels,
English in small grey), the validity period, the QR code drawn as vector modules, the issuer's
name and date under its red seal, and the identifier. Long values wrap inside their cell; if the
table would run into the QR code, the tallest cells step down in size first. Output is
deterministic: the same license always gives the same bytes (reportlab's invariant mode, with the
document date set to the issue date).
"""

from __future__ import annotations

import functools
import io
import zlib
from dataclasses import dataclass
from datetime import date

from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfdoc
from reportlab.pdfgen.canvas import Canvas

from hub.licenses.printing.fonts import Fonts, KeptSubset, cjk_fonts
from hub.licenses.printing import qrencode
from hub.licenses.printing.qrimage import BORDER
from hub.licenses.printing.layout import (FOOTER_BASELINE, FRAME, GREY, INK, LEFT, PAGE_HEIGHT, PAGE_WIDTH, QR_BOTTOM,
                                          QR_SYMBOL, RIGHT, SEAL_RADIUS, SEAL_SUBTITLE)
from hub.licenses.printing.seal import draw_seal
from hub.licenses.printing.table import Row, draw_table

HOLDER_ID_EN = {"统一社会信用代码": "Unified social credit code", "公民身份号码": "Citizen ID number"}


@dataclass(frozen=True)
class LicensePdf:
    """What the printable license shows; values are display strings, already formatted."""

    identifier: str
    type_code: str
    type_name: str
    type_name_en: str
    holder_label: str  # "统一社会信用代码" or "公民身份号码"
    holder_id: str
    holder_name: str
    fields: tuple[tuple[str, str | None, str], ...]  # (Chinese label, English label or None, value), type order
    issuer_name: str
    issuer_code: str
    issued_on: date
    valid_from: date
    valid_until: date | None  # None: no expiry (长期)
    version: int
    qr_text: str


@dataclass(frozen=True)
class _TypeStyle:
    """What differs between license types: only wording."""

    holder_name: tuple[str, str]
    issuer: tuple[str, str] = ("发证机关", "Issuing authority")


_ENTERPRISE = _TypeStyle(holder_name=("名称", "Name"))
_PERSON = _TypeStyle(holder_name=("姓名", "Name"))
_TYPE_STYLES = {  # by license-type code (schemas/license-types/*.yaml)
    "11100000000013338W001": _TypeStyle(("名称", "Name"), ("登记机关", "Registration authority")),  # 营业执照
    "11100000MB90000150001": _TypeStyle(("持证人", "Holder"), ("登记机关", "Registration authority")),  # 结婚证
    "11100000MB9000023T001": _TypeStyle(("权利人", "Right holder"), ("登记机构", "Registration authority")),  # 不动产权证书
}


def format_date_zh(day: date) -> str:
    """Format a date the Chinese way: 2026年11月21日."""
    return f"{day.year}年{day.month}月{day.day}日"


def render_license_pdf(doc: LicensePdf) -> bytes:
    """Render a license as a one-page A4 PDF with an embedded font subset."""
    fonts = _setup()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1, lang="zh-CN",
                    initialFontName=fonts.regular)  # otherwise an unembedded Helvetica is listed too
    _metadata(canvas, doc)
    _frame(canvas)
    _title(canvas, doc, fonts)
    draw_table(canvas, _rows(doc), fonts)
    _qr(canvas, doc.qr_text, fonts)
    _issuer(canvas, doc, fonts)
    _footer(canvas, doc, fonts)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


class _FastFlate(pdfdoc.PDFStreamFilterZCompress):
    """Flate at zlib level 1: glyph outlines hardly compress better at level 6 (+5% size), at 3x the time."""

    def encode(self, text):
        if isinstance(text, KeptSubset):  # a subset of fixed wording: compressed once for every page
            return text.flate()
        return zlib.compress(text.encode("utf8") if isinstance(text, str) else text, 1)


def warm_up() -> None:
    """Register the fonts and reportlab settings now (~0.1 s) rather than in the first license's render."""
    _setup()


@functools.cache
def _setup() -> Fonts:
    # Process-wide reportlab settings (the hub makes no other PDFs). ASCII85 on the page stream only
    # keeps a PDF 7-bit clean, for ~1 ms of a render; the font subsets' Flate was ~3 ms of it.
    rl_config.useA85 = 0
    pdfdoc.PDFZCompress = _FastFlate()  # looked up by name at each use, in pdfdoc and ttfonts
    return cjk_fonts()


def _metadata(canvas: Canvas, doc: LicensePdf) -> None:
    canvas.setTitle(f"{doc.type_name} {doc.holder_name}")
    canvas.setAuthor(doc.issuer_name)
    canvas.setSubject(doc.identifier)
    canvas.setKeywords([doc.type_code, doc.type_name_en])
    canvas.setCreator("政务数据共享与电子证照交换枢纽 hub")
    issued = doc.issued_on  # invariant mode would otherwise stamp 2000-01-01
    canvas.setDateFormatter(lambda *_: f"D:{issued:%Y%m%d}000000+08'00'")


def _frame(canvas: Canvas) -> None:
    """A double rule with small squares in the corners."""
    canvas.saveState()
    canvas.setStrokeColorRGB(*FRAME)
    canvas.setFillColorRGB(*FRAME)
    for inset, width in ((12 * mm, 1.6), (14 * mm, 0.5)):
        canvas.setLineWidth(width)
        canvas.rect(inset, inset, PAGE_WIDTH - 2 * inset, PAGE_HEIGHT - 2 * inset)
    side = 3 * mm
    for x in (14 * mm, PAGE_WIDTH - 14 * mm - side):
        for y in (14 * mm, PAGE_HEIGHT - 14 * mm - side):
            canvas.rect(x, y, side, side, stroke=0, fill=1)
    canvas.restoreState()


def _title(canvas: Canvas, doc: LicensePdf, fonts: Fonts) -> None:
    name = doc.type_name
    spacing = 0.6 if len(name) <= 4 else 0.25 if len(name) <= 6 else 0.0  # 营 业 执 照, as printed
    size = min(30.0, (RIGHT - LEFT) / (len(name) * (1 + spacing)))
    width = canvas.stringWidth(name, fonts.regular, size) + size * spacing * (len(name) - 1)
    baseline = PAGE_HEIGHT - 36 * mm
    canvas.saveState()  # character spacing is graphics state: keep it to the title
    text = canvas.beginText((PAGE_WIDTH - width) / 2, baseline)
    text.setFont(fonts.regular, size)
    text.setCharSpace(size * spacing)
    text.setFillColorRGB(*INK)
    text.textOut(name)
    canvas.drawText(text)
    canvas.restoreState()
    canvas.setFont(fonts.regular, 12)
    canvas.setFillColorRGB(*GREY)
    canvas.drawCentredString(PAGE_WIDTH / 2, baseline - 19, doc.type_name_en)


def _rows(doc: LicensePdf) -> list[Row]:
    style = _style(doc)
    until = format_date_zh(doc.valid_until) if doc.valid_until else "长期"
    until_en = f"to {doc.valid_until.isoformat()}" if doc.valid_until else "no expiry"
    return [
        Row(*style.holder_name, doc.holder_name),
        Row(doc.holder_label, HOLDER_ID_EN.get(doc.holder_label), doc.holder_id),
        *(Row(label, label_en, value) for label, label_en, value in doc.fields),
        Row("有效期限", "Period of validity", f"自 {format_date_zh(doc.valid_from)} 至 {until}",
             f"From {doc.valid_from.isoformat()} {until_en}"),
    ]


def _style(doc: LicensePdf) -> _TypeStyle:
    default = _ENTERPRISE if doc.holder_label == "统一社会信用代码" else _PERSON
    return _TYPE_STYLES.get(doc.type_code, default)


def _qr(canvas: Canvas, qr_text: str, fonts: Fonts) -> None:
    """Draw the QR code as one filled path of dark runs (vector, no raster image), with its caption."""
    symbol = qrencode.encode(qr_text)
    module = QR_SYMBOL / symbol.size
    size = module * (symbol.size + 2 * BORDER)  # with its quiet zone
    x, y = LEFT, QR_BOTTOM
    canvas.saveState()
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.translate(x, y + size)
    canvas.scale(module, -module)  # module units, rows downwards: every edge falls on an integer
    canvas.setFillColorRGB(0, 0, 0)
    # One path, filled once: adjacent runs merge without anti-aliasing seams. Written as literal
    # operators because reportlab's float formatting of ~900 rectangles would double the render time.
    canvas.addLiteral(" ".join(f"{x} {y} {length} 1 re" for y, x, length in symbol.dark_runs(BORDER)) + " f")
    canvas.restoreState()
    canvas.setFont(fonts.regular, 9)
    canvas.setFillColorRGB(*INK)
    canvas.drawCentredString(x + size / 2, y - 2.5 * mm, "扫码核验 Scan to verify")


def _issuer(canvas: Canvas, doc: LicensePdf, fonts: Fonts) -> None:
    """The issuer's name and the issue date, with the seal stamped over them as on paper."""
    label, label_en = _style(doc).issuer
    centre_x, centre_y = RIGHT - 38 * mm, QR_BOTTOM + QR_SYMBOL / 2
    name_size = min(12.0, 70 * mm / max(len(doc.issuer_name), 1))
    canvas.setFillColorRGB(*GREY)
    canvas.setFont(fonts.regular, 8)
    canvas.drawCentredString(centre_x, centre_y + SEAL_RADIUS + 2.5 * mm, f"{label} {label_en}")
    canvas.setFillColorRGB(*INK)
    canvas.setFont(fonts.regular, name_size)
    canvas.drawCentredString(centre_x, centre_y + 2 * mm, doc.issuer_name)
    canvas.setFont(fonts.regular, 11)
    canvas.drawCentredString(centre_x, centre_y - 6 * mm, format_date_zh(doc.issued_on))
    draw_seal(canvas, centre_x + 3 * mm, centre_y - 1 * mm, SEAL_RADIUS, doc.issuer_name, SEAL_SUBTITLE)


def _footer(canvas: Canvas, doc: LicensePdf, fonts: Fonts) -> None:
    label = "证照标识 Identifier"
    version = f"第{doc.version}版 Version {doc.version}"
    canvas.setFillColorRGB(*GREY)
    canvas.setFont(fonts.regular, 7)
    baseline = FOOTER_BASELINE
    canvas.drawString(LEFT, baseline, label)
    canvas.drawRightString(RIGHT, baseline, version)
    start = LEFT + canvas.stringWidth(label, fonts.regular, 7) + 2 * mm
    room = RIGHT - canvas.stringWidth(version, fonts.regular, 7) - 3 * mm - start
    size = min(7.5, room / max(canvas.stringWidth(doc.identifier, fonts.mono, 1.0), 1.0))
    canvas.setFillColorRGB(*INK)
    canvas.setFont(fonts.mono, size)
    canvas.drawString(start, baseline, doc.identifier)
    canvas.setFillColorRGB(*GREY)
    canvas.setFont(fonts.regular, 6.5)
    canvas.drawCentredString(PAGE_WIDTH / 2, baseline + 4.5 * mm,
                             "本电子证照由发证机关加盖电子签名，可扫码或在 PDF 阅读器中核验。"
                             "This e-license is digitally signed by its issuer.")
