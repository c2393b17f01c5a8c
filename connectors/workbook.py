"""The parts of an XLSX workbook around its first sheet: where things are, the shared strings, the date styles.

Each part is read through `safexml` and keeps O(1) memory apart from the shared strings (spooled to a
temporary file) and the cell formats (one flag per date format, capped).
"""

from __future__ import annotations

import posixpath
import tempfile
from array import array
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.base import ImportFormatError
from connectors.limits import MiB, Limits, too_large
from connectors.safexml import read_part
from connectors.safezip import GuardedZip

MAIN = ("http://schemas.openxmlformats.org/spreadsheetml/2006/main", "http://purl.oclc.org/ooxml/spreadsheetml/main")
RELATIONSHIPS = ("http://schemas.openxmlformats.org/officeDocument/2006/relationships",
                 "http://purl.oclc.org/ooxml/officeDocument/relationships")
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"
# Number formats 14-22 and 45-47 are dates and times; 27-36 and 50-58 are the East Asian locales' date formats.
DATE_FORMATS = frozenset([*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)])


def by_name(methods: dict[str, Any]) -> dict[str, Any]:
    """Key element handlers by every spelling of their SpreadsheetML name (both namespaces, or none)."""
    return {f"{ns}}}{local}" if ns else local: method for local, method in methods.items() for ns in (*MAIN, "")}


_RELATIONSHIP = f"{PACKAGE}}}Relationship"
_REL_IDS = tuple(f"{ns}}}id" for ns in RELATIONSHIPS)


@dataclass(frozen=True, slots=True)
class Parts:
    """Where the first sheet, the shared strings and the styles are, and the workbook's date epoch."""

    sheet: str
    strings: str | None
    styles: str | None
    epoch: datetime

    def names(self) -> tuple[str, ...]:
        return tuple(name for name in (self.sheet, self.strings, self.styles) if name)


def locate(book: GuardedZip, limits: Limits) -> Parts:
    """Follow the package relationships to the workbook, and the workbook's to its first sheet."""
    main = _Relationships(lambda kind: kind.endswith("/officeDocument"))
    if "_rels/.rels" in book:
        read_part(book, "_rels/.rels", main, limits)
    workbook = main.target("") or "xl/workbook.xml"
    first = _Workbook()
    read_part(book, workbook, first, limits)
    if first.sheet_id is None:
        raise ImportFormatError("the workbook has no sheet")
    folder, base = posixpath.split(workbook)
    wanted = ("/worksheet", "/sharedStrings", "/styles")
    rels = _Relationships(lambda kind: kind.endswith(wanted), first.sheet_id)
    rels_name = posixpath.join(folder, "_rels", base + ".rels")
    if rels_name in book:
        read_part(book, rels_name, rels, limits)
    sheet = rels.target(folder, "/worksheet")
    if sheet is None or sheet not in book:
        raise ImportFormatError("the workbook's first sheet is not a worksheet in the file")
    from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH

    strings, styles = rels.target(folder, "/sharedStrings"), rels.target(folder, "/styles")
    return Parts(sheet, strings if strings in book else None, styles if styles in book else None,
                 MAC_EPOCH if first.date1904 else WINDOWS_EPOCH)


class _Relationships:
    """Keep the first relationship of each wanted type (a worksheet only with `wanted_id`), nothing else."""

    def __init__(self, wanted, wanted_id: str | None = None) -> None:
        self.wanted, self.wanted_id = wanted, wanted_id
        self.found: dict[str, str] = {}
        self.starts, self.ends = {_RELATIONSHIP: self._relationship}, {}

    def _relationship(self, attrs: dict[str, str]) -> None:
        kind = attrs.get("Type", "")
        if not self.wanted(kind):
            return
        key = kind.rsplit("/", 1)[-1]
        if key != "worksheet" or attrs.get("Id") == self.wanted_id:
            self.found.setdefault(key, attrs.get("Target", ""))

    def data(self, text: str) -> None:
        pass

    def target(self, folder: str, kind: str = "/officeDocument") -> str | None:
        """The part a wanted relationship points at, as a name inside the zip."""
        target = self.found.get(kind.lstrip("/"))
        if not target:
            return None
        if target.startswith("/"):
            return posixpath.normpath(target.lstrip("/"))
        return posixpath.normpath(posixpath.join(folder, target))


class _Workbook:
    """Keep the first sheet's relationship id and whether dates count from 1904."""

    def __init__(self) -> None:
        self.sheet_id: str | None = None
        self.date1904 = False
        self.starts, self.ends = by_name({"sheet": self._sheet, "workbookPr": self._properties}), {}

    def _sheet(self, attrs: dict[str, str]) -> None:
        if self.sheet_id is None:
            self.sheet_id = next((attrs[key] for key in _REL_IDS if key in attrs), None)

    def _properties(self, attrs: dict[str, str]) -> None:
        self.date1904 = attrs.get("date1904", "").lower() in ("1", "true")

    def data(self, text: str) -> None:
        pass


