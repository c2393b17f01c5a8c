"""Check the whole audit log from the stored rows alone: leaves, hash chain, Merkle roots, signed heads.

Streams the entries in seq order in chunks (memory stays constant: the tree's right edge is O(log n))
and stops at the first thing that is wrong, naming the entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from hub.audit.entries import b64, entry_leaf_hash
from hub.audit.heads import TreeHead, TreeHeadError, latest_head, verify_tree_head
from hub.audit.merkle import Frontier
from hub.audit.store import GENESIS
from hub.audit.tables import AuditEntry, AuditTreeHead

CHUNK = 5000


@dataclass(frozen=True)
class VerifyReport:
    """The outcome: ok, or the first problem and the entry (seq, id) it was found at."""

    ok: bool
    entries: int
    root_hash: bytes | None = None
    tree_size: int | None = None  # of the latest signed head
    pending: int = 0
    problem: str | None = None
    bad_seq: int | None = None
    bad_id: str | None = None

    def summary(self) -> str:
        """Return the one line the CLI prints."""
        if not self.ok:
            return f"FAIL: {self.problem}"
        root = b64(self.root_hash) if self.root_hash is not None else "-"
        waiting = f" ({self.pending} waiting to be sequenced)" if self.pending else ""
        return f"OK: {self.entries} entries, root {root}{waiting}"


class _Bad(Exception):
    def __init__(self, problem: str, seq: int | None = None, entry_id: str | None = None) -> None:
        super().__init__(problem)
        self.problem, self.seq, self.entry_id = problem, seq, entry_id


ENTRY_COLUMNS = (AuditEntry.seq, AuditEntry.id, AuditEntry.created_at, AuditEntry.kind, AuditEntry.actor,
                 AuditEntry.subject_ref, AuditEntry.data, AuditEntry.leaf_hash, AuditEntry.prev_hash,
                 AuditEntry.chain_hash)


def _entries(session: Session, chunk: int) -> Iterator[Row]:
    """Yield sequenced entries by seq, `chunk` rows per query (plain rows: no ORM identity map to grow)."""
    after = -1
    while True:
        rows = session.execute(select(*ENTRY_COLUMNS).where(AuditEntry.seq > after)
                               .order_by(AuditEntry.seq).limit(chunk)).all()
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1].seq


def _heads(session: Session, chunk: int) -> Iterator[tuple[int, bytes]]:
    after = -1
    while True:
        rows = session.execute(select(AuditTreeHead.tree_size, AuditTreeHead.root_hash)
                               .where(AuditTreeHead.tree_size > after)
                               .order_by(AuditTreeHead.tree_size).limit(chunk)).all()
        yield from ((size, root) for size, root in rows)
        if len(rows) < chunk:
            return
        after = rows[-1][0]


class _Walk:
    """The state of one pass: the tree so far, the last two chain hashes, the next signed head to meet."""

    def __init__(self, heads: Iterator[tuple[int, bytes]], latest: TreeHead | None) -> None:
        self.tree = Frontier()
        self.prev, self.before_prev, self.prev_id = GENESIS, GENESIS, None
        self.heads, self.latest = heads, latest
        self.next_head = next(heads, None)
        self.matched = 0  # size of the last head found to match
        self.check_heads()

    def entry(self, row: Row) -> None:
        seq, name = row.seq, f"entry {row.seq} (id {row.id})"
        if seq != self.tree.size:
            if seq < self.tree.size:
                raise _Bad(f"{name} appears twice", seq, row.id)
            raise _Bad(f"entry {self.tree.size} is missing (deleted)", self.tree.size)
        if self.latest is None or seq >= self.latest.tree_size:
            raise _Bad(f"{name} is not covered by any signed tree head: it was added behind the hub's back", seq, row.id)
        if _leaf(row) != row.leaf_hash:
            raise _Bad(f"{name} was edited: leaf hash does not match its content", seq, row.id)
        self.link(row, name)
        self.tree.append(row.leaf_hash)
        self.before_prev, self.prev, self.prev_id = self.prev, row.chain_hash, row.id
        self.check_heads()

    def link(self, row: Row, name: str) -> None:
        seq = row.seq
        if row.prev_hash != self.prev:
            if seq > 0 and row.prev_hash == self.before_prev:  # it links past its predecessor
                raise _Bad(f"entry {seq - 1} (id {self.prev_id}) was inserted: entry {seq} links past it "
                           f"to the entry before", seq - 1, self.prev_id)
            raise _Bad(f"an entry was inserted, deleted or moved before {name}: chain broken "
                       f"(its prev_hash is not the chain hash of entry {seq - 1})", seq, row.id)
        if hashlib.sha256((row.prev_hash or b"") + (row.leaf_hash or b"")).digest() != row.chain_hash:
            raise _Bad(f"{name} was edited: chain hash does not match", seq, row.id)

    def check_heads(self) -> None:
        """Compare each signed head with the root of the entries it covers, as soon as they are all read."""
        while self.next_head is not None and self.next_head[0] <= self.tree.size:
            size, root = self.next_head
            if root != self.tree.root():
                raise _Bad(f"the signed tree head of size {size} does not match the entries: one of entries "
                           f"{self.matched} to {size - 1} was changed and its hashes recomputed (or the head was)")
            self.matched = size
            self.next_head = next(self.heads, None)

    def finish(self) -> None:
        if self.next_head is not None:
            size, count = self.next_head[0], self.tree.size
            missing = f"entry {count} is" if size - count == 1 else f"entries {count} to {size - 1} are"
            raise _Bad(f"{missing} missing (deleted from the end): the signed tree head of size {size} covers "
                       f"{'it' if size - count == 1 else 'them'}", count)


def _leaf(row: Row) -> bytes | None:
    try:
        data = json.loads(row.data)
    except (TypeError, ValueError):
        return None
    return entry_leaf_hash(id=row.id, created_at=row.created_at, kind=row.kind, actor=row.actor,
                           subject_ref=row.subject_ref, data=data)


def _check_signature(latest: TreeHead | None, root_cert_der: bytes) -> None:
    if latest is None:
        return
    try:
        signed = verify_tree_head(latest.signature, root_cert_der)
    except TreeHeadError as failure:
        raise _Bad(f"the latest tree head (size {latest.tree_size}) is not validly signed by the root: "
                   f"{failure.code}") from None
    if (signed.tree_size, signed.root_hash) != (latest.tree_size, latest.root_hash):
        raise _Bad(f"the latest tree head (size {latest.tree_size}) was edited: its columns differ from what "
                   f"was signed (size {signed.tree_size})")


def _snapshot(session: Session) -> None:
    """Read one consistent snapshot on PostgreSQL, so a running sequencer does not shift the log mid-check."""
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def verify_log(session: Session, *, root_cert_der: bytes, chunk: int = CHUNK,
               progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Check every sequenced entry, the chain, the Merkle roots of all signed heads, and the latest signature."""
    _snapshot(session)
    latest = latest_head(session)
    pending = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.seq.is_(None))) or 0
    walk = None
    try:
        _check_signature(latest, root_cert_der)
        walk = _Walk(_heads(session, chunk), latest)
        for row in _entries(session, chunk):
            walk.entry(row)
            if progress is not None and walk.tree.size % chunk == 0:
                progress(walk.tree.size)
        walk.finish()
    except _Bad as bad:
        return VerifyReport(False, walk.tree.size if walk else 0, tree_size=latest.tree_size if latest else None,
                            pending=pending, problem=bad.problem, bad_seq=bad.seq, bad_id=bad.entry_id)
    if progress is not None:
        progress(walk.tree.size)
    return VerifyReport(True, walk.tree.size, walk.tree.root(), latest.tree_size if latest else None, pending)
