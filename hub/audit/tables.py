"""The audit log: entries (hash-chained once sequenced), the Merkle tree's stored nodes, signed tree heads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.db import Base, UTCDateTime


class AuditEntry(Base):
    """One logged event; seq, prev_hash and chain_hash stay NULL until the sequencer orders it."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_seq", "seq", unique=True),
        # Only the pending rows, in the sequencer's order: stays small however long the log grows.
        Index("ix_audit_entries_pending", "created_at", "id",
              postgresql_where=text("seq IS NULL"), sqlite_where=text("seq IS NULL")),
        Index("ix_audit_entries_subject", "subject_ref", "kind", "seq"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(64))
    subject_ref: Mapped[str | None] = mapped_column(String(64), default=None)  # HMAC-SHA256(pepper, subject)
    data: Mapped[str] = mapped_column(Text)  # canonical JSON
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    prev_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    chain_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)


class AuditNode(Base):
    """A complete subtree of the Merkle tree above the leaves (level >= 1; leaves are the entries' leaf_hash)."""

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditTreeHead(Base):
    """A signed tree head: the root of the first tree_size entries, signed by the hub root key."""

    __tablename__ = "audit_tree_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp: Mapped[int] = mapped_column(BigInteger)  # milliseconds since the epoch, as signed
    signature: Mapped[str] = mapped_column(Text)  # compact JWS, typ tree-head+jwt
