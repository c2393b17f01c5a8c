"""Strict RFC 9285 base45 decoding, a few table operations per QR instead of a Python loop per character.

Only the 45 characters of RFC 9285 §4 are accepted (no lower case, no surrounding white space); a
length of 1 mod 3 and a group above its range (§4.2: 65535 for three characters, 255 for the last
two) are errors. tests/verifier/test_base45.py checks it against the ``base45`` package on random input.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INVALID = 0xFF
_VALUES = bytes(ALPHABET.index(chr(b)) if chr(b) in ALPHABET else _INVALID for b in range(256))


def b45decode(text: str) -> bytes:
    """Return the bytes text encodes; raise ValueError if it is not base45."""
    if not text.isascii():
        raise ValueError("base45 is ASCII")
    values = text.encode("ascii").translate(_VALUES)
    if _INVALID in values:
        raise ValueError("a character outside the base45 alphabet")
    groups, rest = divmod(len(values), 3)
    if rest == 1:
        raise ValueError("a base45 length of 1 mod 3")
    end = 3 * groups
    # Each group c, d, e is c + 45·d + 2025·e (§4.2): spread each column into 32-bit lanes of one big
    # integer, weigh and add the three columns at once (no lane can carry: 44·2071 < 2**32), then
    # keep the low 16 bits of every lane, whose high 16 bits must be zero.
    lanes, total = bytearray(4 * groups), 0
    for column, weight in enumerate((1, 45, 2025)):
        lanes[3::4] = values[column:end:3]
        total += weight * int.from_bytes(lanes, "big")
    wide, zeros = total.to_bytes(4 * groups, "big"), bytes(groups)
    if wide[0::4] != zeros or wide[1::4] != zeros:
        raise ValueError("a base45 group above 65535")
    decoded = bytearray(2 * groups)
    decoded[0::2], decoded[1::2] = wide[2::4], wide[3::4]
    if rest:
        last = values[end] + 45 * values[end + 1]
        if last > 0xFF:
            raise ValueError("a final base45 pair above 255")
        decoded.append(last)
    return bytes(decoded)
