"""The audit log: appends ride the caller's transaction, one strict order, signed tree heads, and RFC 6962
proofs checked by an independent verifier (tests/support/audit_log.py)."""

from __future__ import annotations

import base64
import json
import threading
from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hub.audit.integrity import verify_log
from hub.audit.service import TransactionSink
from hub.audit.tables import AuditEntry
from tests.conftest import root_der
from tests.support.audit_log import (
    ALICE, BOB, CIVIL, T0, canonical_leaf, check_consistency, check_inclusion, mth, query_event, record,
)


def _b(text: str) -> bytes:
    return base64.b64decode(text)


def _leaves(factory, size: int) -> list[bytes]:
    with factory() as session:
        rows = session.execute(sa.select(AuditEntry.seq, AuditEntry.leaf_hash).where(AuditEntry.seq < size)
                               .order_by(AuditEntry.seq)).all()
    assert [seq for seq, _ in rows] == list(range(size))
    return [leaf for _, leaf in rows]


def _tree_head(hub) -> dict:
    response = hub.client.get("/audit/tree-head")
    assert response.status_code == 200, response.text
    return response.json()


# --- Appending, sequencing, proofs ---------------------------------------------------------------------

def test_tree_head_is_signed_by_the_root_published_in_the_trust_list(hub):
    record(hub, [query_event(CIVIL, ALICE, n) for n in range(5)])
    head = _tree_head(hub)
    signed = hub.client.get("/trust-list").text
    root = x509.load_der_x509_certificate(base64.b64decode(jwt.get_unverified_header(signed)["x5c"][0]))
    assert root.public_bytes(serialization.Encoding.DER) == root_der(hub)
    decoded = jwt.PyJWS().decode_complete(head["signature"], key=root.public_key(), algorithms=["ES256"])
    assert decoded["header"]["typ"] == "tree-head+jwt"
    claims = json.loads(decoded["payload"])
    assert claims == {"tree_size": head["tree_size"], "root_hash": head["root_hash"], "timestamp": head["timestamp"]}
    assert head["tree_size"] >= 5
    assert mth(_leaves(hub.app.state.services.session_factory, head["tree_size"])) == _b(head["root_hash"])


def test_leaf_hash_is_sha256_of_the_canonical_entry(hub):
    ref = record(hub, [query_event(CIVIL, ALICE)])[0]
    with hub.app.state.services.session_factory() as session:
        row = session.get(AuditEntry, ref.id)
    data = json.loads(row.data)
    assert ALICE not in row.data and row.subject_ref and ALICE not in row.subject_ref
    expected = canonical_leaf(row.id, row.created_at, row.kind, row.actor, row.subject_ref, data)
    assert row.leaf_hash == expected and _b(ref.leaf_hash) == expected


def test_inclusion_proofs_verify_against_the_signed_root(hub):
    refs = record(hub, [query_event(CIVIL, BOB, n) for n in range(37)])
    head = _tree_head(hub)
    operator = hub.operator_headers()
    for ref in (refs[0], refs[1], refs[18], refs[-2], refs[-1]):
        proof = hub.client.get(f"/audit/entries/{ref.id}/proof", headers=operator)
        assert proof.status_code == 200, proof.text
        body = proof.json()
        assert body["leaf_hash"] == ref.leaf_hash and body["tree_size"] == head["tree_size"]
        assert body["tree_head"] == head
        path = [_b(p) for p in body["audit_path"]]
        assert check_inclusion(body["leaf_index"], body["tree_size"], _b(ref.leaf_hash), path, _b(head["root_hash"]))
        assert not check_inclusion(body["leaf_index"] ^ 1, body["tree_size"], _b(ref.leaf_hash), path,
                                    _b(head["root_hash"]))


def test_inclusion_proof_for_an_older_tree_size(hub):
    ref = record(hub, [query_event(CIVIL, BOB)])[0]
    head = _tree_head(hub)
    record(hub, [query_event(CIVIL, BOB, n) for n in range(9)])
    assert _tree_head(hub)["tree_size"] == head["tree_size"] + 9
    proof = hub.client.get(f"/audit/entries/{ref.id}/proof?tree_size={head['tree_size']}",
                           headers=hub.operator_headers()).json()
    assert proof["tree_head"] == head
    assert check_inclusion(proof["leaf_index"], head["tree_size"], _b(ref.leaf_hash),
                            [_b(p) for p in proof["audit_path"]], _b(head["root_hash"]))


