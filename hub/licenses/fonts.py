"""The CJK font of the printable licenses, registered with reportlab once per process.

reportlab embeds a subset of each TrueType font it uses (only the glyphs on the page), with a
ToUnicode map so that text stays searchable and copyable. It cannot read CFF/PostScript-outline
fonts such as Noto CJK's .ttc, hence WenQuanYi Micro Hei (TrueType outlines, Debian
`fonts-wqy-microhei`), whose second face is a monospace variant used for identifiers.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont, TTFError

DEBIAN_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
FONT_ENV = "HUB_CJK_FONT"
REGULAR = "HubCJK"
MONO = "HubCJKMono"
FALLBACK_MONO = "Courier"  # a base-14 font: every reader has it, and identifiers are ASCII


class FontNotFoundError(RuntimeError):
    """The CJK font for printable licenses is missing or unreadable."""

    code = "cjk_font_missing"


@dataclass(frozen=True)
class Fonts:
    """reportlab font names to draw with."""

    regular: str
    mono: str
    path: str


def cjk_fonts() -> Fonts:
    """Return the registered CJK fonts, registering them on first use ($HUB_CJK_FONT or the Debian path)."""
    return _register(os.environ.get(FONT_ENV) or DEBIAN_FONT)


@functools.lru_cache(maxsize=None)
def _register(path: str) -> Fonts:
    if not Path(path).is_file():
        raise FontNotFoundError(
            f"CJK font not found at {path}: install the Debian package fonts-wqy-microhei "
            f"(apt-get install fonts-wqy-microhei) or point {FONT_ENV} at a TrueType .ttf/.ttc font"
        )
    try:
        regular = TTFont(REGULAR, path, subfontIndex=0)
        _keep_tables(regular.face)
        pdfmetrics.registerFont(regular)
    except (TTFError, OSError) as exc:
        raise FontNotFoundError(
            f"cannot use {path} as the CJK font ({exc}); reportlab needs TrueType outlines, "
            f"e.g. the Debian package fonts-wqy-microhei"
        ) from exc
    return Fonts(regular=REGULAR, mono=_register_mono(path), path=path)


def _register_mono(path: str) -> str:
    """Use the collection's monospace face when it has one (WenQuanYi does), else Courier."""
    if not path.lower().endswith(".ttc"):
        return FALLBACK_MONO
    try:
        face = TTFont(MONO, path, subfontIndex=1)
    except (TTFError, OSError, IndexError):
        return FALLBACK_MONO
    if b"mono" not in face.face.name.lower():
        return FALLBACK_MONO
    _keep_tables(face.face)
    pdfmetrics.registerFont(face)
    return MONO


def _keep_tables(face) -> None:
    """Keep each font table reportlab reads, instead of a fresh copy out of the file at every subset.

    Each embedded subset copies whole tables: glyf is 3.5 MB in WenQuanYi Micro Hei (~0.5 ms a copy) and
    a license embeds about three subsets. The tables are immutable bytes, so the same object serves again.
    """
    tables: dict[str, bytes] = {}
    read = face.get_table

    def get_table(tag: str) -> bytes:
        table = tables.get(tag)
        if table is None:
            table = tables[tag] = read(tag)
        return table

    face.get_table = get_table
