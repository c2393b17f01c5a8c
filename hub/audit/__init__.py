"""The tamper-evident audit log: hash chain, RFC 6962 Merkle tree, signed tree heads.

Append with ``hub.audit.service.record`` / ``record_many`` in the caller's transaction; the sequencer
(``hub.audit.sequencer``, run by ``hub.audit.runtime.AuditLog``) orders committed entries; ``hub audit
verify`` (``hub.audit.integrity.verify_log``) checks the whole log.
"""
