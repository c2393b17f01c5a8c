"""The CJK font of the printable licenses, registered with reportlab once per process.

reportlab embeds a subset of each TrueType font it uses (only the glyphs on the page), with a
ToUnicode map so that text stays searchable and copyable. It cannot read CFF/PostScript-outline
fonts such as Noto CJK's .ttc, hence WenQuanYi Micro Hei (TrueType outlines, Debian
`fonts-wqy-microhei`), whose second face is a monospace variant used for identifiers.

The regular face is registered twice. What a license type's page always says (its labels, the
issuer's name, the seal) is drawn with one registration, and its subset is the same from one
license to the next: that subset is built and compressed once, not for every page (~3 ms of a
~12 ms render). What each license says (its values) is drawn with the other, whose subset holds
only the characters of those values.
"""

from __future__ import annotations

import functools
import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont, TTFError

DEBIAN_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
FONT_ENV = "HUB_CJK_FONT"
REGULAR = "HubCJK"
VALUES = "HubCJKValues"
MONO = "HubCJKMono"
KEPT_SUBSETS = 64  # per face: a few per license type and issuer
FALLBACK_MONO = "Courier"  # a base-14 font: every reader has it, and identifiers are ASCII


class FontNotFoundError(RuntimeError):
    """The CJK font for printable licenses is missing or unreadable."""

    code = "cjk_font_missing"


@dataclass(frozen=True)
class Fonts:
    """reportlab font names to draw with."""

    regular: str  # fixed wording: its subset is kept from page to page
    values: str  # the license's own values (the same face, subset afresh for each page)
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
        _keep_subsets(regular.face)
        _keep_widths(regular)
        pdfmetrics.registerFont(regular)
        # Not asciiReadable: the values' subset holds only what they use, not all of ASCII first.
        values = TTFont(VALUES, path, subfontIndex=0, asciiReadable=False)
        _keep_tables(values.face)
        pdfmetrics.registerFont(values)
    except (TTFError, OSError) as exc:
        raise FontNotFoundError(
            f"cannot use {path} as the CJK font ({exc}); reportlab needs TrueType outlines, "
            f"e.g. the Debian package fonts-wqy-microhei"
        ) from exc
    return Fonts(regular=REGULAR, values=VALUES, mono=_register_mono(path), path=path)


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
    _keep_subsets(face.face)  # identifiers are ASCII: the same subset on every page
    _keep_widths(face)
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


class KeptSubset(bytes):
    """A font subset kept for the next page, with its Flate encoding once a page has needed it."""

    flated: bytes | None = None

    def flate(self) -> bytes:
        """Return the subset compressed (at level 9: it is compressed once and embedded many times)."""
        if self.flated is None:
            self.flated = zlib.compress(self, 9)
        return self.flated


class _Kept:
    """At most KEPT_SUBSETS values by key, the oldest dropped first; safe to share between threads
    (pages may render in several, see hub.licenses.printing.rendering)."""

    def __init__(self) -> None:
        self._values: dict = {}
        self._lock = threading.Lock()

    def get(self, key, make):
        """The value kept for key, made (outside the lock) and kept if there is none."""
        with self._lock:
            found = self._values.get(key)
        if found is not None:
            return found
        made = make()
        with self._lock:
            if len(self._values) >= KEPT_SUBSETS:
                self._values.pop(next(iter(self._values)))
            return self._values.setdefault(key, made)


def _keep_subsets(face) -> None:
    """Build each subset of this face once: the same glyph list gives the same (immutable) subset."""
    kept, make = _Kept(), face.makeSubset
    face.makeSubset = lambda subset: kept.get(tuple(subset), lambda: KeptSubset(make(subset)))


def _keep_widths(font: TTFont) -> None:
    """Write each kept subset's /Widths array once: formatting its ~200 numbers is ~0.5 ms a page.

    reportlab builds a font object per subset when the page is saved (addObjects); its Widths (a
    PDFArray of the subset's glyph widths) is swapped for the bytes that array formats to, which
    reportlab writes as they are.
    """
    written, add_objects = _Kept(), font.addObjects

    def add_objects_keeping_widths(doc) -> None:
        state = font.state.get(doc)
        names = [font.getSubsetInternalName(n, doc)[1:] for n in range(len(state.subsets))] if state else []
        add_objects(doc)
        for name in names:
            widths = doc.idToObject[name].Widths
            doc.idToObject[name].Widths = written.get(tuple(widths.sequence), lambda: widths.format(doc))

    font.addObjects = add_objects_keeping_widths
