"""How far an import file may expand: the caps every reader enforces, and the error that names the one hit.

A file is judged by what it expands to, not by its size on the wire: a 1 MB XLSX can hold a gigabyte of
shared strings. Every cap is checked before the bytes are produced where the file declares them (a zip
entry's sizes) and again while they are produced (an entry that lies about its size is cut off). A file
past any cap is refused whole with `ImportTooLarge`; nothing is written.

What one import holds in memory at most, with these defaults (the rest goes to temporary files):
the shared-strings spool (16 MiB) and their offsets (4 bytes each, at most 16 MiB), one XML token (1 MiB),
the kept cells of one row (at most 201 × 32,767 characters), one batch of records (16 MiB) and its copy for
the database driver: about 100 MiB, under the 200 MB the memory test holds the hub to.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import ImportTooLarge

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what an import file may expand to (the defaults suit the hub; tests may lower them)."""

    rows: int = 5_000_000  # data rows of a CSV or JSON Lines file
    sheet_rows: int = 1_048_576  # the last row a worksheet can have (Excel's own limit)
    columns: int = 1_024  # header columns, and the last column a worksheet cell with a value may sit in
    cell_chars: int = 32_767  # characters in one cell (Excel's own limit)
    line_bytes: int = 1 * MiB  # one physical line of a CSV or JSON Lines file
    records_bytes: int = 1 * GiB  # the JSON of all records a file expands to (kept in a temporary file)
    batch_bytes: int = 16 * MiB  # records held in memory before they are spooled (not a cap: a flush point)
    zip_entries: int = 1_000  # entries in a workbook's zip directory
    zip_directory_bytes: int = 1 * MiB  # the zip central directory itself
    part_bytes: int = 512 * MiB  # one zip entry, uncompressed: declared, and counted while inflating
    total_bytes: int = 1 * GiB  # all zip entries together, uncompressed: declared, and counted while inflating
    ratio: int = 200  # uncompressed / compressed size of one entry over 1 MiB
    shared_strings: int = 4_000_000  # entries of the shared-strings table
    styles: int = 65_536  # cell formats (Excel allows about 64,000)
    xml_token_bytes: int = 1 * MiB  # bytes between two '>' of an XML part: one tag, or one run of text
    xml_depth: int = 64  # element nesting
    xml_names: int = 2_000  # distinct element, attribute and namespace names in one XML part


DEFAULT = Limits()


def too_large(limit: str, maximum: int, what: str) -> ImportTooLarge:
    """Build the error for one cap: `what` says what was found, the message adds the cap."""
    return ImportTooLarge(f"{what}; the limit is {maximum:,}", limit=limit, maximum=maximum)
