"""Give committed entries their place in the log: seq, hash chain, Merkle tree, a new signed tree head.

Like Certificate Transparency's merge delay: writers only insert (cheap, concurrent); one sequencer
at a time orders what has committed, so the order is strict and the tree is append-only.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from hub.audit.driver import executemany
from hub.audit.heads import TreeHead, TreeHeadSigner, latest_head
from hub.audit.merkle import EMPTY_ROOT
from hub.audit.store import load_edge
from hub.audit.tables import AuditEntry, AuditTreeHead

BATCH_SIZE = 5000
LOCK_KEY = 0x6875622D61756474  # "hub-audt": the PostgreSQL advisory lock every sequencer takes


def lock_sequencer(session: Session) -> None:
    """Make this transaction the only sequencer until it ends (PostgreSQL advisory lock, SQLite write lock)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    elif dialect == "sqlite":
        # pysqlite opens transactions lazily, at the first write: take the write lock now, before reading.
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")
    else:
        raise RuntimeError(f"no sequencer lock for {dialect}")


def has_pending(session: Session) -> bool:
    """Return whether committed entries wait for sequencing (a cheap look at the pending index)."""
    return session.scalar(select(AuditEntry.id).where(AuditEntry.seq.is_(None)).limit(1)) is not None


def sequence(session_factory: sessionmaker[Session], *, signer: TreeHeadSigner, now: datetime,
             batch_size: int = BATCH_SIZE) -> TreeHead | None:
    """Sequence every committed pending entry, one transaction and one signed head per batch; return the last head."""
    head = None
    while True:
        with session_factory() as session:
            added, more = _sequence_batch(session, signer=signer, now=now, batch_size=batch_size)
            session.commit()
        head = added or head
        if not more:
            return head


def _sequence_batch(session: Session, *, signer: TreeHeadSigner, now: datetime,
                    batch_size: int) -> tuple[TreeHead | None, bool]:
    lock_sequencer(session)
    current = latest_head(session)
    pending = session.execute(
        select(AuditEntry.id, AuditEntry.leaf_hash).where(AuditEntry.seq.is_(None))
        .order_by(AuditEntry.created_at, AuditEntry.id).limit(batch_size)).all()
    if not pending:
        # The empty log still gets a signed head (root SHA-256 of nothing), so readers always have one.
        return (_store_head(session, signer.sign(0, EMPTY_ROOT, _millis(now))) if current is None else None), False
    size = current.tree_size if current is not None else 0
    frontier, prev = load_edge(session, size)
    changes, nodes = [], []
    for entry_id, leaf in pending:
        chain = hashlib.sha256(prev + leaf).digest()
        changes.append({"id": entry_id, "seq": frontier.size, "prev_hash": prev, "chain_hash": chain})
        nodes.extend(frontier.append(leaf))
        prev = chain
    executemany(session, _SET_PLACE, changes)
    if nodes:
        executemany(session, _ADD_NODE, [{"level": lv, "index": ix, "hash": h} for lv, ix, h in nodes])
    # Heads never go back in time, even if this machine's clock does.
    timestamp = max(_millis(now), current.timestamp if current is not None else 0)
    head = _store_head(session, signer.sign(frontier.size, frontier.root(), timestamp))
    return head, len(pending) == batch_size


_SET_PLACE = ("UPDATE audit_entries SET seq = {seq}, prev_hash = {prev_hash}, chain_hash = {chain_hash} "
              "WHERE id = {id}")
_ADD_NODE = "INSERT INTO audit_nodes (level, \"index\", hash) VALUES ({level}, {index}, {hash})"


def _store_head(session: Session, head: TreeHead) -> TreeHead:
    session.add(AuditTreeHead(tree_size=head.tree_size, root_hash=head.root_hash, timestamp=head.timestamp,
                              signature=head.signature))
    session.flush()
    return head


def _millis(now: datetime) -> int:
    return int(now.timestamp() * 1000)
