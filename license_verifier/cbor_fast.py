"""A C-backed fast path for the CBOR profile of docs/qr-format.md, proven against the strict reader's rules.

cbor2's C decoder reads the bytes; the result is accepted only when it holds nothing but what the
profile allows (integers of at most 64 bits, finite floats, strings, false/true/null, arrays, maps with
integer or text keys, nesting of at most 8, the expected tag at the top and no other) and cbor2's
canonical encoding of it gives back the input byte for byte. The canonical encoder writes definite
lengths only, no tags for those types and no duplicate keys, so equal bytes prove the input held no
tag, no indefinite length, no duplicate key and nothing after the item: the strict reader
(``license_verifier.cbor``) would have returned the same value. Whatever is not proven so, canonical
input with a reserved tag or a hostile one included, goes to the strict reader, which gives the verdict.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Iterable
from typing import Any

import cbor2

from license_verifier.cbor import MAX_DEPTH, CBORReader

_LEAVES = frozenset((str, bytes, bool, type(None)))
_KEYS = frozenset((int, str))
_INT_RANGE = range(-(2**64), 2**64)  # RFC 8949 §3.1 major types 0 and 1; larger integers need a tag


def _plain(value: Any, depth: int) -> bool:
    """Tell whether value holds only what the profile allows, its items at most MAX_DEPTH deep."""
    kind = type(value)
    if kind in _LEAVES:
        return True
    if kind is int:
        return value in _INT_RANGE
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return _plain_items(value, depth + 1)
    if kind is dict:
        return _plain_items(value, depth + 1) and _plain_items(value.values(), depth + 1) and all(
            type(key) in _KEYS for key in value)
    return False


def _plain_items(items: Iterable[Any], depth: int) -> bool:
    """Tell whether every item at depth is plain; strings and small integers are checked inline."""
    for item in items:
        kind = type(item)
        if kind is str or kind is int and item in _INT_RANGE:
            if depth > MAX_DEPTH:
                return False
        elif depth > MAX_DEPTH or not _plain(item, depth):
            return False
    return True


def _plain_message(value: Any, tag: int | None) -> bool:
    """Tell whether value is plain, or the expected tag at the top around a plain value."""
    if type(value) is cbor2.CBORTag:
        return tag is not None and value.tag == tag and _plain(value.value, 1)
    return _plain(value, 0)


class CanonicalCBOR:
    """Reads profile CBOR with the C decoder when the input proves canonical, else with the strict reader.

    Each thread gets one canonical encoder, made on first use and kept for this object's life.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def read(self, data: bytes, tag: int | None = None) -> Any:
        """Return the item data holds, as ``CBORReader(data, tag=tag).read()`` would; raise as it would."""
        try:
            value = cbor2.loads(data)
            proven = _plain_message(value, tag) and self._canonical(value) == data
        except Exception:  # noqa: BLE001 - whatever cbor2 refuses, the strict reader decides
            proven = False
        return value if proven else CBORReader(data, tag=tag).read()

    def _canonical(self, value: Any) -> bytes:
        """Return cbor2's canonical encoding of value."""
        local = self._local
        try:
            buffer, encoder = local.buffer, local.encoder
        except AttributeError:
            buffer = local.buffer = io.BytesIO()
            encoder = local.encoder = cbor2.CBOREncoder(buffer, canonical=True)
        buffer.seek(0)
        buffer.truncate()
        encoder.encode(value)
        return buffer.getvalue()
