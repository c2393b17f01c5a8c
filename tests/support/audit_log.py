"""What the audit tests share: an independent RFC 6962 / RFC 9162 checker (a few lines, none of the hub's
code), the exchange-query events they log, and appending them through the hub's transaction sink."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone

from hub.audit.service import AuditEvent, TransactionSink
from hub.core.national_ids import make_resident_id, mask_resident_id

ALICE = make_resident_id("110105", date(1990, 3, 7), 12, "F")
BOB = make_resident_id("310104", date(1985, 11, 30), 3, "M")
T0 = datetime(2026, 11, 21, 4, 0, tzinfo=timezone.utc)
CIVIL = ("11990100MB0000027F", "示例市民政局")


# --- An independent RFC 6962 / RFC 9162 checker: a few lines, none of the hub's code --------------------

def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    """MTH of RFC 6962 §2.1 over leaf hashes, straight from the definition."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def check_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = sha256(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def check_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2."""
    if first == second:
        return proof == [] and first_root == second_root
    if not proof:
        return False
    path = ([first_root] if first & (first - 1) == 0 else []) + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = sha256(b"\x01" + c + fr), sha256(b"\x01" + c + sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = sha256(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


def canonical_leaf(entry_id, created_at, kind, actor, subject_ref, data: dict) -> bytes:
    doc = {"id": entry_id, "created_at": created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "kind": kind,
           "actor": actor, "subject_ref": subject_ref, "data": data}
    return sha256(b"\x00" + json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())


# --- Events ---------------------------------------------------------------------------------------------

def query_event(requester: tuple[str, str], subject: str, n: int = 0) -> AuditEvent:
    code, name = requester
    return AuditEvent(kind="exchange.query", actor=code, subject=subject, data={
        "requester_code": code, "requester_name": name, "source_id": "household.residents",
        "source_name": "户籍人口信息", "fields": ["name", "household_address"], "purpose": f"婚姻登记核验 #{n}",
        "request_hash": "r" * 8, "response_hash": "s" * 8, "subject_masked": mask_resident_id(subject)})


def record(hub, events: list[AuditEvent], now: datetime = T0) -> list:
    with hub.app.state.services.session_factory() as session:
        refs = TransactionSink(session, hub.app.state.services.audit.pepper).append(events, now=now)
        session.commit()
    return refs
