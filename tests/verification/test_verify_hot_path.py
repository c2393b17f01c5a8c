"""What POST /verify's hot path keeps and writes: audit entries prepared the cheap way hash and store exactly what
the general way does, the status lists reload once however many requests find them stale, and the verifier is
kept per trust list."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from hub.audit.entries import AuditEvent, entry_row, rfc3339
from hub.audit.service import TransactionSink
from hub.status.service import StatusCache

NOW = datetime(2026, 11, 21, 4, 0, 0, 120_000, tzinfo=timezone.utc)
PEPPER = bytes(range(32))
DATA = [
    {"license_id": "1.2.156.3005.2.X", "status": "valid", "reason": None, "issuer_code": "11990100MB0000027F"},
    {"b": 1, "a": True, "c": "控制\n\u0001\"\\", "d": 2**70},
    {10: "int keys become strings", 9: {"z": [1, 2.5, None], "a": {"b": -0.0}}},
    {"float": 1e16, "small": 1e-7, "list": ["x", {"k": "v"}], "nested": {"2": 2, "1": 1}},
    {},
]


def _reference_leaf(row: dict) -> bytes:
    """The leaf as docs/ and `hub audit verify` define it, computed with nothing but the standard library."""
    doc = {"id": row["id"], "created_at": row["created_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "kind": row["kind"],
           "actor": row["actor"], "subject_ref": row["subject_ref"], "data": json.loads(row["data"])}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(b"\x00" + text.encode("utf-8")).digest()


@pytest.mark.parametrize("data", DATA)
def test_entry_rows_hash_the_canonical_json_a_reader_parses_back(data):
    row = entry_row(AuditEvent(kind="license.verify", actor="anonymous \"x\"", subject="ab", data=data), NOW, PEPPER)
    parsed = json.loads(row["data"])
    assert row["data"] == json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert row["leaf_hash"] == _reference_leaf(row)
    assert row["subject_ref"] == hmac.new(PEPPER, b"AB", hashlib.sha256).hexdigest()


@pytest.mark.parametrize("moment", [NOW, NOW.replace(microsecond=0), datetime(999, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
                                    datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=8)))])
def test_rfc3339_writes_what_strftime_writes(moment):
    assert rfc3339(moment) == moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_queued_entries_are_stored_as_the_transaction_sink_stores_them(hub):
    services = hub.app.state.services
    event = AuditEvent(kind="license.verify", actor="anonymous", subject="350102199001010199", data=DATA[0])
    queued = services.audit.queue.append([event], now=NOW)[0]
    services.audit.queue.flush()
    with services.session_factory.begin() as session:
        direct = TransactionSink(session).append([event], now=NOW)[0]
    columns = "created_at, kind, actor, subject_ref, data, leaf_hash"
    with services.session_factory() as session:
        stored = {ref.id: session.execute(sa.text(f"SELECT {columns} FROM audit_entries WHERE id = :id"),
                                          {"id": ref.id}).one() for ref in (queued, direct)}
    assert stored[queued.id][:5] == stored[direct.id][:5]  # the same text, time and subject in the same form
    for ref in (queued, direct):
        assert bytes(stored[ref.id][5]) == base64.b64decode(ref.leaf_hash)
    assert type(stored[queued.id][5]) is type(stored[direct.id][5])
    services.audit.sequence()
    assert services.audit.queue.flush() == 0


class _CountingFactory:
    """A session factory that counts the sessions it opens."""

    def __init__(self, factory) -> None:
        self.factory, self.opened, self._lock = factory, 0, threading.Lock()

    def __call__(self):
        with self._lock:
            self.opened += 1
        return self.factory()


def _cache(hub, factory) -> StatusCache:
    return StatusCache(factory, passphrase=hub.settings.passphrase(), base_url=hub.settings.public_url,
                       clock=hub.clock, ttl=3600)


def test_requests_that_find_the_lists_stale_share_one_reload(hub):
    factory = _CountingFactory(hub.app.state.services.session_factory)
    cache = _cache(hub, factory)
    start = threading.Barrier(8)

    def request() -> None:
        start.wait()
        cache.lists()

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert factory.opened == 1


def test_held_lists_are_served_while_one_reload_runs_ahead(hub):
    factory = _CountingFactory(hub.app.state.services.session_factory)
    cache = _cache(hub, factory)
    assert cache.held() is None  # nothing loaded yet: the caller reloads, blocking
    first = cache.lists()
    assert cache.held() is first and factory.opened == 1  # fresh and not yet due: no reload
    cache._loaded_at -= 3600 * 0.9  # past the share of the ttl after which a reload starts ahead
    assert cache.held() is not None  # answered at once (from the copy held, or the new one if already swapped in)
    with cache._ahead:  # the reload ahead has finished
        pass
    assert factory.opened == 2 and cache.held() is not first


def test_the_verifier_is_kept_until_the_trust_list_changes(hub):
    trust = hub.app.state.services.trust
    verifier = trust.verifier()
    assert trust.verifier() is verifier and verifier.trust is trust.trust()
    trust.invalidate()
    assert trust.verifier() is not verifier
