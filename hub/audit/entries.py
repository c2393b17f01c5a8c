"""Audit entries: the event, its row and leaf hash (RFC 6962 §2.1), the subject's keyed hash.

An entry has its leaf hash at once, so callers can hand it out in receipts; it is appended through a sink
(hub.audit.sink, which also derives the pepper) and its place in the log (seq, chain hash, Merkle tree) is given
later by the sequencer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


from hub.audit.merkle import leaf_hash
from hub.core.national_ids import mask_resident_id

KIND = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$")
MAX_DATA_BYTES = 16_384


@dataclass(frozen=True)
class AuditEvent:
    """What happened ("exchange.query"), who did it, about whom (raw id: only its HMAC is stored), details."""

    kind: str
    actor: str
    subject: str | None
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (KIND.match(self.kind) and len(self.kind) <= 40):
            raise ValueError(f"bad audit event kind {self.kind!r}: dotted lowercase words, at most 40 characters")
        if not (isinstance(self.actor, str) and 0 < len(self.actor) <= 64):
            raise ValueError("the actor must be 1 to 64 characters")
        if self.subject is not None and not (isinstance(self.subject, str) and self.subject.strip()):
            raise ValueError("the subject must be a non-empty string or None")
        if not isinstance(self.data, dict):
            raise ValueError("the data must be a dict")


@dataclass(frozen=True)
class AuditRef:
    """Where an event went: the entry id and its leaf hash (base64), to ask for an inclusion proof later."""

    id: str
    leaf_hash: str


def subject_ref(pepper: bytes, subject: str) -> str:
    """Return HMAC-SHA256(pepper, subject) in hex; ids are compared upper-case (a final x is an X)."""
    return hmac.new(pepper, subject.strip().upper().encode("utf-8"), hashlib.sha256).hexdigest()


def citizen_actor(resident_id: str) -> str:
    """Return the actor name of a citizen acting for themself: their masked id."""
    return "citizen:" + mask_resident_id(resident_id.strip().upper())


def rfc3339(value: datetime) -> str:
    """Format a time as RFC 3339 UTC with microseconds, the form hashed into the leaf."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    """Serialise as JSON with sorted keys, no spaces, UTF-8 text (not \\u escapes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_leaf_hash(*, id: str, created_at: datetime, kind: str, actor: str,  # noqa: A002 - the column name
                    subject_ref: str | None, data: Any) -> bytes:
    """Return SHA-256(0x00 || canonical entry bytes): the entry's leaf in the Merkle tree."""
    doc = {"id": id, "created_at": rfc3339(created_at), "kind": kind, "actor": actor,
           "subject_ref": subject_ref, "data": data}
    return leaf_hash(canonical_json(doc).encode("utf-8"))


def b64(value: bytes) -> str:
    """Encode a hash as standard base64, as RFC 6962's JSON API does."""
    return base64.b64encode(value).decode("ascii")


def entry_row(event: AuditEvent, now: datetime, pepper: bytes) -> dict:
    """The row of an event, its leaf hash computed: what every audit sink appends."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    text = canonical_json(event.data)
    if len(text.encode("utf-8")) > MAX_DATA_BYTES:
        raise ValueError(f"audit data is larger than {MAX_DATA_BYTES} bytes")
    data = json.loads(text)  # hash what a reader will parse back (e.g. int keys become strings)
    text = canonical_json(data)
    created_at = now.astimezone(timezone.utc)
    row = {"id": uuid.uuid4().hex, "created_at": created_at, "kind": event.kind, "actor": event.actor,
           "subject_ref": subject_ref(pepper, event.subject) if event.subject is not None else None}
    row["leaf_hash"] = entry_leaf_hash(**row, data=data)
    return row | {"data": text}


def row_ref(row: dict) -> AuditRef:
    """The ref of a prepared row."""
    return AuditRef(row["id"], b64(row["leaf_hash"]))

