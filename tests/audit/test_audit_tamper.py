"""Tampering behind the hub's back: `hub audit verify` names the first tampered entry, and a forger who
recomputes every hash is caught by the signed tree heads."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from hub.audit.heads import TreeHeadSigner, root_certificate
from hub.audit.integrity import verify_log
from hub.audit.sequencer import sequence
from hub.audit.service import TransactionSink
from hub.audit.tables import AuditEntry
from hub.cli import app as hub_cli
from hub.core.db import make_engine, make_session_factory
from hub.migrations import upgrade
from hub.trust.service import ensure_hub_keys
from tests.conftest import ROOT, make_settings, root_der
from tests.support.audit_log import ALICE, CIVIL, T0, canonical_leaf, mth, query_event, sha256


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
                [query_event(CIVIL, ALICE, batch * 16 + i) for i in range(16 if batch < 3 else 12)],
                now=T0 + timedelta(seconds=batch))
        sequence(factory, signer=signer, now=T0 + timedelta(seconds=batch), batch_size=16)
    yield Scratch(settings.resolved_database_url(), engine, der, tmp_path / "var")
    engine.dispose()


def _naive_entry(scratch: Scratch, seq: int, prev: bytes) -> dict:
    """A forged entry whose own hashes are right: leaf over its content, chain over the previous entry."""
    entry = {"id": "ab" * 16, "created_at": T0, "kind": "exchange.query", "actor": CIVIL[0], "subject_ref": None,
             "data": json.dumps({"purpose": "forged"})}
    leaf = canonical_leaf(entry["id"], T0, entry["kind"], entry["actor"], None, {"purpose": "forged"})
    return entry | {"leaf_hash": leaf, "seq": seq, "prev_hash": prev, "chain_hash": sha256(prev + leaf)}


def _edit(s: Scratch) -> None:
    s.run("UPDATE audit_entries SET data = :d WHERE seq = 41", d=json.dumps({"purpose": "nothing to see"}))


def _edit_and_rehash_leaf(s: Scratch) -> None:
    row = s.row(41)
    data = {"purpose": "nothing to see"}
    leaf = canonical_leaf(row["id"], T0 + timedelta(seconds=2), row["kind"], row["actor"], row["subject_ref"], data)
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
            leaf = canonical_leaf(row["id"], row["created_at"], row["kind"], row["actor"], row["subject_ref"], data)
            prev, chain = chain, sha256(chain + leaf)
            conn.execute(sa.update(table).where(table.c.id == row["id"]).values(
                data=json.dumps(data), leaf_hash=leaf, prev_hash=prev, chain_hash=chain))
    report = scratch.verify()
    assert not report.ok and "the signed tree head of size 48 does not match" in report.problem
    assert "one of entries 32 to 47 was changed" in report.problem
    with scratch.engine.connect() as conn:
        leaves = conn.execute(sa.select(table.c.leaf_hash).order_by(table.c.seq)).scalars().all()
    scratch.run("UPDATE audit_tree_heads SET root_hash = :r WHERE tree_size = 60", r=mth(leaves))
    report = scratch.verify()
    assert not report.ok and "the latest tree head (size 60) was edited" in report.problem
