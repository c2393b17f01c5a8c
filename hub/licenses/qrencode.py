"""Encode a license's QR text as a QR symbol: alphanumeric mode, error correction M (ISO/IEC 18004).

The symbol is module for module the one `qrcode` builds (same version, same mask, same modules;
`tests/test_qr_format.py` compares them), in about a tenth of its time: qrcode writes the data bit
by bit, divides the Reed-Solomon polynomials with Python objects, places the data once per mask and
scores each placement module by module (~20 ms for the version 10 license QR). Here:

- the layout of each version (function patterns, data module order, mask patterns, format and
  version information) is taken from qrcode's own routines once and kept;
- the data bits are an integer, and Reed-Solomon remainders come from a table of 256 byte strings
  per generator polynomial (one shift and one XOR per data codeword);
- rows are integers (column 0 the most significant bit): a mask is one XOR per row, and the four
  penalty rules (§7.8.3) are counted with bit operations over the rows (and a substring count),
  with the format and version areas left light, exactly as qrcode scores its test placements.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import qrcode
from qrcode import base as qr_base
from qrcode import util as qr_util

EC_LEVEL = qrcode.constants.ERROR_CORRECT_M
ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUES = {char: value for value, char in enumerate(ALPHANUMERIC)}
_PAD = (0xEC, 0x11)  # §7.4.10 pad codewords


@dataclass(frozen=True)
class Symbol:
    """A QR symbol without its quiet zone: rows of module bits, column 0 the most significant, 1 = dark."""

    version: int
    mask: int
    rows: tuple[int, ...]

    @property
    def size(self) -> int:
        return 17 + 4 * self.version

    def dark_runs(self, offset: int = 0) -> list[tuple[int, int, int]]:
        """(row, first column, length) of each horizontal run of dark modules; `offset` is added to
        the row and the column (a quiet zone's width)."""
        runs = []
        for y, row in enumerate(self.rows, offset):
            x = offset
            for run in format(row, f"0{self.size}b").split("0"):
                if run:
                    runs.append((y, x, len(run)))
                x += len(run) + 1
        return runs

    def matrix(self, border: int) -> tuple[tuple[bool, ...], ...]:
        """Return the modules as booleans, with `border` light modules around them."""
        width = self.size + 2 * border
        light = (False,) * width
        edge = (False,) * border
        body = tuple(edge + tuple(c == "1" for c in format(row, f"0{self.size}b")) + edge for row in self.rows)
        return (light,) * border + body + (light,) * border


def encode(text: str) -> Symbol:
    """Encode text (QR alphanumeric characters only) in the smallest version that holds it at level M."""
    try:
        values = [_VALUES[char] for char in text]
    except KeyError as exc:
        raise ValueError(f"not a QR alphanumeric character: {exc.args[0]!r}") from None
    version = _version(len(values))
    layout = _layout(version)
    data = layout.place(_codewords(values, version))
    scores = [_penalty([f | (d ^ m) for f, d, m in zip(layout.test_rows, data, masks)], layout.size)
              for masks in layout.masks]
    mask = scores.index(min(scores))  # the first of equal scores, as qrcode picks
    rows = tuple(f | (d ^ m) for f, d, m in zip(layout.final_rows[mask], data, layout.masks[mask]))
    return Symbol(version, mask, rows)


def _count_bits(version: int) -> int:
    return 9 if version < 10 else 11 if version < 27 else 13  # §7.4.1, table 3


def _capacity(version: int) -> int:
    return 8 * sum(block.data_count for block in qr_base.rs_blocks(version, EC_LEVEL))


def _version(length: int) -> int:
    data_bits = 11 * (length // 2) + 6 * (length % 2)
    for version in range(1, 41):
        if 4 + _count_bits(version) + data_bits <= _capacity(version):
            return version
    raise ValueError("the text is too long for a QR code at error correction level M")


def _codewords(values: list[int], version: int) -> bytes:
    """Data codewords (mode, count, pairs, terminator, padding), then the interleaved EC codewords."""
    bits, used = 0b0010, 4  # alphanumeric mode indicator
    bits, used = (bits << _count_bits(version)) | len(values), used + _count_bits(version)
    for i in range(0, len(values) - 1, 2):
        bits, used = (bits << 11) | (values[i] * 45 + values[i + 1]), used + 11
    if len(values) % 2:
        bits, used = (bits << 6) | values[-1], used + 6
    capacity = _capacity(version)
    terminator = min(capacity - used, 4) + (-(used + min(capacity - used, 4))) % 8
    bits, used = bits << terminator, used + terminator
    data = bits.to_bytes(used // 8, "big") + bytes(_PAD[i % 2] for i in range((capacity - used) // 8))
    blocks, offset = [], 0
    for block in qr_base.rs_blocks(version, EC_LEVEL):
        blocks.append((data[offset:offset + block.data_count], block.total_count - block.data_count))
        offset += block.data_count
    out = bytearray()
    for i in range(max(len(d) for d, _ in blocks)):
        out.extend(d[i] for d, _ in blocks if i < len(d))
    corrections = [_remainder(d, ec) for d, ec in blocks]
    for i in range(max(len(c) for c in corrections)):
        out.extend(c[i] for c in corrections if i < len(c))
    return bytes(out)


def _gf_tables() -> tuple[list[int], list[int]]:
    exp, log, x = [0] * 510, [0] * 256, 1
    for i in range(255):
        exp[i] = exp[i + 255] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= 0x11D  # GF(2^8) with the QR primitive polynomial (§7.5.2)
    return exp, log


_EXP, _LOG = _gf_tables()


def _gf_mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


@functools.cache
def _remainder_table(degree: int) -> tuple[int, ...]:
    """For each feedback byte f, f times the generator polynomial of this degree (without x^degree)."""
    generator = [1]
    for i in range(degree):  # the product of (x - a^i), i < degree
        generator = [a ^ _gf_mul(b, _EXP[i]) for a, b in zip(generator + [0], [0] + generator)]
    return tuple(int.from_bytes(bytes(_gf_mul(f, g) for g in generator[1:]), "big") for f in range(256))


def _remainder(data: bytes, degree: int) -> bytes:
    """Return the Reed-Solomon EC codewords: data(x) * x^degree mod generator(x)."""
    table, top, keep = _remainder_table(degree), 8 * (degree - 1), (1 << 8 * degree) - 1
    remainder = 0
    for byte in data:
        remainder = ((remainder << 8) & keep) ^ table[byte ^ (remainder >> top)]
    return remainder.to_bytes(degree, "big")


def _bits(row) -> int:
    value = 0
    for module in row:
        value = (value << 1) | bool(module)
    return value


@dataclass(frozen=True)
class _Layout:
    """What does not depend on the data in a symbol of one version."""

    size: int
    test_rows: tuple[int, ...]  # function patterns, format and version areas light (qrcode's test placement)
    final_rows: tuple[tuple[int, ...], ...]  # per mask: function patterns with format and version information
    masks: tuple[tuple[int, ...], ...]  # per mask: the data modules the mask flips
    order: tuple[tuple[int, int], ...]  # data modules in placement order (§7.7.3): (row, bit)

    def place(self, codewords: bytes) -> list[int]:
        """Lay the codeword bits out in their modules; the remainder bits stay light."""
        rows = [0] * self.size
        for (row, bit), value in zip(self.order, format(int.from_bytes(codewords, "big"), f"0{8 * len(codewords)}b")):
            if value == "1":
                rows[row] |= bit
        return rows


def _blank(version: int, size: int) -> qrcode.QRCode:
    probe = qrcode.QRCode(version=version, error_correction=EC_LEVEL)
    probe.modules_count, probe.modules = size, [[None] * size for _ in range(size)]
    return probe


@functools.cache
def _layout(version: int) -> _Layout:
    """Build a version's layout with qrcode's own drawing routines, so it is the layout qrcode uses."""
    size = 17 + 4 * version
    probe = _blank(version, size)
    for row, col in ((0, 0), (size - 7, 0), (0, size - 7)):
        probe.setup_position_probe_pattern(row, col)
    probe.setup_position_adjust_pattern()
    probe.setup_timing_pattern()
    probe.setup_type_info(True, 0)
    if version >= 7:
        probe.setup_type_number(True)
    modules = probe.modules
    data = [_bits(m is None for m in row) for row in modules]
    test_rows = tuple(_bits(bool(m) for m in row) for row in modules)
    masks, final_rows = [], []
    for mask in range(8):
        pattern = qr_util.mask_func(mask)
        masks.append(tuple(_bits(pattern(r, c) for c in range(size)) & data[r] for r in range(size)))
        info = _blank(version, size)
        info.setup_type_info(False, mask)
        if version >= 7:
            info.setup_type_number(False)
        area = [_bits(m is not None for m in row) for row in info.modules]
        bits = [_bits(bool(m) for m in row) for row in info.modules]
        final_rows.append(tuple((t & ~a) | b for t, a, b in zip(test_rows, area, bits)))
    return _Layout(size, test_rows, tuple(final_rows), tuple(masks), _order(modules, size))


def _order(modules, size: int) -> tuple[tuple[int, int], ...]:
    """The data modules in the order qrcode's map_data fills them: two-column strips, up and down."""
    order, row, step = [], size - 1, -1
    for col in range(size - 1, 0, -2):
        if col <= 6:
            col -= 1  # skip the vertical timing pattern
        while 0 <= row < size:
            order.extend((row, 1 << (size - 1 - c)) for c in (col, col - 1) if modules[row][c] is None)
            row += step
        row, step = row - step, -step
    return tuple(order)


def _penalty(rows: list[int], n: int) -> int:
    """Score a placement by the four penalty rules, exactly as qrcode.util.lost_point counts them."""
    full = (1 << n) - 1
    inverse = [~row & full for row in rows]
    same = [~(top ^ bottom) & full for top, bottom in zip(rows, rows[1:])]  # vertical neighbours alike
    return _n1(rows, same, n) + 3 * _n2(rows, same, n) + 40 * _n3(rows, inverse, n) + _n4(rows, n)


def _n1(rows: list[int], same: list[int], n: int) -> int:
    """Runs of L >= 5 like modules score L - 2: a run is L - 1 set bits of "alike", in windows of 4."""
    score, inner = 0, (1 << (n - 1)) - 1
    for row in rows:
        alike = ~(row ^ (row >> 1)) & inner
        windows = alike & (alike >> 1) & (alike >> 2) & (alike >> 3)
        score += windows.bit_count() + 2 * (windows & ~(windows >> 1)).bit_count()
    columns = [a & b & c & d for a, b, c, d in zip(same, same[1:], same[2:], same[3:])]
    for windows, below in zip(columns, columns[1:] + [0]):
        score += windows.bit_count() + 2 * (windows & ~below).bit_count()
    return score


def _n2(rows: list[int], same: list[int], n: int) -> int:
    """2x2 blocks of one colour, overlapping ones each counted."""
    inner = (1 << (n - 1)) - 1
    return sum((alike & (alike >> 1) & ~(top ^ (top >> 1)) & inner).bit_count() for top, alike in zip(rows, same))


def _n3(rows: list[int], inverse: list[int], n: int) -> int:
    """1:1:3:1:1 dark-light patterns with four light modules on one side, in rows and in columns."""
    text = " ".join(format(row, f"0{n}b") for row in rows)
    count = text.count("10111010000") + text.count("00001011101")  # neither overlaps itself
    dark, light = rows, inverse
    for r in range(n - 10):  # columns: eleven rows at a time, all columns at once
        core = light[r + 1] & dark[r + 4] & light[r + 5] & dark[r + 6]
        count += (core & dark[r] & dark[r + 2] & dark[r + 3]
                  & light[r + 7] & light[r + 8] & light[r + 9] & light[r + 10]).bit_count()
        count += (core & light[r] & light[r + 2] & light[r + 3]
                  & dark[r + 7] & dark[r + 8] & light[r + 9] & dark[r + 10]).bit_count()
    return count


def _n4(rows: list[int], n: int) -> int:
    dark = sum(row.bit_count() for row in rows)
    return int(abs(float(dark) / (n * n) * 100 - 50) / 5) * 10
