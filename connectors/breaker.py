"""A circuit breaker: after N consecutive failures, fail fast until a reset delay passes, then try once."""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """Closed → open after `failures` consecutive failures → half-open after `reset_seconds` → closed or open."""

    __slots__ = ("failures", "reset_seconds", "clock", "_count", "_opened_at", "_trial")

    def __init__(self, failures: int, reset_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.reset_seconds = reset_seconds
        self.clock = clock
        self._count = 0
        self._opened_at: float | None = None
        self._trial = False  # a half-open trial call is in flight

    @property
    def state(self) -> str:
        """Return "closed", "open" or "half-open"."""
        if self._opened_at is None:
            return "closed"
        if self._trial or self.clock() - self._opened_at >= self.reset_seconds:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """Tell whether a call may go to the source now; in half-open state only one trial call may."""
        if self._opened_at is None:
            return True
        if self._trial or self.clock() - self._opened_at < self.reset_seconds:
            return False
        self._trial = True
        return True

    def succeeded(self) -> None:
        """Close the circuit."""
        self._count = 0
        self._opened_at = None
        self._trial = False

    def failed(self) -> None:
        """Count a failure; open (or re-open after a failed trial) when there are enough."""
        self._count += 1
        if self._trial or self._count >= self.failures:
            self._opened_at = self.clock()
        self._trial = False

    def abandoned(self) -> None:
        """Forget a call that ended without an answer either way (cancelled by the caller)."""
        self._trial = False
