"""Citizen access tokens: what the demo identity issues until the portal's real login exists.

A citizen token is an RFC 9068 access token like a department's, with `role: citizen`, the scope `me`
and the citizen's resident id as `sub`; the same key signs it and the same check reads it.
"""

from __future__ import annotations

import secrets
from datetime import datetime

import jwt

from hub.core.errors import ValidationFailed
from hub.core.national_ids import is_valid_resident_id

DEMO_IDENTITY_CLIENT = "demo-identity"
CITIZEN_SCOPE = "me"


def mint_citizen_token(*, jwk: dict, issuer: str, resident_id: str, now: datetime, ttl: int = 900) -> str:
    """Sign an access token for one citizen (demo identity provider)."""
    if not is_valid_resident_id(resident_id, today=now.date()):
        raise ValidationFailed("resident_id is not a valid 18-digit resident identity number (GB 11643).")
    iat = int(now.timestamp())
    claims = {"iss": issuer, "aud": issuer, "sub": resident_id, "client_id": DEMO_IDENTITY_CLIENT,
              "role": "citizen", "scope": CITIZEN_SCOPE, "iat": iat, "exp": iat + ttl,
              "jti": secrets.token_urlsafe(12)}
    key = jwt.PyJWK(jwk, algorithm="ES256")
    return jwt.encode(claims, key.key, algorithm="ES256", headers={"kid": jwk["kid"], "typ": "at+jwt"})
