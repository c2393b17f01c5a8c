"""The Merkle tree of RFC 6962 §2.1 (RFC 9162 §2.1): hashes, the growing right edge, proofs.

Pure: no database. A complete subtree is named by (level, index): it covers the leaves
[index * 2**level, (index + 1) * 2**level). Proofs read such nodes through a ``fetch`` function, so
a caller can first ask which nodes a proof needs (``nodes_needed``), load them in one query, then
build the proof; every proof touches O(log n) nodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

Fetch = Callable[[int, int], bytes]  # (level, index) -> hash of that complete subtree
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256() (§2.1)


def leaf_hash(entry: bytes) -> bytes:
    """Return MTH({d}) = SHA-256(0x00 || d): the 0x00 prefix keeps leaves apart from nodes (§2.1)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """Return k, the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def edge_keys(size: int) -> list[tuple[int, int]]:
    """Return the complete subtrees that together cover [0, size), largest (leftmost) first."""
    return [(level, (size >> level) - 1) for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]


class Frontier:
    """The right edge of a tree: the roots of its complete subtrees, enough to append and to get the root."""

    def __init__(self, size: int = 0, hashes: list[bytes] | None = None) -> None:
        levels = [level for level, _ in edge_keys(size)]
        hashes = list(hashes or [])
        if len(hashes) != len(levels):
            raise ValueError(f"a tree of {size} leaves has {len(levels)} edge nodes, not {len(hashes)}")
        self.size = size
        self._stack = list(zip(levels, hashes))

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the complete subtrees it closes above the leaves as (level, index, hash)."""
        closed = []
        level, index, value = 0, self.size, leaf
        while index & 1:  # a right child: merge with its left sibling, the last edge node
            _, left = self._stack.pop()
            value, level, index = node_hash(left, value), level + 1, index >> 1
            closed.append((level, index, value))
        self._stack.append((level, value))
        self.size += 1
        return closed

    def root(self) -> bytes:
        """Return MTH of the leaves so far: the edge nodes folded from the right (§2.1's split at k)."""
        if not self._stack:
            return EMPTY_ROOT
        value = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            value = node_hash(left, value)
        return value


def subtree_hash(lo: int, hi: int, fetch: Fetch) -> bytes:
    """Return MTH(D[lo:hi]): one stored node if the range is a complete subtree, else split at k."""
    n = hi - lo
    if n & (n - 1) == 0 and lo % n == 0:
        return fetch(n.bit_length() - 1, lo // n)
    k = split_point(n)
    return node_hash(subtree_hash(lo, lo + k, fetch), subtree_hash(lo + k, hi, fetch))


def inclusion_path(index: int, size: int, fetch: Fetch) -> list[bytes]:
    """Return PATH(index, D[0:size]) of RFC 6962 §2.1.1, nearest the leaf first."""
    if not 0 <= index < size:
        raise ValueError("the leaf is not in a tree of that size")
    return _path(index, 0, size, fetch)


def _path(m: int, lo: int, hi: int, fetch: Fetch) -> list[bytes]:
    n = hi - lo
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return _path(m, lo, lo + k, fetch) + [subtree_hash(lo + k, hi, fetch)]
    return _path(m - k, lo + k, hi, fetch) + [subtree_hash(lo, lo + k, fetch)]


def consistency_proof(first: int, second: int, fetch: Fetch) -> list[bytes]:
    """Return PROOF(first, D[0:second]) of RFC 6962 §2.1.2 (empty when the sizes are equal)."""
    if not 0 < first <= second:
        raise ValueError("need 0 < first <= second")
    return _subproof(first, 0, second, True, fetch)


def _subproof(m: int, lo: int, hi: int, whole: bool, fetch: Fetch) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if whole else [subtree_hash(lo, hi, fetch)]
    k = split_point(n)
    if m <= k:
        return _subproof(m, lo, lo + k, whole, fetch) + [subtree_hash(lo + k, hi, fetch)]
    return _subproof(m - k, lo + k, hi, False, fetch) + [subtree_hash(lo, lo + k, fetch)]


def nodes_needed(build: Callable[[Fetch], object]) -> set[tuple[int, int]]:
    """Return the (level, index) nodes a proof reads: run it once on placeholder hashes."""
    keys: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        keys.add((level, index))
        return bytes(HASH_SIZE)

    build(record)
    return keys
