"""A strict reader for the CBOR subset the QR format uses (RFC 8949).

Not cbor2.loads: it interprets semantic tags (bigfloats, MIME...) in untrusted input and can then
raise almost any exception. This reader accepts only what the format uses and raises only
QRFormatError. It reads item heads straight from the bytes, passing the position along, because it
runs on every verification.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import cbor2

from license_verifier.errors import QRFormatError

MAX_DEPTH = 8
_SIMPLE_VALUES = {20: False, 21: True, 22: None}
_FLOAT_FORMATS = {25: ">e", 26: ">f", 27: ">d"}


def _truncated() -> QRFormatError:
    return QRFormatError("bad_cbor", "truncated CBOR")


class CBORReader:
    """Decode one definite-length CBOR item (RFC 8949) with no tags but the expected one."""

    def __init__(self, data: bytes, *, tag: int | None = None) -> None:
        self._data, self._tag = data, tag

    def read(self) -> Any:
        item, end = self._item(0, 0)
        if end != len(self._data):
            raise QRFormatError("bad_cbor", "trailing bytes after the CBOR item")
        return item

    def _item(self, pos: int, depth: int) -> tuple[Any, int]:
        """Return the item starting at pos and the position after it."""
        if depth > MAX_DEPTH:
            raise QRFormatError("bad_cbor", "nested too deeply")
        data = self._data
        if pos >= len(data):
            raise _truncated()
        initial = data[pos]
        major, info, pos = initial >> 5, initial & 0x1F, pos + 1
        if info < 24:
            arg = info
        elif info < 28:
            end = pos + (1 << (info - 24))
            if end > len(data):
                raise _truncated()
            arg, pos = int.from_bytes(data[pos:end], "big"), end
        else:  # RFC 8949 §3.2: indefinite lengths and reserved values are not accepted
            raise QRFormatError("bad_cbor", "indefinite length or reserved additional information")
        if major == 0:
            return arg, pos
        if major == 1:
            return -1 - arg, pos
        if major < 4:
            end = pos + arg
            if end > len(data):
                raise _truncated()
            return (data[pos:end] if major == 2 else _text(data[pos:end])), end
        if major == 4:
            items = []
            for _ in range(arg):
                item, pos = self._item(pos, depth + 1)
                items.append(item)
            return items, pos
        if major == 5:
            return self._map(pos, arg, depth)
        if major == 6:
            if depth > 0 or arg != self._tag:
                raise QRFormatError("bad_cbor", f"unexpected tag {arg}")
            item, pos = self._item(pos, depth + 1)
            return cbor2.CBORTag(arg, item), pos
        return _simple(info, arg), pos

    def _map(self, pos: int, count: int, depth: int) -> tuple[dict, int]:
        result: dict = {}
        for _ in range(count):
            key, pos = self._item(pos, depth + 1)
            # RFC 8949 §5.6 and RFC 9052 §3: duplicate keys make the map invalid.
            if type(key) not in (int, str) or key in result:
                raise QRFormatError("bad_cbor", "map keys must be unique integers or strings")
            result[key], pos = self._item(pos, depth + 1)
        return result, pos


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # RFC 8949 §3.1: major type 3 is UTF-8
        raise QRFormatError("bad_cbor", "text string is not UTF-8") from None


def _simple(info: int, arg: int) -> Any:
    """Return false/true/null or a finite float (RFC 8949 §3.3); reject other simple values."""
    if info in _SIMPLE_VALUES:
        return _SIMPLE_VALUES[info]
    fmt = _FLOAT_FORMATS.get(info)
    value = struct.unpack(fmt, arg.to_bytes(1 << (info - 24), "big"))[0] if fmt else math.nan
    if not math.isfinite(value):
        raise QRFormatError("bad_cbor", "only false, true, null and finite floats are accepted")
    return value


def read_cbor(data: bytes, tag: int | None = None) -> Any:
    """Return the one item data holds (see CBORReader); raise QRFormatError when the profile refuses it."""
    return CBORReader(data, tag=tag).read()
