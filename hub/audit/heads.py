"""Signed tree heads (RFC 6962 §3.5, RFC 9162 §4.10) as compact JWS signed by the hub root key."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.audit.entries import b64
from hub.audit.tables import AuditTreeHead
from hub.trust.service import load_root
from hub.trust.signing import sign_root_jws
from hub.trust.tables import HubKey
from license_verifier.trustlist import verify_root_jws

TREE_HEAD_TYP = "tree-head+jwt"


class TreeHeadError(Exception):
    """A tree head JWS is badly signed or not a tree head; see ``code``."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class TreeHead:
    """The root of the first tree_size entries at a time (ms since the epoch), with its signature."""

    tree_size: int
    root_hash: bytes
    timestamp: int
    signature: str

    @classmethod
    def from_row(cls, row: AuditTreeHead) -> TreeHead:
        return cls(row.tree_size, row.root_hash, row.timestamp, row.signature)

    def as_json(self) -> dict:
        """Return the head as the API shows it (root hash in base64)."""
        return {"tree_size": self.tree_size, "root_hash": b64(self.root_hash), "timestamp": self.timestamp,
                "signature": self.signature}


@dataclass(frozen=True)
class TreeHeadSigner:
    """The hub root key and certificate, decrypted once, signing tree heads."""

    private_key: Any
    cert_der: bytes

    @classmethod
    def load(cls, session: Session, passphrase: bytes) -> TreeHeadSigner:
        """Decrypt the hub root key."""
        root = load_root(session, passphrase)
        return cls(root.private_key, root.cert_der)

    def sign(self, tree_size: int, root_hash: bytes, timestamp: int) -> TreeHead:
        """Sign {tree_size, root_hash, timestamp} and return the head."""
        doc = {"tree_size": tree_size, "root_hash": b64(root_hash), "timestamp": timestamp}
        return TreeHead(tree_size, root_hash, timestamp, sign_root_jws(doc, self.private_key, self.cert_der,
                                                                       typ=TREE_HEAD_TYP))


def verify_tree_head(jws: str, root_cert_der: bytes) -> TreeHead:
    """Check a tree head JWS against the pinned root certificate; raise TreeHeadError if it is not valid."""
    doc = verify_root_jws(jws, root_cert_der, typ=TREE_HEAD_TYP, error=TreeHeadError)
    size, root, timestamp = doc.get("tree_size"), doc.get("root_hash"), doc.get("timestamp")
    if not (isinstance(size, int) and size >= 0 and isinstance(timestamp, int) and isinstance(root, str)):
        raise TreeHeadError("bad_document", "tree_size, root_hash and timestamp are required")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except binascii.Error:
        raise TreeHeadError("bad_document", "root_hash is not base64") from None
    if len(root_hash) != 32:
        raise TreeHeadError("bad_document", "root_hash is not a SHA-256 hash")
    return TreeHead(size, root_hash, timestamp, jws)


def latest_head(session: Session) -> TreeHead | None:
    """Return the largest signed tree head, or None before the first."""
    row = session.scalar(select(AuditTreeHead).order_by(AuditTreeHead.tree_size.desc()).limit(1))
    return TreeHead.from_row(row) if row is not None else None


def head_of_size(session: Session, tree_size: int) -> TreeHead | None:
    """Return the signed head of exactly that size, if one was stored."""
    row = session.get(AuditTreeHead, tree_size)
    return TreeHead.from_row(row) if row is not None else None


def root_certificate(session: Session) -> bytes:
    """Return the DER of the hub's active root certificate (no passphrase needed)."""
    der = session.scalar(select(HubKey.certificate_der).where(HubKey.purpose == "root", HubKey.status == "active")
                         .order_by(HubKey.created_at.desc()).limit(1))
    if der is None:
        raise LookupError("the hub root certificate is missing: run `hub init`")
    return der
