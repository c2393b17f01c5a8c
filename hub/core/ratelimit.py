"""Rate limits kept in this process's memory, with the Retry-After every 429 carries."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from limits import parse as parse_limit

from hub.core.errors import TooManyRequests


class RateLimit:
    """One limit in the `limits` notation ("600/minute"), counted separately for each key.

    The count is that of the `limits` sliding window counter: the events of the current window plus those of the
    previous one, weighted by the share of it still inside the sliding window; Retry-After is its reset time.
    The two counts live here in a dict under a lock rather than in `limits`' MemoryStorage, whose expiry runs
    on a timer thread started again every 10 ms while requests come in (measured: a sixth of the event loop's
    time under POST /verify load); keys of past windows are dropped once per window instead.
    """

    def __init__(self, spec: str, *, clock: Callable[[], float] = time.time) -> None:
        item = parse_limit(spec)
        self.amount, self.window, self._clock = item.amount, item.get_expiry(), clock
        self._counts: dict[tuple[str, ...], tuple[int, int, int]] = {}  # key: (window number, previous, current)
        self._swept = 0  # the window number of the last sweep
        self._lock = threading.Lock()

    def hit(self, *key: str) -> bool:
        """Count one event for the key; False when that goes over the limit."""
        now = self._clock()
        with self._lock:
            number, previous, current = self._window(key, now)
            if math.floor(self._weighted(previous, current, now)) + 1 > self.amount:
                return False
            self._counts[key] = (number, previous, current + 1)
            if number > self._swept:
                self._sweep(number)
        return True

    def exceeded(self, *key: str) -> bool:
        """Tell whether the key is over the limit, without counting anything."""
        now = self._clock()
        with self._lock:
            _, previous, current = self._window(key, now)
        return not self._weighted(previous, current, now) < self.amount

    def refusal(self, detail: str, *key: str) -> TooManyRequests:
        """Build the 429 for the key, saying when its window lets the next event through."""
        now = self._clock()
        with self._lock:
            _, previous, current = self._window(key, now)
        resets_in = [self._previous_ttl(now) % (self.window / previous)] if previous else []
        resets_in += [((1 - ((now / self.window) % 1)) * self.window + self.window) % self.window] if current else []
        return TooManyRequests(detail, retry_after=max(1, math.ceil(min(resets_in, default=0.0))))

    def _window(self, key: tuple[str, ...], now: float) -> tuple[int, int, int]:
        """Return the current window's number and the key's counts in the previous and current windows."""
        number = int(now / self.window)
        stored, previous, current = self._counts.get(key, (number, 0, 0))
        if stored == number:
            return number, previous, current
        return number, current if stored == number - 1 else 0, 0

    def _previous_ttl(self, now: float) -> float:
        return (1 - (((now - self.window) / self.window) % 1)) * self.window

    def _weighted(self, previous: int, current: int, now: float) -> float:
        return previous * self._previous_ttl(now) / self.window + current if previous else float(current)

    def _sweep(self, number: int) -> None:
        """Forget the keys whose last event is older than the previous window: they count nothing any more."""
        self._counts = {key: counts for key, counts in self._counts.items() if counts[0] >= number - 1}
        self._swept = number
