"""The OAuth2 token endpoint, built on authlib: client credentials grant (RFC 6749 §4.4).

Clients authenticate with client_secret_basic, client_secret_post or private_key_jwt (RFC 7523 §2.2);
access tokens are JWTs profiled by RFC 9068.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta
from functools import cache

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.auth.clients import secret_matches
from hub.auth.tables import OAuthClient, UsedAssertion
from hub.core.settings import Settings

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,64}")  # what the hub hands out, and all it looks up
# A hash no secret matches (not hex), checked for unknown clients so that they cost what a wrong secret does.
NO_SECRET = "-" * 64


class HubClient(ClientMixin):
    """authlib's view of a stored client; a stand-in (`known=False`) for an id that names no usable client."""

    def __init__(self, row: OAuthClient, *, known: bool = True) -> None:
        self.row, self.known = row, known

    @classmethod
    def stand_in(cls, client_id: str) -> HubClient:
        """A client that fails every check the way a real one with a wrong secret or key does."""
        return cls(OAuthClient(client_id=client_id, secret_hash=NO_SECRET, role="", scopes="", jwks=None,
                               disabled=True), known=False)

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.row.scopes.split()
        if not scope:
            return " ".join(allowed)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(client_secret, self.row.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if not self.known:
            return False
        if method == "private_key_jwt":
            return bool(self.row.jwks)
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class HubClientCredentialsGrant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS


class HubTokenGenerator(JWTBearerTokenGenerator):
    """RFC 9068 access tokens signed with the hub's token key; role and department ride as claims."""

    def __init__(self, *, issuer: str, jwk: dict, ttl: int) -> None:
        super().__init__(issuer=issuer, alg="ES256", expires_generator=lambda client, grant_type: ttl)
        self._jwk = jwk

    def get_jwks(self) -> dict:
        return {"keys": [self._jwk]}

    def get_audiences(self, client, user, scope) -> str:
        return self.issuer

    def get_extra_claims(self, client, grant_type, user, scope) -> dict:
        row = client.row
        return {"role": row.role, "dept": row.department_id}


class PrivateKeyJWT(JWTBearerClientAssertion):
    """private_key_jwt client authentication; each assertion's jti is accepted once (RFC 7523 §3 item 7)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, session: Session, *, token_url: str, issuer: str, now: datetime, skew: int,
                 max_lifetime: int) -> None:
        super().__init__(validate_jti=True, leeway=skew)
        self._session, self._audiences, self._now = session, [token_url, issuer], now
        self._skew, self._max_lifetime = skew, max_lifetime

    def get_audiences(self) -> list[str]:
        return self._audiences

    def resolve_client_public_key(self, client: HubClient) -> KeySet:
        if not client.row.jwks:  # unknown, or registered without keys: a key nobody holds, so the check fails
            return _nobodys_keys()
        return KeySet.import_key_set(json.loads(client.row.jwks))

    def verify_claims(self, claims) -> None:
        """Refuse an assertion issued in the future or living longer than allowed, then run RFC 7523 §3's checks."""
        exp, iat = claims.get("exp"), claims.get("iat", time.time())
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (exp, iat)):
            raise InvalidClientError(description="exp and iat must be numbers.")
        if iat > time.time() + self._skew:
            raise InvalidClientError(description="The assertion is issued in the future (iat).")
        if exp - iat > self._max_lifetime:
            raise InvalidClientError(description="The assertion lives longer than allowed (exp - iat).")
        super().verify_claims(claims)

    def validate_jti(self, claims: dict, jti: str) -> bool:
        self._session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < self._now))
        expires = self._now + timedelta(seconds=max(60, int(claims.get("exp", 0)) - int(self._now.timestamp())))
        try:
            with self._session.begin_nested():
                self._session.add(UsedAssertion(key=f"{claims['sub']}:{jti}"[:255], expires_at=expires))
        except IntegrityError:
            return False
        return True


class HubAuthorizationServer(AuthorizationServer):
    """One server per token request, bound to that request's database session."""

    def __init__(self, session: Session, *, issuer: str, jwk: dict, ttl: int, now: datetime,
                 settings: Settings) -> None:
        super().__init__(scopes_supported=None)
        self._session = session
        self.register_grant(HubClientCredentialsGrant)
        self.register_token_generator("default", HubTokenGenerator(issuer=issuer, jwk=jwk, ttl=ttl))
        self.register_client_auth_method("private_key_jwt", PrivateKeyJWT(
            session, token_url=f"{issuer}/oauth/token", issuer=issuer, now=now, skew=settings.token_clock_skew,
            max_lifetime=settings.client_assertion_max_lifetime))

    def query_client(self, client_id: str) -> HubClient:
        """Return the client, or a stand-in that fails like a wrong secret: never None, which authlib answers
        with its own "does not exist" description."""
        if not isinstance(client_id, str) or CLIENT_ID.fullmatch(client_id) is None:
            return HubClient.stand_in("-")
        row = self._session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
        return HubClient(row) if row is not None and not row.disabled else HubClient.stand_in(client_id)

    def save_token(self, token: dict, request) -> None:
        """JWT access tokens are self-contained: nothing to store."""

    def send_signal(self, name, *args, **kwargs) -> None:
        return None

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body, headers) -> tuple[int, dict, dict]:
        return status, body, dict(headers)


@cache
def _nobodys_keys() -> KeySet:
    """A P-256 public key whose private half was dropped at birth, one per process."""
    return KeySet([ECKey.generate_key("P-256", private=False)])


def make_oauth2_request(method: str, uri: str, headers, form: dict[str, str]) -> OAuth2Request:
    """Wrap an already-parsed form post for authlib."""
    request = _FormRequest(method, uri, headers=headers)
    request._form = form
    request.payload = BasicOAuth2Payload(form)
    return request


class _FormRequest(OAuth2Request):
    _form: dict[str, str]

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}
