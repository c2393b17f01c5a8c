"""Failed client authentications at the token endpoint, counted per client id and per address.

An address over its limit is refused outright (429) until its window passes: that is what slows a guesser down.
A client id over its limit has its further failures answered 429 rather than 401, but a request that
authenticates still gets its token: client ids are not secret, and anyone could otherwise lock a department out
by failing on its id. Unknown ids are counted exactly as known ones, so the answers say nothing about which exist.
"""

from __future__ import annotations

from hub.core.errors import TooManyRequests
from hub.core.ratelimit import RateLimit
from hub.core.settings import Settings


class TokenThrottle:
    """The two failure limits of POST /oauth/token."""

    def __init__(self, *, per_client: str, per_address: str) -> None:
        self.per_client, self.per_address = RateLimit(per_client), RateLimit(per_address)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenThrottle:
        return cls(per_client=settings.token_failure_limit_per_client,
                   per_address=settings.token_failure_limit_per_address)

    def check_address(self, address: str) -> None:
        """Raise TooManyRequests for an address over its failure limit."""
        if self.per_address.exceeded("address", address):
            raise self.per_address.refusal("Too many failed client authentications from this address.",
                                           "address", address)

    def failed(self, client_id: str | None, address: str) -> TooManyRequests | None:
        """Count one failed authentication; return the 429 to answer instead of 401 once the id is over its limit."""
        self.per_address.hit("address", address)
        if client_id is not None and not self.per_client.hit("client", client_id):
            return self.per_client.refusal("Too many failed authentications for this client.", "client", client_id)
        return None
