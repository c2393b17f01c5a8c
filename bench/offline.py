"""In-process figures: the demo license's QR size and offline verification (one Verifier) against raw signature checks."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from time import perf_counter

from bench.ui import Tick
from hub.licenses.printing.qrimage import qr_version
from license_verifier.algorithms import verify_raw
from license_verifier.qr import decode_qr, sig_structure
from license_verifier.trustlist import TrustList
from license_verifier.verdict import Status
from license_verifier.verifier import Verifier, verify

BATCH = 200  # calls between clock reads and progress updates
ROUNDS = 3  # interleaved rounds: the best round of each workload is kept, which damps other processes' noise


@dataclass(frozen=True)
class QRSize:
    """How big the demo business license's QR code is at error correction M."""

    version: int
    modules: int
    characters: int


@dataclass(frozen=True)
class OfflineRates:
    """Calls per second of the offline verifier and of its parts, measured in one run."""

    alg: str
    verify: float
    raw_signature: float
    decode: float

    @property
    def ratio(self) -> float:
        """Return verify() throughput as a fraction of raw signature verification."""
        return self.verify / self.raw_signature


def qr_size(qr_text: str) -> QRSize:
    """Measure the QR version, module count (17 + 4·version) and text length of qr_text."""
    version = qr_version(qr_text)
    return QRSize(version=version, modules=17 + 4 * version, characters=len(qr_text))


def calls_per_second(call: Callable[[], object], seconds: float, tick: Tick, done: float = 0.0) -> float:
    """Call call() in batches for about seconds of measured time; tick(done + elapsed) between batches."""
    gc.collect()
    calls, spent = 0, 0.0
    while spent < seconds:
        start = perf_counter()
        for _ in range(BATCH):
            call()
        spent += perf_counter() - start
        calls += BATCH
        tick(done + spent)
    return calls / spent


def check_sample(qr_text: str, trust: TrustList, now: datetime) -> None:
    """Refuse to time a QR that does not verify as valid."""
    result = verify(qr_text, trust, now)
    if result.status is not Status.VALID:
        raise RuntimeError(f"the demo QR does not verify: {result.status} ({result.reason})")


def workloads(qr_text: str, trust: TrustList) -> dict[str, Callable[[], object]]:
    """Return the raw signature check, verify() and decode_qr() on the same QR, ready to call."""
    now = datetime.now(timezone.utc)
    check_sample(qr_text, trust, now)
    verifier = Verifier(trust)  # as a counter keeps one per trust list
    decoded = decode_qr(qr_text)
    issuer = trust.issuers[decoded.kid]
    message = sig_structure(decoded.protected, decoded.payload)
    if not verify_raw(issuer.public_key, issuer.alg, decoded.signature, message):
        raise RuntimeError("the raw signature check fails on the demo QR")
    return {
        "raw_signature": lambda: verify_raw(issuer.public_key, issuer.alg, decoded.signature, message),
        "verify": lambda: verifier.verify(qr_text, now),
        "decode": lambda: decode_qr(qr_text),
    }


def offline_rates(qr_text: str, trust: TrustList, seconds: float, tick: Tick, rounds: int = ROUNDS) -> OfflineRates:
    """Time the workloads in interleaved rounds (seconds in all per workload) and keep each one's best round."""
    calls = workloads(qr_text, trust)
    best = dict.fromkeys(calls, 0.0)
    share, done = seconds / rounds, 0.0
    for _ in range(rounds):
        for name, call in calls.items():
            best[name] = max(best[name], calls_per_second(call, share, tick, done))
            done += share
    alg = trust.issuers[decode_qr(qr_text).kid].alg
    return OfflineRates(alg=alg, **best)
