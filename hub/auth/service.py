"""Issue access tokens through the authlib authorization server.

Every failed client authentication gets the same answer, 401 `invalid_client` with one fixed description, be
the id unknown, disabled or malformed, the secret wrong, the Basic header undecodable or the client without
keys for private_key_jwt: the token endpoint does not tell which client ids exist (RFC 6749 §5.2, §10.10).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from urllib.parse import unquote

import jwt
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from sqlalchemy.orm import Session

from hub.auth.server import HubAuthorizationServer, make_oauth2_request
from hub.auth.throttle import TokenThrottle
from hub.core.settings import Settings

INVALID_CLIENT = {"error": "invalid_client", "error_description": "Client authentication failed."}
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="hub", charset="UTF-8"'}


class BadCredentials(Exception):
    """An Authorization: Basic header that does not decode to client credentials."""


def issue_token(session: Session, form: dict[str, str], *, headers, address: str, throttle: TokenThrottle,
                settings: Settings, jwk: dict, now: datetime) -> tuple[int, dict, dict]:
    """Run the token endpoint for one request; returns (status, body, headers). Raise TooManyRequests past a
    failure limit. Tokens are signed with `jwk`; `now` is the app's clock."""
    throttle.check_address(address)
    status, body, response_headers = _token_response(session, form, headers=headers, settings=settings, jwk=jwk,
                                                     now=now)
    if body.get("error") != "invalid_client":
        return status, body, response_headers
    refusal = throttle.failed(presented_client_id(headers, form), address)
    if refusal is not None:
        raise refusal
    return 401, dict(INVALID_CLIENT), dict(BASIC_CHALLENGE)


def _token_response(session: Session, form: dict[str, str], *, headers, settings: Settings, jwk: dict,
                    now: datetime) -> tuple[int, dict, dict]:
    try:
        basic_credentials(headers)  # authlib would fail on a header that is not base64 of UTF-8
    except BadCredentials:
        return 401, dict(INVALID_CLIENT), {}
    server = HubAuthorizationServer(session, issuer=settings.public_url, jwk=jwk, ttl=settings.access_token_ttl,
                                    now=now, settings=settings)
    try:
        request = make_oauth2_request("POST", f"{settings.public_url}/oauth/token", headers, form)
    except InsecureTransportError as error:  # OAuth2 needs TLS (RFC 6749 §3.2) except on loopback
        return server.handle_error_response(None, error)
    return server.create_token_response(request)


def basic_credentials(headers) -> tuple[str, str] | None:
    """Decode client_secret_basic credentials (RFC 6749 §2.3.1: each part form-urlencoded, then HTTP Basic).

    Return None without a Basic header; raise BadCredentials when it is not base64 of UTF-8 `id:secret` or
    either part holds a character that cannot be printed.
    """
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        client_id, colon, secret = decoded.partition(":")
        client_id, secret = unquote(client_id, errors="strict"), unquote(secret, errors="strict")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCredentials from None
    if not colon or not client_id or not secret or not (client_id + secret).isprintable():
        raise BadCredentials
    return client_id, secret


def presented_client_id(headers, form: dict[str, str]) -> str | None:
    """The client id a request claims, by whichever method it used (unverified: for counting failures only)."""
    try:
        basic = basic_credentials(headers)
    except BadCredentials:
        return None
    claimed = basic[0] if basic else form.get("client_id")
    if not claimed and form.get("client_assertion"):
        try:
            claimed = jwt.decode(form["client_assertion"], options={"verify_signature": False}).get("sub")
        except (jwt.PyJWTError, ValueError, AttributeError):
            claimed = None
    return claimed[:64] if isinstance(claimed, str) and claimed else None
