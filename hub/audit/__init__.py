"""The tamper-evident audit log: hash chain, RFC 6962 Merkle tree, signed tree heads.

Append through a sink (``hub.audit.sink``: in the caller's transaction, group-committed, or queued); the sequencer
(``hub.audit.sequencer``, run by ``hub.audit.runtime.AuditLog``) orders committed entries; ``hub audit
verify`` (``hub.audit.integrity.verify_log``) checks the whole log.
"""
