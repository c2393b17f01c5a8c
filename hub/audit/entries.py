"""Audit entries: the event, its row and leaf hash (RFC 6962 §2.1), the subject's keyed hash.

An entry has its leaf hash at once, so callers can hand it out in receipts; it is appended through a sink
(hub.audit.sink, which also derives the pepper) and its place in the log (seq, chain hash, Merkle tree) is given
later by the sequencer.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


from hub.audit.merkle import leaf_hash
from hub.core.national_ids import mask_resident_id

_JSON_SCALARS = (str, int, bool, type(None))  # what a JSON round trip gives back unchanged
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
    return hmac.digest(pepper, subject.strip().upper().encode("utf-8"), "sha256").hex()


def citizen_actor(resident_id: str) -> str:
    """Return the actor name of a citizen acting for themself: their masked id."""
    return "citizen:" + mask_resident_id(resident_id.strip().upper())


def rfc3339(value: datetime) -> str:
    """Format a time as RFC 3339 UTC with microseconds, the form hashed into the leaf."""
    utc = value.astimezone(timezone.utc)
    if utc.year < 1000:  # strftime's %Y does not pad such years to four digits
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # as strftime writes it, at a third of the cost
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> str:
    """Serialise as JSON with sorted keys, no spaces, UTF-8 text (not \\u escapes)."""
    return _CANONICAL.encode(value)


def entry_leaf_hash(*, id: str, created_at: datetime, kind: str, actor: str,  # noqa: A002 - the column name
                    subject_ref: str | None, data: Any) -> bytes:
    """Return SHA-256(0x00 || canonical entry bytes): the entry's leaf in the Merkle tree."""
    return _leaf_hash(id, created_at, kind, actor, subject_ref, canonical_json(data))


def _leaf_hash(id: str, created_at: datetime, kind: str, actor: str,  # noqa: A002 - the column name
               subject_ref: str | None, data_text: str) -> bytes:
    """The leaf of the canonical document {actor, created_at, data, id, kind, subject_ref} (keys in sorted
    order), written around the data's canonical text rather than encoding the data a second time."""
    encode = _CANONICAL.encode
    text = (f'{{"actor":{encode(actor)},"created_at":"{rfc3339(created_at)}","data":{data_text},'
            f'"id":{encode(id)},"kind":{encode(kind)},"subject_ref":{encode(subject_ref)}}}')
    return leaf_hash(text.encode("utf-8"))


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
    if not _round_trips(event.data):
        text = canonical_json(json.loads(text))  # hash what a reader will parse back (e.g. int keys become strings)
    created_at = now.astimezone(timezone.utc)
    row = {"id": uuid.uuid4().hex, "created_at": created_at, "kind": event.kind, "actor": event.actor,
           "subject_ref": subject_ref(pepper, event.subject) if event.subject is not None else None}
    row["leaf_hash"] = _leaf_hash(**row, data_text=text)
    return row | {"data": text}


def _round_trips(data: dict) -> bool:
    """Whether a reader parses the data's JSON back to an equal dict: string keys, plain scalar values."""
    return all(type(key) is str and type(value) in _JSON_SCALARS for key, value in data.items())


def row_ref(row: dict) -> AuditRef:
    """The ref of a prepared row."""
    return AuditRef(row["id"], b64(row["leaf_hash"]))

