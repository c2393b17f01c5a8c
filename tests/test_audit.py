"""The audit log: appends ride the caller's transaction, one strict order, RFC 6962 proofs checked by an
independent verifier, signed tree heads, the citizen's access log, and `hub audit verify` naming tampering."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import jwt
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from hub.audit.heads import TreeHeadSigner, root_certificate
from hub.audit.integrity import verify_log
from hub.audit.sequencer import sequence
from hub.audit.service import AuditEvent, TransactionSink
from hub.audit.tables import AuditEntry
from hub.cli import app as hub_cli
from hub.core.db import make_engine, make_session_factory
from hub.core.national_ids import make_resident_id, mask_resident_id
from hub.migrations import upgrade
from hub.trust.service import ensure_hub_keys
from tests.conftest import ROOT, bearer, citizen_headers, make_settings, root_der

ALICE = make_resident_id("110105", date(1990, 3, 7), 12, "F")
BOB = make_resident_id("310104", date(1985, 11, 30), 3, "M")
T0 = datetime(2026, 11, 21, 4, 0, tzinfo=timezone.utc)


# --- An independent RFC 6962 / RFC 9162 checker: a few lines, none of the hub's code --------------------

def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _mth(leaves: list[bytes]) -> bytes:
    """MTH of RFC 6962 §2.1 over leaf hashes, straight from the definition."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return _h(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def _check_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _h(b"\x01" + p + r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _h(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def _check_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]) -> bool:
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
            fr, sr = _h(b"\x01" + c + fr), _h(b"\x01" + c + sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _h(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


def _canonical_leaf(entry_id, created_at, kind, actor, subject_ref, data: dict) -> bytes:
    doc = {"id": entry_id, "created_at": created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "kind": kind,
           "actor": actor, "subject_ref": subject_ref, "data": data}
    return _h(b"\x00" + json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())


def _b(text: str) -> bytes:
    return base64.b64decode(text)


# --- Helpers -------------------------------------------------------------------------------------------

def _query_event(requester: tuple[str, str], subject: str, n: int = 0) -> AuditEvent:
    code, name = requester
    return AuditEvent(kind="exchange.query", actor=code, subject=subject, data={
        "requester_code": code, "requester_name": name, "source_id": "household.residents",
        "source_name": "户籍人口信息", "fields": ["name", "household_address"], "purpose": f"婚姻登记核验 #{n}",
        "request_hash": "r" * 8, "response_hash": "s" * 8, "subject_masked": mask_resident_id(subject)})


CIVIL = ("11990100MB0000027F", "示例市民政局")


def _record(hub, events: list[AuditEvent], now: datetime = T0) -> list:
    with hub.app.state.services.session_factory() as session:
        refs = TransactionSink(session, hub.app.state.services.audit.pepper).append(events, now=now)
        session.commit()
    return refs


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
    _record(hub, [_query_event(CIVIL, ALICE, n) for n in range(5)])
    head = _tree_head(hub)
    signed = hub.client.get("/trust-list").text
    root = x509.load_der_x509_certificate(base64.b64decode(jwt.get_unverified_header(signed)["x5c"][0]))
    assert root.public_bytes(serialization.Encoding.DER) == root_der(hub)
    decoded = jwt.PyJWS().decode_complete(head["signature"], key=root.public_key(), algorithms=["ES256"])
    assert decoded["header"]["typ"] == "tree-head+jwt"
    claims = json.loads(decoded["payload"])
    assert claims == {"tree_size": head["tree_size"], "root_hash": head["root_hash"], "timestamp": head["timestamp"]}
    assert head["tree_size"] >= 5
    assert _mth(_leaves(hub.app.state.services.session_factory, head["tree_size"])) == _b(head["root_hash"])


def test_leaf_hash_is_sha256_of_the_canonical_entry(hub):
    ref = _record(hub, [_query_event(CIVIL, ALICE)])[0]
    with hub.app.state.services.session_factory() as session:
        row = session.get(AuditEntry, ref.id)
    data = json.loads(row.data)
    assert ALICE not in row.data and row.subject_ref and ALICE not in row.subject_ref
    expected = _canonical_leaf(row.id, row.created_at, row.kind, row.actor, row.subject_ref, data)
    assert row.leaf_hash == expected and _b(ref.leaf_hash) == expected


def test_inclusion_proofs_verify_against_the_signed_root(hub):
    refs = _record(hub, [_query_event(CIVIL, BOB, n) for n in range(37)])
    head = _tree_head(hub)
    operator = hub.operator_headers()
    for ref in (refs[0], refs[1], refs[18], refs[-2], refs[-1]):
        proof = hub.client.get(f"/audit/entries/{ref.id}/proof", headers=operator)
        assert proof.status_code == 200, proof.text
        body = proof.json()
        assert body["leaf_hash"] == ref.leaf_hash and body["tree_size"] == head["tree_size"]
        assert body["tree_head"] == head
        path = [_b(p) for p in body["audit_path"]]
        assert _check_inclusion(body["leaf_index"], body["tree_size"], _b(ref.leaf_hash), path, _b(head["root_hash"]))
        assert not _check_inclusion(body["leaf_index"] ^ 1, body["tree_size"], _b(ref.leaf_hash), path,
                                    _b(head["root_hash"]))


def test_inclusion_proof_for_an_older_tree_size(hub):
    ref = _record(hub, [_query_event(CIVIL, BOB)])[0]
    head = _tree_head(hub)
    _record(hub, [_query_event(CIVIL, BOB, n) for n in range(9)])
    assert _tree_head(hub)["tree_size"] == head["tree_size"] + 9
    proof = hub.client.get(f"/audit/entries/{ref.id}/proof?tree_size={head['tree_size']}",
                           headers=hub.operator_headers()).json()
    assert proof["tree_head"] == head
    assert _check_inclusion(proof["leaf_index"], head["tree_size"], _b(ref.leaf_hash),
                            [_b(p) for p in proof["audit_path"]], _b(head["root_hash"]))


def test_consistency_proofs_verify_between_tree_sizes(hub):
    _record(hub, [_query_event(CIVIL, ALICE, n) for n in range(3)])
    first = _tree_head(hub)
    _record(hub, [_query_event(CIVIL, ALICE, n) for n in range(21)])
    second = _tree_head(hub)
    leaves = _leaves(hub.app.state.services.session_factory, second["tree_size"])
    pairs = [(first["tree_size"], second["tree_size"]), (1, second["tree_size"]), (4, 8), (7, 8), (6, 13),
             (8, second["tree_size"]), (second["tree_size"], second["tree_size"]), (5, first["tree_size"])]
    for m, n in pairs:
        response = hub.client.get(f"/audit/consistency?first={m}&second={n}")
        assert response.status_code == 200, response.text
        proof = [_b(p) for p in response.json()["consistency"]]
        assert _check_consistency(m, n, _mth(leaves[:m]), _mth(leaves[:n]), proof), (m, n)
    assert _mth(leaves[:first["tree_size"]]) == _b(first["root_hash"])
    assert _mth(leaves) == _b(second["root_hash"])


@pytest.mark.parametrize("query", ["first=0&second=3", "first=5&second=3", "first=1&second=99999999",
                                   "first=x&second=2", "second=2", "first=1&second=99999999999999999999999"])
def test_bad_consistency_parameters_are_refused(hub, query):
    _record(hub, [_query_event(CIVIL, ALICE)])
    response = hub.client.get(f"/audit/consistency?{query}")
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_bad_proof_parameters_are_refused(hub):
    ref = _record(hub, [_query_event(CIVIL, ALICE)])[0]
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
        (ref,) = TransactionSink(session, hub.app.state.services.audit.pepper).append([_query_event(CIVIL, ALICE)], now=T0)
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
                    refs = TransactionSink(session, log.pepper).append([_query_event(CIVIL, BOB, i)] * (1 + i % 3),
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
        ref = _record(hub, [_query_event(CIVIL, ALICE)])[0]
        response = hub.client.get(f"/audit/entries/{ref.id}/proof", headers=hub.operator_headers())
        assert response.status_code == 409, response.text
        assert response.json()["type"] == "urn:hub:problem:audit_entry_pending"
    finally:
        with hub.app.state.services.engine.begin() as conn:
            conn.execute(sa.delete(AuditEntry.__table__).where(AuditEntry.id == forged["id"]))
    assert hub.client.get(f"/audit/entries/{ref.id}/proof", headers=hub.operator_headers()).status_code == 200


# --- Who may see what ----------------------------------------------------------------------------------

def test_proof_is_shown_to_the_operator_the_acting_department_and_the_citizen_only(hub, departments):
    civil, police = departments["civil"], departments["police"]
    ref = _record(hub, [_query_event((civil["code"], civil["name"]), ALICE)])[0]
    path = f"/audit/entries/{ref.id}/proof"
    allowed = [hub.operator_headers(), bearer(hub, civil), citizen_headers(hub, ALICE)]
    for headers in allowed:
        assert hub.client.get(path, headers=headers).status_code == 200
    unknown = hub.client.get("/audit/entries/" + "0" * 32 + "/proof", headers=bearer(hub, police))
    for headers in (bearer(hub, police), citizen_headers(hub, BOB)):
        hidden = hub.client.get(path, headers=headers)
        assert hidden.status_code == 404
        assert hidden.json()["detail"] == unknown.json()["detail"]  # existence is not revealed


def test_citizen_sees_only_queries_about_them_masked_newest_first(hub):
    carol = make_resident_id("440305", date(2001, 1, 9), 40, "F")
    dave = make_resident_id("440305", date(2001, 1, 9), 41, "M")
    labour = ("11990100MB00000510", "示例市人力资源和社会保障局")
    events = [_query_event(CIVIL, carol, 1), _query_event(labour, dave, 2), _query_event(labour, carol, 3),
              AuditEvent(kind="consent.decision", actor="citizen:x", subject=carol, data={"decision": "approved"}),
              _query_event(CIVIL, carol, 4)]
    refs = [_record(hub, [event], T0 + timedelta(seconds=n))[0] for n, event in enumerate(events)]
    response = hub.client.get("/me/access-log", headers=citizen_headers(hub, carol))
    assert response.status_code == 200, response.text
    page = response.json()
    assert [item["entry_id"] for item in page["items"]] == [refs[4].id, refs[2].id, refs[0].id]
    assert page["subject"] == mask_resident_id(carol) and carol not in response.text
    first = page["items"][0]
    assert first["requester_code"] == CIVIL[0] and first["requester_name"] == CIVIL[1]
    assert first["fields"] == ["name", "household_address"] and first["purpose"] == "婚姻登记核验 #4"
    assert first["source_id"] == "household.residents" and first["leaf_hash"] == refs[4].leaf_hash
    assert first["time"] == "2026-11-21T04:00:04.000000Z"
    others = hub.client.get("/me/access-log", headers=citizen_headers(hub, dave)).json()
    assert [item["entry_id"] for item in others["items"]] == [refs[1].id]


def test_access_log_pages_with_before(hub):
    erin = make_resident_id("500101", date(1970, 6, 1), 7, "F")
    refs = [_record(hub, [_query_event(CIVIL, erin, n)], T0 + timedelta(minutes=n))[0] for n in range(5)]
    headers = citizen_headers(hub, erin)
    seen, before = [], None
    for _ in range(3):
        query = "?limit=2" + (f"&before={before}" if before is not None else "")
        page = hub.client.get("/me/access-log" + query, headers=headers).json()
        seen += [item["entry_id"] for item in page["items"]]
        before = page["next_before"]
    assert seen == [ref.id for ref in reversed(refs)] and before is None
    for query in ("?limit=0", "?limit=201", "?before=-1", "?before=x"):
        assert hub.client.get("/me/access-log" + query, headers=headers).status_code == 422


def test_access_log_needs_a_citizen_token(hub, departments):
    assert hub.client.get("/me/access-log").status_code == 401
    assert hub.client.get("/me/access-log", headers=bearer(hub, departments["civil"])).status_code == 403
    assert hub.client.get("/me/access-log", headers=hub.operator_headers()).status_code == 403


# --- Tampering behind the hub's back -------------------------------------------------------------------

@dataclass
class Scratch:
    """A fresh database of the hub fixture's backend holding a 60-entry log with heads at 16, 32, 48, 60."""

    url: str
    engine: sa.Engine
    root_der: bytes
    var_dir: Path

    def run(self, sql: str, **params) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(sql), params)

    def insert(self, entry: dict) -> None:
        with self.engine.begin() as conn:  # Core, not the hub's code: just the column types
            conn.execute(sa.insert(AuditEntry.__table__), entry)

    def row(self, seq: int) -> dict:
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT * FROM audit_entries WHERE seq = :s"), {"s": seq}).mappings().one())

    def verify(self):
        with make_session_factory(self.engine)() as session:
            return verify_log(session, root_cert_der=self.root_der, chunk=7)

    def cli(self, *args: str):
        env = {"HUB_DATABASE_URL": self.url, "HUB_VAR_DIR": str(self.var_dir)}
        return CliRunner().invoke(hub_cli, ["audit", "verify", *args], env=env)


@pytest.fixture
def scratch(hub, tmp_path, request) -> Scratch:
    settings = make_settings(hub.backend, tmp_path, request)
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        ensure_hub_keys(session, passphrase=b"scratch", now=T0)
    with factory() as session:
        signer, der = TreeHeadSigner.load(session, b"scratch"), root_certificate(session)
    pepper = hashlib.sha256(b"scratch pepper").digest()
    for batch in range(4):
        with factory.begin() as session:
            TransactionSink(session, pepper).append(
                [_query_event(CIVIL, ALICE, batch * 16 + i) for i in range(16 if batch < 3 else 12)],
                now=T0 + timedelta(seconds=batch))
        sequence(factory, signer=signer, now=T0 + timedelta(seconds=batch), batch_size=16)
    yield Scratch(settings.resolved_database_url(), engine, der, tmp_path / "var")
    engine.dispose()


def _naive_entry(scratch: Scratch, seq: int, prev: bytes) -> dict:
    """A forged entry whose own hashes are right: leaf over its content, chain over the previous entry."""
    entry = {"id": "ab" * 16, "created_at": T0, "kind": "exchange.query", "actor": CIVIL[0], "subject_ref": None,
             "data": json.dumps({"purpose": "forged"})}
    leaf = _canonical_leaf(entry["id"], T0, entry["kind"], entry["actor"], None, {"purpose": "forged"})
    return entry | {"leaf_hash": leaf, "seq": seq, "prev_hash": prev, "chain_hash": _h(prev + leaf)}


def _edit(s: Scratch) -> None:
    s.run("UPDATE audit_entries SET data = :d WHERE seq = 41", d=json.dumps({"purpose": "nothing to see"}))


def _edit_and_rehash_leaf(s: Scratch) -> None:
    row = s.row(41)
    data = {"purpose": "nothing to see"}
    leaf = _canonical_leaf(row["id"], T0 + timedelta(seconds=2), row["kind"], row["actor"], row["subject_ref"], data)
    s.run("UPDATE audit_entries SET data = :d, leaf_hash = :l WHERE seq = 41", d=json.dumps(data), l=leaf)


def _delete(s: Scratch) -> None:
    s.run("DELETE FROM audit_entries WHERE seq = 41")


def _delete_last(s: Scratch) -> None:
    s.run("DELETE FROM audit_entries WHERE seq = 59")


def _insert(s: Scratch) -> None:
    s.run("UPDATE audit_entries SET seq = seq + 1000 WHERE seq >= 42")
    s.run("UPDATE audit_entries SET seq = seq - 999 WHERE seq >= 1000")
    s.insert(_naive_entry(s, 42, s.row(41)["chain_hash"]))


def _append(s: Scratch) -> None:
    s.insert(_naive_entry(s, 60, s.row(59)["chain_hash"]))


def _swap(s: Scratch) -> None:
    s.run("UPDATE audit_entries SET seq = 1000 WHERE seq = 10")
    s.run("UPDATE audit_entries SET seq = 10 WHERE seq = 11")
    s.run("UPDATE audit_entries SET seq = 11 WHERE seq = 1000")


@pytest.mark.parametrize("tamper, seq, words", [
    (_edit, 41, "entry 41 (id {id}) was edited: leaf hash does not match its content"),
    (_edit_and_rehash_leaf, 41, "entry 41 (id {id}) was edited: chain hash does not match"),
    (_delete, 41, "entry 41 is missing (deleted)"),
    (_delete_last, 59, "entry 59 is missing (deleted from the end)"),
    (_insert, 42, "entry 42 (id abababababababababababababababab) was inserted"),
    (_append, 60, "entry 60 (id abababababababababababababababab) is not covered by any signed tree head"),
    (_swap, 10, "an entry was inserted, deleted or moved before entry 10"),
], ids=lambda v: v.__name__.strip("_") if callable(v) else None)
def test_verify_names_the_first_tampered_entry(scratch, tamper, seq, words):
    entry_id = scratch.row(seq)["id"] if seq < 60 and tamper is not _delete_last and tamper is not _delete else ""
    assert scratch.verify().ok
    tamper(scratch)
    report = scratch.verify()
    assert not report.ok and report.bad_seq == seq
    assert words.format(id=entry_id) in report.problem, report.problem
    result = scratch.cli()
    assert result.exit_code == 1 and words.format(id=entry_id) in result.output, result.output


def test_untampered_log_verifies_from_the_command_line(scratch):
    report = scratch.verify()
    assert report.ok and report.entries == 60 and report.tree_size == 60
    result = scratch.cli()
    assert result.exit_code == 0, result.output
    assert f"OK: 60 entries, root {base64.b64encode(report.root_hash).decode()}" in result.output


def test_a_head_signed_by_another_root_is_refused(scratch, hub, tmp_path):
    pinned = tmp_path / "root.der"
    pinned.write_bytes(root_der(hub))  # the module's hub, not the one that signed this log
    result = scratch.cli("--root-cert", str(pinned))
    assert result.exit_code == 1 and "not validly signed by the root" in result.output


def test_hub_audit_verify_exits_1_as_a_process(scratch):
    _delete(scratch)
    env = os.environ | {"HUB_DATABASE_URL": scratch.url, "HUB_VAR_DIR": str(scratch.var_dir)}
    done = subprocess.run([sys.executable, "-m", "hub.cli", "audit", "verify"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "entry 41 is missing (deleted)" in done.stdout


def test_a_forger_who_recomputes_every_hash_is_caught_by_the_signed_heads(scratch):
    table = AuditEntry.__table__
    with scratch.engine.begin() as conn:
        rows = conn.execute(sa.select(table).where(table.c.seq >= 40).order_by(table.c.seq)).mappings().all()
        chain = rows[0]["chain_hash"]
        for row in rows[1:]:
            data = json.loads(row["data"]) | ({"purpose": "nothing to see"} if row["seq"] == 41 else {})
            leaf = _canonical_leaf(row["id"], row["created_at"], row["kind"], row["actor"], row["subject_ref"], data)
            prev, chain = chain, _h(chain + leaf)
            conn.execute(sa.update(table).where(table.c.id == row["id"]).values(
                data=json.dumps(data), leaf_hash=leaf, prev_hash=prev, chain_hash=chain))
    report = scratch.verify()
    assert not report.ok and "the signed tree head of size 48 does not match" in report.problem
    assert "one of entries 32 to 47 was changed" in report.problem
    with scratch.engine.connect() as conn:
        leaves = conn.execute(sa.select(table.c.leaf_hash).order_by(table.c.seq)).scalars().all()
    scratch.run("UPDATE audit_tree_heads SET root_hash = :r WHERE tree_size = 60", r=_mth(leaves))
    report = scratch.verify()
    assert not report.ok and "the latest tree head (size 60) was edited" in report.problem
