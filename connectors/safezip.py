"""Open a zip archive (an XLSX workbook) only after its directory passes the caps; inflate entries counted.

Checked before anything is inflated: the directory's size and entry count (read from the end record, before
`zipfile` builds one object per entry), each entry's compression method, declared uncompressed size and
ratio, the sum of the declared sizes, and that no two entries share bytes (a non-recursive zip bomb points
many entries at one deflated kernel). Checked while inflating: the bytes actually produced, per entry and in
total. `zipfile` itself stops an entry at its declared size and then fails its CRC, so an entry that lies
about its size is cut off there and refused as damaged.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO

from connectors.base import ImportFormatError
from connectors.limits import MiB, Limits, too_large

CHUNK = 64 * 1024  # inflate in pieces well under Limits.xml_token_bytes, so a token never hides inside one
_END = struct.Struct("<4s4H2LH")  # end of central directory record
_END64_LOCATOR = struct.Struct("<4sLQL")
_END64 = struct.Struct("<4sQ2H2L4Q")
_LOCAL_HEADER = 30
NOT_A_WORKBOOK = "the file is not an XLSX workbook"


class GuardedZip:
    """A zip archive whose directory passed the caps; `chunks(name)` inflates one entry, counted."""

    def __init__(self, stream: IO[bytes], limits: Limits) -> None:
        self.limits = limits
        self.inflated = 0
        _check_end_record(stream, limits)
        try:
            self.zip = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error):
            raise ImportFormatError(NOT_A_WORKBOOK) from None
        try:
            self.entries = _check_entries(self.zip.infolist(), self.zip.start_dir, limits)
        except BaseException:
            self.zip.close()
            raise

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def chunks(self, name: str, *, first: int | None = None) -> Iterator[bytes]:
        """Inflate one entry in pieces (only its first `first` bytes when given), counting what comes out."""
        info = self.entries.get(name)
        if info is None:
            raise ImportFormatError(f"the workbook has no part {name}")
        produced = 0
        try:
            with self.zip.open(info) as member:
                while chunk := member.read(CHUNK):
                    produced += len(chunk)
                    self.inflated += len(chunk)
                    self._check_produced(name, produced, info.file_size)
                    yield chunk
                    if first is not None and produced >= first:
                        return
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise ImportFormatError(f"{name} is damaged or is not the size its zip entry declares ({exc})") from None

    def _check_produced(self, name: str, produced: int, declared: int) -> None:
        limits = self.limits
        if produced > limits.part_bytes:
            raise too_large("part_bytes", limits.part_bytes, f"{name} expands past {produced:,} bytes")
        if produced > declared:
            raise ImportFormatError(f"{name} expands past the {declared:,} bytes its zip entry declares")
        if self.inflated > limits.total_bytes:
            raise too_large("total_bytes", limits.total_bytes,
                            f"the workbook's parts expand past {self.inflated:,} bytes in total")

    def close(self) -> None:
        self.zip.close()


def _check_end_record(stream: IO[bytes], limits: Limits) -> None:
    """Read the entry count and directory size from the end record, before zipfile reads the directory."""
    try:
        stream.seek(0, 2)
        size = stream.tell()
        tail_size = min(size, _END.size + 0xFFFF)
        stream.seek(size - tail_size)
        tail = stream.read(tail_size)
    except (OSError, AttributeError, ValueError):
        raise ImportFormatError("an XLSX workbook must be sent as a whole file") from None
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _END.size:
        raise ImportFormatError(NOT_A_WORKBOOK)
    _, _, _, _, entries, directory, start, _ = _END.unpack_from(tail, at)
    if entries == 0xFFFF or directory == 0xFFFFFFFF or start == 0xFFFFFFFF:
        entries, directory = _zip64_end(stream, size - tail_size + at)
    if entries > limits.zip_entries:
        raise too_large("zip_entries", limits.zip_entries, f"the zip directory lists {entries:,} entries")
    if directory > limits.zip_directory_bytes:
        raise too_large("zip_directory_bytes", limits.zip_directory_bytes,
                        f"the zip directory takes {directory:,} bytes")
    stream.seek(0)


def _zip64_end(stream: IO[bytes], end_at: int) -> tuple[int, int]:
    if end_at < _END64_LOCATOR.size:
        raise ImportFormatError(NOT_A_WORKBOOK)
    stream.seek(end_at - _END64_LOCATOR.size)
    signature, _, offset, _ = _END64_LOCATOR.unpack(stream.read(_END64_LOCATOR.size))
    if signature != b"PK\x06\x07":
        raise ImportFormatError(NOT_A_WORKBOOK)
    stream.seek(offset)
    record = stream.read(_END64.size)
    if len(record) < _END64.size or record[:4] != b"PK\x06\x06":
        raise ImportFormatError(NOT_A_WORKBOOK)
    *_, entries, directory, _ = _END64.unpack(record)
    return entries, directory


def _check_entries(infos: list[zipfile.ZipInfo], start_dir: int, limits: Limits) -> dict[str, zipfile.ZipInfo]:
    """Refuse what no workbook needs and every way a small archive expands to a large one."""
    if len(infos) > limits.zip_entries:
        raise too_large("zip_entries", limits.zip_entries, f"the zip directory lists {len(infos):,} entries")
    entries: dict[str, zipfile.ZipInfo] = {}
    declared = 0
    for info in infos:
        if info.filename in entries:
            raise ImportFormatError(f"the zip directory lists {info.filename} twice")
        entries[info.filename] = info
        _check_entry(info, limits)
        declared += info.file_size
        if declared > limits.total_bytes:
            raise too_large("total_bytes", limits.total_bytes,
                            f"the workbook's parts declare {declared:,} bytes in total")
    _check_overlaps(infos, start_dir)
    return entries


def _check_entry(info: zipfile.ZipInfo, limits: Limits) -> None:
    name = info.filename
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ImportFormatError(f"{name} uses zip compression method {info.compress_type}; "
                                "a workbook uses only deflate or none")
    if info.flag_bits & 0x1:
        raise ImportFormatError(f"{name} is encrypted")
    if info.file_size > limits.part_bytes:
        raise too_large("part_bytes", limits.part_bytes, f"{name} declares {info.file_size:,} bytes once expanded")
    if info.file_size > MiB and info.file_size > limits.ratio * max(info.compress_size, 1):
        raise too_large("ratio", limits.ratio, f"{name} expands {info.file_size // max(info.compress_size, 1):,} "
                        "times its compressed size")


def _check_overlaps(infos: list[zipfile.ZipInfo], start_dir: int) -> None:
    """Refuse entries whose bytes run into the next entry (or into the directory)."""
    ordered = sorted(infos, key=lambda info: info.header_offset)
    for info, following in zip(ordered, [*ordered[1:], None]):
        name_size = len(info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437", "replace"))
        end = info.header_offset + _LOCAL_HEADER + name_size + info.compress_size
        limit = following.header_offset if following is not None else start_dir
        if end > limit:
            other = following.filename if following is not None else "the zip directory"
            raise ImportFormatError(f"the zip entries {info.filename} and {other} overlap: not a workbook "
                                    "but a zip bomb")
