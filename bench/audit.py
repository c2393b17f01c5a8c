"""Audit log cost on PostgreSQL: appends/s, sequencing rate, proof latency and `hub audit verify` at size.

`python -m bench.audit [--entries 100000] [--writers 4] [--bulk 0]`: a scratch database on the local server.
Phase 1: `writers` threads append one entry per transaction (the exchange's shape) while the background
sequencer runs every second. Phase 2: `entries` more appended in bulk as a backlog, then sequenced at once.
Then inclusion and consistency proofs at the final size, and a full verification.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import threading
import time
from datetime import datetime, timedelta, timezone

from bench.site import postgres_admin_url, scratch_postgres
from hub.audit.entries import AuditEvent
from hub.audit.heads import latest_head, root_certificate
from hub.audit.integrity import verify_log
from hub.audit.merkle import consistency_proof, inclusion_path
from hub.audit.runtime import AuditLog
from hub.audit.sequencer import sequence
from hub.audit.sink import TransactionSink, session_info
from hub.audit.store import stored_proof
from hub.core.db import make_engine, make_session_factory
from hub.migrations import upgrade
from hub.trust.service import ensure_hub_keys

PASSPHRASE = b"bench"
T0 = datetime(2026, 11, 21, 4, tzinfo=timezone.utc)


def _event(n: int) -> AuditEvent:
    return AuditEvent(kind="exchange.query", actor="11990100MB0000027F", subject=f"11010519900307{n % 9999:04d}",
                      data={"requester_code": "11990100MB0000027F", "requester_name": "示例市民政局",
                            "source_id": "household.residents", "source_name": "户籍人口信息",
                            "fields": ["name", "household_address"], "purpose": "婚姻登记核验",
                            "request_hash": hashlib.sha256(str(n).encode()).hexdigest(),
                            "response_hash": hashlib.sha256(str(-n).encode()).hexdigest(),
                            "subject_masked": "110105********0244"})


def _clock() -> datetime:
    return datetime.now(timezone.utc)


def concurrent_appends(factory, log: AuditLog, *, entries: int, writers: int) -> float:
    """Append one entry per transaction from several threads, the sequencer running; return appends/s."""
    per = entries // writers

    def write(w: int) -> None:
        for i in range(per):
            with factory() as session:
                TransactionSink(session, log.pepper).append([_event(w * per + i)], now=_clock())
                session.commit()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    start = time.perf_counter()
    log.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rate = per * writers / (time.perf_counter() - start)
    log.stop()
    return rate


def marginal_cost(factory, log: AuditLog, rounds: int = 2000) -> float:
    """Return the microseconds one TransactionSink.append() adds to a transaction that is open anyway (the exchange's case)."""
    with factory() as session:
        TransactionSink(session, log.pepper).append([_event(0)], now=_clock())
        start = time.perf_counter()
        for n in range(rounds):
            TransactionSink(session, log.pepper).append([_event(n)], now=_clock())
        elapsed = time.perf_counter() - start
        session.rollback()
    return elapsed / rounds * 1e6


def backlog(factory, log: AuditLog, *, entries: int) -> tuple[float, float]:
    """Append `entries` in bulk (5,000 per transaction), then sequence them all; return both rates."""
    start = time.perf_counter()
    for lo in range(0, entries, 5000):
        with factory.begin() as session:
            TransactionSink(session, log.pepper).append([_event(n) for n in range(lo, min(entries, lo + 5000))],
                                                        now=T0 + timedelta(microseconds=lo))
    appended = entries / (time.perf_counter() - start)
    start = time.perf_counter()
    sequence(factory, signer=log.signer(), now=_clock())
    return appended, entries / (time.perf_counter() - start)


def proof_latency(factory, size: int, rounds: int = 200) -> tuple[float, float]:
    """Return the mean milliseconds of an inclusion proof and of a consistency proof at `size`."""
    rng = random.Random(7)
    timings = []
    for proof in (lambda n, f: inclusion_path(n - 1, size, f), lambda n, f: consistency_proof(n, size, f)):
        picks = [rng.randrange(1, size) for _ in range(rounds)]
        start = time.perf_counter()
        for n in picks:
            with factory() as session:
                stored_proof(session, lambda fetch: proof(n, fetch))  # noqa: B023 - called before n changes
        timings.append((time.perf_counter() - start) / rounds * 1000)
    return timings[0], timings[1]


def run(url: str, *, entries: int, writers: int, bulk: int) -> list[tuple[str, str]]:
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine, info=session_info(PASSPHRASE))
    with factory.begin() as session:
        ensure_hub_keys(session, passphrase=PASSPHRASE, now=_clock())
    log = AuditLog(factory, passphrase=PASSPHRASE, clock=_clock, interval=1.0)
    rows = []
    try:
        rows.append(("TransactionSink.append() inside an open transaction", f"{marginal_cost(factory, log):,.0f} µs/call"))
        if writers:
            rate = concurrent_appends(factory, log, entries=entries, writers=writers)
            rows.append((f"append, {writers} threads, 1 entry/transaction, sequencer running", f"{rate:,.0f}/s"))
            lag = time.perf_counter()
            log.sequence()
            rows.append(("sequencer catch-up after the writers stop", f"{time.perf_counter() - lag:.2f} s"))
        appended, sequenced = backlog(factory, log, entries=bulk or entries)
        rows.append((f"append in bulk ({bulk or entries:,} entries, 5,000/transaction)", f"{appended:,.0f}/s"))
        rows.append(("sequence a backlog (seq, chain, Merkle nodes, signed head)", f"{sequenced:,.0f} entries/s"))
        with factory() as session:
            size, der = latest_head(session).tree_size, root_certificate(session)
        inclusion, consistency = proof_latency(factory, size)
        rows.append((f"inclusion / consistency proof at {size:,} entries", f"{inclusion:.2f} / {consistency:.2f} ms"))
        start = time.perf_counter()
        with factory() as session:
            report = verify_log(session, root_cert_der=der)
        assert report.ok, report.problem
        rows.append((f"hub audit verify over {report.entries:,} entries",
                     f"{report.entries / (time.perf_counter() - start):,.0f} entries/s"))
    finally:
        engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000, help="entries per phase (default 100,000)")
    parser.add_argument("--writers", type=int, default=4, help="appending threads in phase 1 (0: skip it)")
    parser.add_argument("--bulk", type=int, default=0, help="backlog size of phase 2 (default: --entries)")
    args = parser.parse_args()
    with scratch_postgres(postgres_admin_url()) as url:
        for name, value in run(url, entries=args.entries, writers=args.writers, bulk=args.bulk):
            print(f"{name:<70} {value}")


if __name__ == "__main__":
    main()
