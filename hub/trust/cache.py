"""Keep the verifier's trust list and the signed trust list in memory, refreshed from the database.

The cache also owns the one `Verifier` of its trust list (which keeps each issuer key prepared): it is replaced
with the trust list, so what it holds is bounded by one trust list and never outlives a change.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from hub.core.clock import Clock
from hub.trust.anchor import TrustAnchor, trust_anchor
from hub.trust.service import jwks, load_trust, signed_trust_list
from license_verifier.trustlist import TrustList
from license_verifier.verifier import Verifier


class TrustCache:
    """Trust material shared by every request of one worker; other workers' changes show within ttl seconds."""

    def __init__(self, session_factory: sessionmaker[Session], license_types: dict, *, passphrase: bytes,
                 clock: Clock, ttl: float = 30.0) -> None:
        self._factory, self._types, self._passphrase, self._clock, self._ttl = (
            session_factory, license_types, passphrase, clock, ttl)
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._epoch = 0  # raised by invalidate: a reload that began before it does not make the cache fresh
        self._trust: TrustList | None = None
        self._verifier: Verifier | None = None
        self._signed: str | None = None
        self._jwks: dict | None = None
        self._anchor: TrustAnchor | None = None

    @property
    def fresh(self) -> bool:
        return self._trust is not None and time.monotonic() - self._loaded_at < self._ttl

    def invalidate(self) -> None:
        self._epoch += 1
        self._loaded_at = float("-inf")

    def refresh(self) -> None:
        """Reload everything from the database (blocking: call from a worker thread).

        Requests that found the cache stale together wait for one reload: whoever gets the lock after it
        finds the cache fresh and returns.
        """
        with self._lock:
            if not self.fresh:
                self._reload()

    def _reload(self) -> None:
        epoch = self._epoch
        with self._factory() as session:
            types, now = self._types.values(), self._clock()
            trust = load_trust(session, types, now=now)
            self._trust, self._verifier = trust, Verifier(trust)
            self._signed = signed_trust_list(session, types, passphrase=self._passphrase, now=now)
            self._jwks = jwks(session)
            self._anchor = trust_anchor(session)
            self._loaded_at = time.monotonic() if epoch == self._epoch else float("-inf")

    def _ensure(self) -> None:
        if not self.fresh:
            self.refresh()

    def trust(self) -> TrustList:
        self._ensure()
        return self._trust

    def verifier(self) -> Verifier:
        """The verifier of the current trust list."""
        self._ensure()
        return self._verifier

    def signed(self) -> str:
        """The trust list as a compact JWS."""
        self._ensure()
        return self._signed

    def anchor(self) -> TrustAnchor:
        """The root certificate verifiers pin."""
        self._ensure()
        return self._anchor

    def jwks(self) -> dict:
        self._ensure()
        return self._jwks
