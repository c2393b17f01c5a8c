"""Response bodies of the audit routes (hashes in standard base64, as in RFC 6962 §4)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TreeHeadOut(BaseModel):
    tree_size: int = Field(description="Number of entries the head covers")
    root_hash: str = Field(description="Merkle tree hash (RFC 6962 §2.1) of those entries, base64")
    timestamp: int = Field(description="Milliseconds since the epoch")
    signature: str = Field(description="Compact JWS (ES256, typ tree-head+jwt) by the hub root key (see /trust-anchor) "
                                       "over {tree_size, root_hash, timestamp}")


class InclusionProofOut(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 || canonical entry), base64")
    audit_path: list[str] = Field(description="PATH(leaf_index, D[tree_size]) of RFC 6962 §2.1.1, base64, leaf first")
    tree_head: TreeHeadOut | None = Field(description="The signed head of that size (null if none was signed)")


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    consistency: list[str] = Field(description="PROOF(first, D[second]) of RFC 6962 §2.1.2, base64")


class AccessLogItem(BaseModel):
    time: str = Field(description="RFC 3339 UTC")
    requester_name: str | None
    requester_code: str | None
    source_id: str | None
    source_name: str | None
    fields: list[str]
    purpose: str | None
    detail: str | None = Field(default=None, description="the reference the requester gave, e.g. 案件编号")
    seq: int = Field(description="Position in the log; pass as `before` for the next page")
    entry_id: str
    leaf_hash: str = Field(description="base64; ask /audit/entries/{entry_id}/proof for its inclusion proof")


class AccessLogPage(BaseModel):
    subject: str = Field(description="The citizen, masked")
    items: list[AccessLogItem]
    next_before: int | None = Field(description="`before` for the next (older) page; null on the last page")