def test_consistency_proofs_verify_between_tree_sizes(hub):
    record(hub, [query_event(CIVIL, ALICE, n) for n in range(3)])
    first = _tree_head(hub)
    record(hub, [query_event(CIVIL, ALICE, n) for n in range(21)])
    second = _tree_head(hub)
    leaves = _leaves(hub.app.state.services.session_factory, second["tree_size"])
    pairs = [(first["tree_size"], second["tree_size"]), (1, second["tree_size"]), (4, 8), (7, 8), (6, 13),
             (8, second["tree_size"]), (second["tree_size"], second["tree_size"]), (5, first["tree_size"])]
    for m, n in pairs:
        response = hub.client.get(f"/audit/consistency?first={m}&second={n}")
        assert response.status_code == 200, response.text
        proof = [_b(p) for p in response.json()["consistency"]]
        assert check_consistency(m, n, mth(leaves[:m]), mth(leaves[:n]), proof), (m, n)
    assert mth(leaves[:first["tree_size"]]) == _b(first["root_hash"])
    assert mth(leaves) == _b(second["root_hash"])


@pytest.mark.parametrize("query", ["first=0&second=3", "first=5&second=3", "first=1&second=99999999",
                                   "first=x&second=2", "second=2", "first=1&second=99999999999999999999999"])
def test_bad_consistency_parameters_are_refused(hub, query):
    record(hub, [query_event(CIVIL, ALICE)])
    response = hub.client.get(f"/audit/consistency?{query}")
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_bad_proof_parameters_are_refused(hub):
    ref = record(hub, [query_event(CIVIL, ALICE)])[0]
    size = _tree_head(hub)["tree_size"]
    operator = hub.operator_headers()
    index = hub.client.get(f"/audit/entries/{ref.id}/proof", headers=operator).json()["leaf_index"]
    for tree_size, status in ((size + 1, 400), (index, 400), (index + 1, 200), (0, 422), ("abc", 422),
                              (10**30, 422)):
        response = hub.client.get(f"/audit/entries/{ref.id}/proof?tree_size={tree_size}", headers=operator)
        assert response.status_code == status, (tree_size, response.text)
    assert hub.client.get("/audit/entries/" + "f" * 32 + "/proof", headers=operator).status_code == 404
    assert hub.client.get("/audit/entries/" + "f" * 300 + "/proof", headers=operator).status_code == 422
    assert hub.client.get(f"/audit/entries/{ref.id}/proof").status_code == 401


def test_rolled_back_transaction_leaves_no_entry(hub):
    size = _tree_head(hub)["tree_size"]
    with hub.app.state.services.session_factory() as session:
        (ref,) = TransactionSink(session, hub.app.state.services.audit.pepper).append([query_event(CIVIL, ALICE)], now=T0)
        session.flush()
        session.rollback()
    assert _tree_head(hub)["tree_size"] == size
    with hub.app.state.services.session_factory() as session:
        assert session.get(AuditEntry, ref.id) is None


def test_concurrent_writers_and_sequencers_give_one_contiguous_order(hub):
    factory, log = hub.app.state.services.session_factory, hub.app.state.services.audit
    written: list[str] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def writer(n: int) -> None:
        try:
            for i in range(60):
                with factory() as session:
                    refs = TransactionSink(session, log.pepper).append([query_event(CIVIL, BOB, i)] * (1 + i % 3),
                                                                       now=T0 + timedelta(microseconds=n * 1000 + i))
                    session.commit()
                written.extend(r.id for r in refs)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def sequencer() -> None:
        while not done.is_set():
            try:
                log.sequence()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return

    # Two sequencers besides the app's own thread: without the lock they would both number the same entries.
    sequencers = [threading.Thread(target=sequencer) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    for thread in writers + sequencers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    for thread in sequencers:
        thread.join()
    assert errors == []
    log.sequence()
    with factory() as session:
        seqs = session.scalars(sa.select(AuditEntry.seq).order_by(AuditEntry.seq)).all()
        ours = session.scalars(sa.select(AuditEntry.seq).where(AuditEntry.id.in_(written))).all()
        report = verify_log(session, root_cert_der=root_der(hub))
    assert seqs == list(range(len(seqs))) and len(ours) == len(written) == 240 and None not in ours
    assert report.ok, report.problem
    assert report.entries == len(seqs) == _tree_head(hub)["tree_size"]


def test_entry_left_pending_by_a_blocked_sequencer_is_a_conflict(hub):
    size = _tree_head(hub)["tree_size"]
    forged = {"id": "f0" * 16, "created_at": T0, "kind": "x.forged", "actor": "x", "data": "{}",
              "leaf_hash": bytes(32), "seq": size}
    with hub.app.state.services.engine.begin() as conn:  # takes the next seq: the sequencer cannot proceed
        conn.execute(sa.insert(AuditEntry.__table__), forged)
    try:
        ref = record(hub, [query_event(CIVIL, ALICE)])[0]
        response = hub.client.get(f"/audit/entries/{ref.id}/proof", headers=hub.operator_headers())
        assert response.status_code == 409, response.text
        assert response.json()["type"] == "urn:hub:problem:audit_entry_pending"
    finally:
        with hub.app.state.services.engine.begin() as conn:
            conn.execute(sa.delete(AuditEntry.__table__).where(AuditEntry.id == forged["id"]))
    assert hub.client.get(f"/audit/entries/{ref.id}/proof", headers=hub.operator_headers()).status_code == 200


# --- Who may see what ----------------------------------------------------------------------------------
