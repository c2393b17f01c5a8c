"""Issue access tokens through the authlib authorization server."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InsecureTransportError
from sqlalchemy.orm import Session

from hub.auth.server import HubAuthorizationServer, make_oauth2_request


def issue_token(session: Session, form: dict[str, str], *, headers, app_state) -> tuple[int, dict, dict]:
    """Run the token endpoint for one request; returns (status, body, headers)."""
    settings = app_state.settings
    server = HubAuthorizationServer(session, issuer=settings.public_url, jwk=app_state.token_jwk,
                                    ttl=settings.access_token_ttl, now=app_state.clock())
    try:
        request = make_oauth2_request("POST", f"{settings.public_url}/oauth/token", headers, form)
    except InsecureTransportError as error:  # OAuth2 needs TLS (RFC 6749 §3.2) except on loopback
        return server.handle_error_response(None, error)
    return server.create_token_response(request)
