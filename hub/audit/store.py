"""Read the stored Merkle tree: leaves from the entries, higher complete subtrees from audit_nodes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from hub.audit.merkle import Fetch, Frontier, edge_keys, nodes_needed
from hub.audit.tables import AuditEntry, AuditNode
from hub.core.errors import HubError

GENESIS = bytes(32)  # the prev_hash of entry 0


class LogCorrupted(HubError):
    status, code, title = 500, "audit_log_corrupted", "The audit log is damaged"


def fetch_nodes(session: Session, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Return the hashes of the named complete subtrees; LogCorrupted if one is not stored."""
    keys = list(keys)
    by_level: dict[int, list[int]] = defaultdict(list)
    for level, index in keys:
        by_level[level].append(index)
    found: dict[tuple[int, int], bytes] = {}
    if by_level.get(0):
        rows = session.execute(select(AuditEntry.seq, AuditEntry.leaf_hash).where(AuditEntry.seq.in_(by_level[0])))
        found.update(((0, seq), leaf) for seq, leaf in rows)
    upper = [and_(AuditNode.level == level, AuditNode.index.in_(indexes))
             for level, indexes in by_level.items() if level > 0]
    if upper:
        rows = session.execute(select(AuditNode.level, AuditNode.index, AuditNode.hash).where(or_(*upper)))
        found.update(((level, index), value) for level, index, value in rows)
    missing = [key for key in keys if key not in found]
    if missing:
        raise LogCorrupted(f"The audit log is missing tree node(s) {missing[:3]}; run `hub audit verify`.")
    return found


def stored_proof(session: Session, build: Callable[[Fetch], list[bytes]]) -> list[bytes]:
    """Run a proof builder on stored nodes, loading the O(log n) nodes it needs in two queries.

    `build` runs twice (once to learn which nodes it reads): it must not depend on anything but its arguments.
    """
    nodes = fetch_nodes(session, nodes_needed(build))
    return build(lambda level, index: nodes[(level, index)])


def load_edge(session: Session, size: int) -> tuple[Frontier, bytes]:
    """Return the tree's right edge after `size` leaves and the chain hash of the last entry."""
    keys = edge_keys(size)
    nodes = fetch_nodes(session, keys)
    if size == 0:
        return Frontier(), GENESIS
    last = session.scalar(select(AuditEntry.chain_hash).where(AuditEntry.seq == size - 1))
    if last is None:
        raise LogCorrupted(f"The audit log has no chain hash for entry {size - 1}; run `hub audit verify`.")
    return Frontier(size, [nodes[key] for key in keys]), last
