"""Encode a license's QR text as a QR symbol: alphanumeric mode, error correction M (ISO/IEC 18004).

The symbol is module for module the one `qrcode` builds (same version, same mask, same modules;
`tests/verifier/test_qr_format.py` compares them), in a few percent of its time: qrcode writes the data bit
by bit, divides the Reed-Solomon polynomials with Python objects, places the data once per mask and
scores each placement module by module (~20 ms for the version 10 license QR). Here:

- the layout of each version (function patterns, data module order, mask patterns, format and
  version information) is taken from qrcode's own routines once and kept;
- the data bits are an integer, and Reed-Solomon remainders come from a table of 256 byte strings
  per generator polynomial (one shift and one XOR per data codeword);
- rows are integers (column 0 the most significant bit); to score a mask the whole symbol is one
  integer (row r in bits r*n to r*n + n - 1), so a mask is one XOR, and each of the four penalty
  rules (§7.8.3) is a few shifts, ANDs and bit counts over all rows and columns at once, with the
  format and version areas left light, exactly as qrcode scores its test placements.
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
    flat = _flat(data, layout.size)
    scores = [_penalty(layout.test_flat | (flat ^ masks), layout.size) for masks in layout.masks_flat]
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


def _flat(rows, n: int) -> int:
    """The rows of an n-module symbol as one integer: row r in bits r*n .. r*n + n - 1."""
    value = 0
    for r, row in enumerate(rows):
        value |= row << (r * n)
    return value


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
    test_flat: int  # test_rows as one integer (see _flat)
    masks_flat: tuple[int, ...]  # masks, each as one integer

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
    return _Layout(size, test_rows, tuple(final_rows), tuple(masks), _order(modules, size),
                   _flat(test_rows, size), tuple(_flat(mask, size) for mask in masks))


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


def _penalty(m: int, n: int) -> int:
    """Score a placement (the symbol as one integer, see _flat) by the four penalty rules, exactly as
    qrcode.util.lost_point counts them. Shifting by 1 lines a module up with its right neighbour, by
    n with the one below; the masks keep only the positions where the neighbours are in the symbol."""
    planes = _planes(n)
    light = ~m & planes.full
    alike_down = ~(m ^ (m >> n)) & planes.upper  # like the module below
    alike_right = ~(m ^ (m >> 1)) & planes.inner  # like the module to the right
    # Rule 1: runs of L >= 5 like modules score L - 2: a run holds L - 4 windows of five alike (four
    # "alike" bits in a row), and its last window (none after it) scores 2 more.
    rows = alike_right & (alike_right >> 1) & (alike_right >> 2) & (alike_right >> 3)
    columns = alike_down & (alike_down >> n) & (alike_down >> 2 * n) & (alike_down >> 3 * n)
    n1 = (rows.bit_count() + 2 * (rows & ~(rows >> 1)).bit_count()
          + columns.bit_count() + 2 * (columns & ~(columns >> n)).bit_count())
    # Rule 2: 2x2 blocks of one colour, overlapping ones each counted.
    n2 = (alike_down & (alike_down >> 1) & alike_right).bit_count()
    # Rule 3: 1:1:3:1:1 dark-light patterns with four light modules on one side, in rows and columns.
    n3 = 0
    for pattern in _FINDER_LIKE:
        across, down = planes.across11, planes.down11
        for t, dark in enumerate(pattern):
            modules = m if dark else light
            across &= modules >> (10 - t)
            down &= modules >> (t * n)
        n3 += across.bit_count() + down.bit_count()
    # Rule 4: the share of dark modules, by steps of 5% away from half.
    n4 = int(abs(float(m.bit_count()) / (n * n) * 100 - 50) / 5) * 10
    return n1 + 3 * n2 + 40 * n3 + n4


_FINDER_LIKE = ((1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0), (0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1))


@dataclass(frozen=True)
class _Planes:
    """Where the neighbours that each penalty rule compares are inside an n-module symbol (see _flat)."""

    full: int  # every module
    upper: int  # every module but the last row's: those with a module below
    inner: int  # every module but the last column's: those with a module to the right
    across11: int  # where eleven modules fit to the right in the row (rule 3, rows)
    down11: int  # where eleven modules fit below in the column (rule 3, columns)


@functools.cache
def _planes(n: int) -> _Planes:
    def rows(row_bits: int, count: int) -> int:
        return _flat([row_bits] * count, n)

    full, inner, across = (1 << n) - 1, (1 << (n - 1)) - 1, (1 << (n - 10)) - 1
    return _Planes(full=rows(full, n), upper=rows(full, n - 1), inner=rows(inner, n),
                   across11=rows(across, n), down11=rows(full, n - 10))
