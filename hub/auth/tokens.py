"""Check RFC 9068 access tokens with pyjwt and turn them into a principal."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from hub.core.errors import Unauthorized

REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"]
CLOCK_SKEW = 30  # seconds an iat may lie ahead of this host's clock
MAX_LIFETIME = 3600  # seconds from iat to exp, at most


@dataclass(frozen=True)
class Principal:
    """Who is calling: a department client or the operator."""

    client_id: str
    role: str
    department_id: str | None
    scopes: frozenset[str]
    subject: str | None = None  # citizens only: their resident id

    @property
    def is_citizen(self) -> bool:
        return self.role == "citizen"

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


class TokenCache:
    """Tokens already verified, until they expire: a client sends the same token for its whole lifetime.

    Only a token that passed every check is kept, keyed by its exact text, so a hit is as good as a check.
    """

    def __init__(self, size: int = 10_000) -> None:
        self._size, self._entries = size, {}

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[1] <= time.time():
            self._entries.pop(token, None)
            return None
        return entry[0]

    def clear(self) -> None:
        self._entries.clear()

    def put(self, token: str, principal: Principal, expires: float) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()  # simple and bounded; a miss only costs one signature check
        self._entries[token] = (principal, expires)


def verify_access_token(token: str, *, keys: dict, issuer: str, cache: TokenCache | None = None,
                        skew: int = CLOCK_SKEW, max_lifetime: int = MAX_LIFETIME) -> Principal:
    """Verify signature, type, issuer, audience and lifetime (RFC 9068 §4); raise Unauthorized otherwise.

    A token issued more than `skew` seconds ahead, or valid for more than `max_lifetime` seconds from its iat,
    is refused even with a good signature. Token lifetimes run on the system clock, as authlib issues them;
    the app's clock governs licenses.
    """
    known = cache.get(token) if cache is not None else None
    if known is not None:
        return known
    try:
        header = jwt.get_unverified_header(token)
        key = keys.get(header.get("kid"))
        if key is None:
            raise Unauthorized("The access token was not signed by a key of this hub.")
        if header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
            raise Unauthorized("Not an access token (typ must be at+jwt).")
        claims = jwt.decode(
            token, key, algorithms=["ES256"], audience=issuer, issuer=issuer,
            options={"require": REQUIRED_CLAIMS, "verify_iat": False}, leeway=5,
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The access token has expired.") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("The access token is not valid.") from exc
    _check_lifetime(claims, skew=skew, max_lifetime=max_lifetime)
    principal = Principal(
        client_id=str(claims["client_id"]), role=str(claims.get("role", "")),
        department_id=claims.get("dept"), scopes=frozenset(str(claims.get("scope", "")).split()),
        subject=str(claims["sub"]) if claims.get("role") == "citizen" else None,
    )
    if cache is not None:
        cache.put(token, principal, float(claims["exp"]))
    return principal


def _check_lifetime(claims: dict, *, skew: int, max_lifetime: int) -> None:
    issued, expires = claims["iat"], claims["exp"]
    if not isinstance(issued, (int, float)) or isinstance(issued, bool):
        raise Unauthorized("The access token's iat is not a time.")
    if issued > time.time() + skew:
        raise Unauthorized("The access token is issued in the future (iat).")
    if expires - issued > max_lifetime:
        raise Unauthorized(f"The access token is valid for longer than {max_lifetime} seconds.")
