"""Rate limits kept in this process's memory, with the Retry-After every 429 carries."""

from __future__ import annotations

import math
import time

from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from hub.core.errors import TooManyRequests


class RateLimit:
    """One limit in the `limits` notation ("600/minute"), counted separately for each key."""

    def __init__(self, spec: str) -> None:
        self.item = parse_limit(spec)
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    def hit(self, *key: str) -> bool:
        """Count one event for the key; False when that goes over the limit."""
        return self.limiter.hit(self.item, *key)

    def exceeded(self, *key: str) -> bool:
        """Tell whether the key is over the limit, without counting anything."""
        return not self.limiter.test(self.item, *key)

    def refusal(self, detail: str, *key: str) -> TooManyRequests:
        """Build the 429 for the key, saying when its window lets the next event through."""
        reset_at = self.limiter.get_window_stats(self.item, *key).reset_time
        return TooManyRequests(detail, retry_after=max(1, math.ceil(reset_at - time.time())))
