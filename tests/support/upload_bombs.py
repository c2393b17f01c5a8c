"""Write hostile upload files: XLSX zip and XML bombs, and CSV/JSON Lines files past the import caps.

Everything is generated on the fly (nothing is kept in the repository) and streamed to disk, so a file that
expands to gigabytes costs the test seconds, not memory.
"""

from __future__ import annotations

import atexit
import os
import shutil
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from hub.core.national_ids import make_resident_id

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
SHEET = "xl/worksheets/sheet1.xml"
STRINGS = "xl/sharedStrings.xml"
Part = bytes | Iterable[bytes]

CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    b'<Override PartName="/xl/worksheets/sheet1.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    b'<Override PartName="/xl/sharedStrings.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
ROOT_RELS = (f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL}">'
             f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/>'
             '</Relationships>').encode()
WORKBOOK = (f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{REL}">'
            '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>').encode()
WORKBOOK_RELS = (f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL}">'
                 f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
                 f'<Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
                 '</Relationships>').encode()
BILLION_LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (i, b"".join([b"&lol%s;" % (str(i - 1).encode()
                                                                                     if i > 1 else b"")] * 10))
                             for i in range(1, 10))
                  + b"]>\n")


def sheet_xml(rows: Iterable[Iterable[str]]) -> Iterator[bytes]:
    """Yield a worksheet whose cells are shared-string references or inline strings, row by row."""
    yield f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}"><sheetData>'.encode()
    for number, cells in enumerate(rows, start=1):
        yield (f'<row r="{number}">' + "".join(cells) + "</row>").encode()
    yield b"</sheetData></worksheet>"


def inline(text: str) -> str:
    return f'<c t="inlineStr"><is><t>{text}</t></is></c>'


def shared(index: int) -> str:
    return f'<c t="s"><v>{index}</v></c>'


def strings_xml(texts: Iterable[str], count: int | None = None) -> Iterator[bytes]:
    """Yield a shared-strings part holding `texts` in order."""
    yield f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}"{f" count={count!r}" if count else ""}>'.encode()
    chunk: list[str] = []
    for text in texts:
        chunk.append(f"<si><t>{text}</t></si>")
        if len(chunk) >= 4096:
            yield "".join(chunk).encode()
            chunk = []
    yield ("".join(chunk) + "</sst>").encode()


def write_xlsx(path: Path, sheet: Part, strings: Part | None = None, *, extra: dict[str, Part] | None = None,
               parts: dict[str, Part] | None = None) -> Path:
    """Write a workbook (the minimal parts unless `parts` replaces them), streaming each part through deflate."""
    members = parts if parts is not None else {
        "[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": ROOT_RELS, "xl/workbook.xml": WORKBOOK,
        "xl/_rels/workbook.xml.rels": WORKBOOK_RELS, SHEET: sheet, STRINGS: strings if strings is not None else
        strings_xml([])}
    members = members | (extra or {})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as book:
        for name, content in members.items():
            with book.open(name, "w", force_zip64=True) as out:
                for chunk in ([content] if isinstance(content, bytes) else content):
                    out.write(chunk)
    return path


