"""In-process figures: the demo license's QR size and offline verify() against raw signature checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from time import perf_counter

from hub.licenses.qrimage import qr_version
from hub.trust.signer import verify_raw
from hub.verify.core import Status, verify
from hub.verify.qr import decode_qr, sig_structure
from hub.verify.trustlist import TrustList

BATCH = 200  # calls between clock reads and progress updates

Tick = Callable[[float], None]


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


def calls_per_second(call: Callable[[], object], seconds: float, tick: Tick) -> float:
    """Call call() in batches for about seconds of measured time; report progress between batches."""
    calls, spent = 0, 0.0
    while spent < seconds:
        start = perf_counter()
        for _ in range(BATCH):
            call()
        spent += perf_counter() - start
        calls += BATCH
        tick(spent)
    return calls / spent


def check_sample(qr_text: str, trust: TrustList, now: datetime) -> None:
    """Refuse to time a QR that does not verify as valid."""
    result = verify(qr_text, trust, now)
    if result.status is not Status.VALID:
        raise RuntimeError(f"the demo QR does not verify: {result.status} ({result.reason})")


def offline_rates(qr_text: str, trust: TrustList, seconds: float, ticks: tuple[Tick, Tick, Tick]) -> OfflineRates:
    """Time verify(), the raw signature check it makes, and decode_qr() on the same QR."""
    now = datetime.now(timezone.utc)
    check_sample(qr_text, trust, now)
    decoded = decode_qr(qr_text)
    issuer = trust.issuers[decoded.kid]
    message = sig_structure(decoded.protected, decoded.payload)
    if not verify_raw(issuer.public_key, issuer.alg, decoded.signature, message):
        raise RuntimeError("the raw signature check fails on the demo QR")
    raw = calls_per_second(lambda: verify_raw(issuer.public_key, issuer.alg, decoded.signature, message),
                           seconds, ticks[0])
    full = calls_per_second(lambda: verify(qr_text, trust, now), seconds, ticks[1])
    decode = calls_per_second(lambda: decode_qr(qr_text), seconds, ticks[2])
    return OfflineRates(alg=issuer.alg, verify=full, raw_signature=raw, decode=decode)
