"""In-process figures: the demo license's QR size and offline verification (one Verifier) against raw signature checks.

`python -m bench.offline [--seconds N]` runs only this part, for an ES256 and an EdDSA issuer made on the spot.
"""

from __future__ import annotations

import argparse
import gc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from time import thread_time

from rich.console import Console

from bench.ui import Tick, make_progress, step
from hub.licenses.printing.qrimage import qr_version
from hub.trust.certs import make_issuer, make_root
from hub.trust.signer import KeySigner
from hub.trust.signing import encode_qr, issuer_entry
from license_verifier.algorithms import kid_for_certificate
from license_verifier.algorithms import verify_raw
from license_verifier.qr import LicenseClaims, decode_qr, sig_structure
from license_verifier.trustlist import TrustList
from license_verifier.verdict import Status
from license_verifier.verifier import Verifier, verify

BATCH = 200  # calls between clock reads and progress updates
ROUNDS = 3  # interleaved rounds: the best round of each workload is kept, which damps other processes' noise
ISSUER = ("11990100MB0000019L", "示例市市场监督管理局")
BUSINESS_LICENSE = "11100000000013338W001"


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
    """Call call() in batches for about seconds of this thread's CPU time; tick(done + spent) between batches.

    CPU time, not the wall clock: on a machine shared with other processes, the time this thread waits
    for a core is no cost of the call, and it would fall unevenly on the workloads compared.
    """
    gc.collect()
    calls, spent = 0, 0.0
    while spent < seconds:
        start = thread_time()
        for _ in range(BATCH):
            call()
        spent += thread_time() - start
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


def sample(alg: str) -> tuple[str, TrustList]:
    """Return the demo business license's QR signed by a new alg issuer, and a trust list holding that issuer."""
    now = datetime.now(timezone.utc)
    issuer = make_issuer(make_root(now), code=ISSUER[0], name=ISSUER[1], alg=alg, now=now)
    trust = TrustList.from_document({
        "format": "hub-trust-list/1", "issued_at": now.isoformat(),
        "issuers": [issuer_entry(issuer.cert_der, code=ISSUER[0], name=ISSUER[1], license_types=[BUSINESS_LICENSE])],
        "license_types": [{"code": BUSINESS_LICENSE, "name": "营业执照", "name_en": "Business license",
                           "holder": "credit_code", "qr_fields": [
                               {"name": "legal_representative", "type": "string", "label": "法定代表人"}]}],
    })
    claims = LicenseClaims(BUSINESS_LICENSE, ISSUER[0], 2026000001, 1, date(2026, 11, 21), None, "91350100M000100Y43",
                           "福州闽江数字科技有限公司", ("林建华",), status_ref=(1, 93217))
    return encode_qr(claims, KeySigner(issuer.private_key, kid=kid_for_certificate(issuer.cert_der))), trust


def main(argv: list[str] | None = None) -> int:
    """Time offline verification against the raw signature check for ES256 and EdDSA and print the tables."""
    parser = argparse.ArgumentParser(prog="python -m bench.offline", description=main.__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per workload (default 3)")
    seconds = parser.parse_args(argv).seconds
    from bench.report import offline_table  # the report imports this module

    console = Console()
    tables = []
    with make_progress(console) as progress:
        for alg in ("ES256", "EdDSA"):
            qr_text, trust = sample(alg)
            with step(progress, f"Offline {alg}: raw signature check, verify(), decode_qr()", 3 * seconds) as tick:
                tables.append(offline_table(offline_rates(qr_text, trust, seconds, tick)))
    for table in tables:
        console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