def repeated(unit: bytes, total: int) -> Iterator[bytes]:
    """Yield `unit` repeated to about `total` bytes, in 1 MiB chunks."""
    block = unit * max(1, (1 << 20) // len(unit))
    for _ in range(max(1, total // len(block))):
        yield block


def shared_strings_bomb(path: Path, *, expanded: int = 1 << 30) -> Path:
    """About 1 MB on disk: a shared-strings part of ~`expanded` bytes of identical 1,000-character strings."""
    body = repeated(b"<si><t>" + b"A" * 1000 + b"</t></si>", expanded)
    head = f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}">'.encode()
    rows = [[inline("resident_id"), inline("name")], [inline("110105199001010010"), shared(0)]]
    return write_xlsx(path, sheet_xml(rows), _chain([head], body, [b"</sst>"]))


def many_shared_strings(path: Path, count: int) -> Path:
    """A shared-strings part of `count` distinct short strings (a small file, a large table)."""
    rows = [[inline("resident_id"), inline("name")], [inline("110105199001010010"), shared(count - 1)]]
    return write_xlsx(path, sheet_xml(rows), strings_xml(f"s{i}" for i in range(count)))


def huge_sheet(path: Path, *, expanded: int = 1 << 30) -> Path:
    """A sheet part that inflates to ~`expanded` bytes of rows under a valid header."""
    head = b"".join(sheet_xml([[inline("resident_id"), inline("name")]])).removesuffix(b"</sheetData></worksheet>")
    body = repeated(b'<row><c t="inlineStr"><is><t>110105199001010010</t></is></c></row>', expanded)
    return write_xlsx(path, _chain([head], body, [b"</sheetData></worksheet>"]))


def with_rows(path: Path, rows: list[list[str]], *, extra: dict[str, Part] | None = None) -> Path:
    """A workbook whose first sheet holds `rows` (cells as XML) under the header resident_id, name."""
    return write_xlsx(path, sheet_xml([[inline("resident_id"), inline("name")], *rows]), extra=extra)


def raw_sheet(path: Path, body: bytes) -> Path:
    """A workbook whose first sheet's sheetData holds `body` after the header row."""
    head = b"".join(sheet_xml([[inline("resident_id"), inline("name")]])).removesuffix(b"</sheetData></worksheet>")
    return write_xlsx(path, head + body + b"</sheetData></worksheet>")


def billion_laughs(path: Path) -> Path:
    """A sheet whose prolog declares nested entities that would expand to 3 GB of "lol"."""
    body = b"".join(sheet_xml([[inline("resident_id"), inline("name")], [inline("110105199001010010"),
                                                                          inline("&lol9;")]]))
    return write_xlsx(path, BILLION_LAUGHS + body.split(b"?>", 1)[1])


def dtd_elsewhere(path: Path) -> Path:
    """A valid sheet, and a DTD in a part the reader does not otherwise parse (docProps/app.xml)."""
    return with_rows(path, [[inline("110105199001010010"), inline("x")]],
                     extra={"docProps/app.xml": BILLION_LAUGHS + b"<Properties>&lol9;</Properties>"})


def bzip2_member(path: Path) -> Path:
    """A workbook whose sheet is compressed with bzip2 (a method no workbook uses; its ratio is unbounded)."""
    with_rows(path, [[inline("110105199001010010"), inline("x")]])
    with zipfile.ZipFile(path) as book:
        parts = {info.filename: book.read(info) for info in book.infolist()}
    with zipfile.ZipFile(path, "w") as book:
        for name, content in parts.items():
            book.writestr(name, content, zipfile.ZIP_BZIP2 if name == SHEET else zipfile.ZIP_DEFLATED)
    return path


def lie_about_size(path: Path, member: str, declared: int) -> Path:
    """Make the central directory (what readers trust) say `member` expands to `declared` bytes."""
    data = bytearray(path.read_bytes())
    name, at = member.encode(), 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        name_size, extra_size = struct.unpack_from("<HH", data, at + 28)
        if bytes(data[at + 46:at + 46 + name_size]) == name:
            if struct.unpack_from("<L", data, at + 24)[0] != 0xFFFFFFFF:
                struct.pack_into("<L", data, at + 24, declared)
            else:  # the size is in the ZIP64 extra field, whose first value it is
                extra = at + 46 + name_size
                while struct.unpack_from("<H", data, extra)[0] != 0x0001:
                    extra += 4 + struct.unpack_from("<H", data, extra + 2)[0]
                struct.pack_into("<Q", data, extra + 4, declared)
            path.write_bytes(bytes(data))
            return path
        at += 4
    raise ValueError(f"{member} is not in the central directory")


def overlapping_entries(path: Path, *, copies: int = 200, kernel: int = 50 << 20) -> Path:
    """A non-recursive bomb: many central directory entries that all point at one deflated kernel."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = b"A" * (1 << 20)
    payload = b"".join(compressor.compress(block) for _ in range(kernel >> 20)) + compressor.flush()
    crc = 0
    for _ in range(kernel >> 20):
        crc = zlib.crc32(block, crc)
    name = SHEET.encode()
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(payload), kernel, len(name), 0) + name
    central = b""
    for i in range(copies):
        alias = f"xl/worksheets/sheet{i + 1}.xml".encode()
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(payload), kernel,
                               len(alias), 0, 0, 0, 0, 0, 0) + alias
    body = local + payload
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, copies, copies, len(central), len(body), 0)
    path.write_bytes(body + central + end)
    return path


def many_entries(path: Path, count: int) -> Path:
    """A zip whose central directory lists `count` empty members beside a valid workbook."""
    rows = [[inline("resident_id")], [inline("110105199001010010")]]
    return write_xlsx(path, sheet_xml(rows), extra={f"junk/{i}.xml": b"" for i in range(count)})


def resident_ids(count: int) -> list[str]:
    """`count` distinct valid resident ids."""
    return [make_resident_id("110105", date(1950, 1, 1) + timedelta(days=i // 400), i % 400 + 1, "M")
            for i in range(count)]


def _chain(*parts: Iterable[bytes]) -> Iterator[bytes]:
    for part in parts:
        yield from part


# --- the catalogue: each file, and the problem the hub must answer with -----------------------------------

A = "110105199001010010"


@dataclass(frozen=True)
class Bomb:
    """A hostile file, how to make it, and the answer: status, problem code, and the cap (413) or words (422)."""

    name: str
    suffix: str
    build: Callable[[Path], Path]
    status: int
    code: str
    says: str  # the `limit` of a 413, a fragment of the detail of a 422


def _long_csv_line(path: Path) -> Path:
    path.write_bytes(b"resident_id,name\n" + A.encode() + b"," + b"x" * (2 << 20) + b"\n")
    return path


def _long_csv_cell(path: Path) -> Path:
    path.write_text(f"resident_id,name\n{A},{'名' * 40_000}\n", encoding="utf-8")
    return path


def _long_jsonl_line(path: Path) -> Path:
    path.write_text('{"resident_id": "%s", "name": "%s"}\n' % (A, "x" * (2 << 20)), encoding="utf-8")
    return path


def _references(path: Path) -> Path:
    """One 32,767-character shared string referenced 12,000 times: 1.2 GB of records from a small file."""
    return write_xlsx(path, sheet_xml([[inline("resident_id"), inline("name")],
                                       *([inline(A), shared(0)] for _ in range(12_000))]),
                      strings_xml(["名" * 32_767]))


def _tags(path: Path, body: bytes) -> Path:
    return raw_sheet(path, body)


CATALOGUE = [
    Bomb("shared_strings_1gb", "xlsx", shared_strings_bomb, 413, "import_too_large", "part_bytes"),
    Bomb("shared_strings_lying", "xlsx", lambda p: lie_about_size(shared_strings_bomb(p, expanded=300 << 20),
                                                                    STRINGS, 4 << 20),
         422, "import_format_invalid", "is not the size its zip entry declares"),
    Bomb("huge_sheet", "xlsx", lambda p: huge_sheet(p, expanded=600 << 20), 413, "import_too_large", "part_bytes"),
    Bomb("sheet_lying", "xlsx", lambda p: lie_about_size(huge_sheet(p, expanded=300 << 20), SHEET, 1 << 20),
         422, "import_format_invalid", "is not the size its zip entry declares"),
    Bomb("overlapping_10gb", "xlsx", overlapping_entries, 413, "import_too_large", "ratio"),
    Bomb("overlapping", "xlsx", lambda p: overlapping_entries(p, kernel=1 << 20), 422, "import_format_invalid",
         "overlap"),
    Bomb("many_entries", "xlsx", lambda p: many_entries(p, 5_000), 413, "import_too_large", "zip_entries"),
    Bomb("billion_laughs", "xlsx", billion_laughs, 422, "import_format_invalid", "DTD"),
    Bomb("dtd_in_another_part", "xlsx", dtd_elsewhere, 422, "import_format_invalid", "docProps/app.xml declares a DTD"),
    Bomb("bzip2", "xlsx", bzip2_member, 422, "import_format_invalid", "compression method 12"),
    Bomb("row_past_excel", "xlsx", lambda p: _tags(p, b'<row r="1048577">' + inline("1").encode() + b"</row>"),
         413, "import_too_large", "sheet_rows"),
    Bomb("column_1025", "xlsx", lambda p: _tags(p, b'<row r="2"><c r="AMK2" t="inlineStr"><is><t>x</t></is></c></row>'),
         413, "import_too_large", "columns"),
    Bomb("cell_40k", "xlsx", lambda p: with_rows(p, [[inline(A), inline("名" * 40_000)]]),
         413, "import_too_large", "cell_chars"),
    Bomb("tag_2mb", "xlsx", lambda p: _tags(p, b'<row r="2"><c r="A2" x="' + os.urandom(1 << 20).hex().encode() + b'"/></row>'),
         413, "import_too_large", "xml_token_bytes"),
    Bomb("nested_100", "xlsx", lambda p: _tags(p, b"<x>" * 100 + b"</x>" * 100), 413, "import_too_large",
         "xml_depth"),
    Bomb("names_3000", "xlsx", lambda p: _tags(p, b"".join(b"<n%d/>" % i for i in range(3000))),
         413, "import_too_large", "xml_names"),
    Bomb("references_1gb", "xlsx", _references, 413, "import_too_large", "records_bytes"),
    Bomb("csv_line_2mb", "csv", _long_csv_line, 413, "import_too_large", "line_bytes"),
    Bomb("csv_cell_40k", "csv", _long_csv_cell, 413, "import_too_large", "cell_chars"),
    Bomb("jsonl_line_2mb", "jsonl", _long_jsonl_line, 413, "import_too_large", "line_bytes"),
]


_built: dict[str, Path] = {}
_folder: list[Path] = []


def build(bomb: Bomb) -> Path:
    """Make a bomb once per test process (in a temporary folder removed at exit) and return its path."""
    if bomb.name not in _built:
        if not _folder:
            _folder.append(Path(tempfile.mkdtemp(prefix="hub-bombs-")))
            atexit.register(shutil.rmtree, _folder[0], True)
        _built[bomb.name] = bomb.build(_folder[0] / f"{bomb.name}.{bomb.suffix}")
    return _built[bomb.name]
