"""A strict reader for the CBOR subset the QR format uses (RFC 8949).

Not cbor2.loads: it interprets semantic tags (bigfloats, MIME...) in untrusted input and can then
raise almost any exception. This reader accepts only what the format uses and raises only
QRFormatError.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import cbor2

from license_verifier.errors import QRFormatError

MAX_DEPTH = 8


class CBORReader:
    """Decode one definite-length CBOR item (RFC 8949) with no tags but the expected one."""

    # Not cbor2.loads: it interprets semantic tags (bigfloats, MIME...) in untrusted input and can
    # then raise almost any exception. This reader accepts only what the format uses.

    def __init__(self, data: bytes, *, tag: int | None = None) -> None:
        self._data, self._pos, self._tag = data, 0, tag

    def read(self) -> Any:
        item = self._item(0)
        if self._pos != len(self._data):
            raise QRFormatError("bad_cbor", "trailing bytes after the CBOR item")
        return item

    def _take(self, count: int) -> bytes:
        start, self._pos = self._pos, self._pos + count
        if self._pos > len(self._data):
            raise QRFormatError("bad_cbor", "truncated CBOR")
        return self._data[start:self._pos]

    def _head(self) -> tuple[int, int, int]:
        initial = self._take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if info < 24:
            return major, info, info
        if info > 27:  # RFC 8949 §3.2: indefinite lengths and reserved values are not accepted
            raise QRFormatError("bad_cbor", "indefinite length or reserved additional information")
        return major, info, int.from_bytes(self._take(1 << (info - 24)), "big")

    def _item(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise QRFormatError("bad_cbor", "nested too deeply")
        major, info, arg = self._head()
        if major < 2:
            return arg if major == 0 else -1 - arg
        if major == 2:
            return self._take(arg)
        if major == 3:
            try:
                return self._take(arg).decode("utf-8")
            except UnicodeDecodeError:  # RFC 8949 §3.1: major type 3 is UTF-8
                raise QRFormatError("bad_cbor", "text string is not UTF-8") from None
        if major == 4:
            return [self._item(depth + 1) for _ in range(arg)]
        if major == 5:
            return self._map(arg, depth)
        if major == 6:
            if depth > 0 or arg != self._tag:
                raise QRFormatError("bad_cbor", f"unexpected tag {arg}")
            return cbor2.CBORTag(arg, self._item(depth + 1))
        return _simple(info, arg)

    def _map(self, count: int, depth: int) -> dict:
        result: dict = {}
        for _ in range(count):
            key = self._item(depth + 1)
            # RFC 8949 §5.6 and RFC 9052 §3: duplicate keys make the map invalid.
            if type(key) not in (int, str) or key in result:
                raise QRFormatError("bad_cbor", "map keys must be unique integers or strings")
            result[key] = self._item(depth + 1)
        return result


_SIMPLE_VALUES = {20: False, 21: True, 22: None}
_FLOAT_FORMATS = {25: ">e", 26: ">f", 27: ">d"}


def _simple(info: int, arg: int) -> Any:
    """Return false/true/null or a finite float (RFC 8949 §3.3); reject other simple values."""
    if info in _SIMPLE_VALUES:
        return _SIMPLE_VALUES[info]
    fmt = _FLOAT_FORMATS.get(info)
    value = struct.unpack(fmt, arg.to_bytes(1 << (info - 24), "big"))[0] if fmt else math.nan
    if not math.isfinite(value):
        raise QRFormatError("bad_cbor", "only false, true, null and finite floats are accepted")
    return value