def date_styles(book: GuardedZip, name: str, limits: Limits) -> frozenset[int]:
    """The indices of the cell formats that show a number as a date or time."""
    reader = _Styles(limits)
    read_part(book, name, reader, limits)
    return frozenset(index for index, number_format in enumerate(reader.formats)
                     if number_format in DATE_FORMATS or reader.custom.get(number_format, False))


class _Styles:
    """Keep the number format of each cell format (`cellXfs`), and which custom number formats are dates."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.custom: dict[int, bool] = {}
        self.formats = array("I")
        self.inside: str | None = None
        self.starts = by_name({"numFmts": self._enter("numFmts"), "cellXfs": self._enter("cellXfs"),
                               "numFmt": self._number_format, "xf": self._cell_format})
        self.ends = by_name({"numFmts": self._leave, "cellXfs": self._leave})

    def _enter(self, section: str):
        def enter(attrs: dict[str, str]) -> None:
            self.inside = section
        return enter

    def _leave(self) -> None:
        self.inside = None

    def _number_format(self, attrs: dict[str, str]) -> None:
        if self.inside == "numFmts":
            from openpyxl.styles.numbers import is_date_format

            self._count(len(self.custom))
            self.custom[_number(attrs.get("numFmtId"))] = is_date_format(attrs.get("formatCode", ""))

    def _cell_format(self, attrs: dict[str, str]) -> None:
        if self.inside == "cellXfs":
            self._count(len(self.formats))
            self.formats.append(_number(attrs.get("numFmtId")))

    def data(self, text: str) -> None:
        pass

    def _count(self, count: int) -> None:
        if count >= self.limits.styles:
            raise too_large("styles", self.limits.styles, f"the workbook has over {self.limits.styles:,} cell formats")


def _number(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 10 else 0


class SharedStrings:
    """The shared-strings table: UTF-8 text in a spooled temporary file, and where each string starts."""

    def __init__(self, limits: Limits) -> None:
        self.text = tempfile.SpooledTemporaryFile(max_size=16 * MiB)
        self.offsets = array("I" if limits.part_bytes < 1 << 32 else "Q", [0])  # text never outgrows its XML
        self.limits = limits

    def add(self, value: str) -> None:
        """Append one string."""
        if len(self.offsets) > self.limits.shared_strings:
            raise too_large("shared_strings", self.limits.shared_strings,
                            f"the shared-strings table holds over {self.limits.shared_strings:,} strings")
        data = value.encode("utf-8", "surrogatepass")
        self.text.write(data)
        self.offsets.append(self.offsets[-1] + len(data))

    def get(self, index: int) -> str:
        """Return string `index` (0-based)."""
        if not 0 <= index < len(self.offsets) - 1:
            raise ImportFormatError(f"a cell refers to shared string {index}, but the workbook has "
                                    f"{len(self.offsets) - 1}")
        start = self.offsets[index]
        self.text.seek(start)
        return self.text.read(self.offsets[index + 1] - start).decode("utf-8", "surrogatepass")

    def close(self) -> None:
        """Delete the temporary file."""
        self.text.close()


def read_shared_strings(book: GuardedZip, name: str, strings: SharedStrings, limits: Limits) -> None:
    """Fill `strings` from the shared-strings part."""
    read_part(book, name, _StringsReader(strings, limits), limits)


class _StringsReader:
    """Read `<si>` entries (their `<t>` runs, leaving out phonetic `<rPh>` ones) into a SharedStrings."""

    def __init__(self, strings: SharedStrings, limits: Limits) -> None:
        self.strings, self.limit = strings, limits.cell_chars
        self.parts: list[str] = []
        self.length = 0
        self.collecting = False
        self.phonetic = 0
        self.starts = by_name({"si": self._item, "t": self._text, "rPh": self._phonetic})
        self.ends = by_name({"si": self._end_item, "t": self._end_text, "rPh": self._end_phonetic})

    def _item(self, attrs: dict[str, str]) -> None:
        self.parts, self.length = [], 0

    def _text(self, attrs: dict[str, str]) -> None:
        self.collecting = not self.phonetic

    def _phonetic(self, attrs: dict[str, str]) -> None:
        self.phonetic += 1

    def _end_text(self) -> None:
        self.collecting = False

    def _end_phonetic(self) -> None:
        self.phonetic -= 1

    def _end_item(self) -> None:
        self.strings.add("".join(self.parts))

    def data(self, text: str) -> None:
        if self.collecting:
            self.length += len(text)
            if self.length > self.limit:
                raise too_large("cell_chars", self.limit, f"a shared string holds more than {self.limit:,} characters")
            self.parts.append(text)
