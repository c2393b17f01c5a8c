"""OAuth2 clients: created with a one-time secret, stored hashed."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth.models import ClientCredentials
from hub.auth.tables import OAuthClient
from hub.core.errors import NotFound

DEPARTMENT_SCOPES = ("licenses:issue", "licenses:read", "sources:read", "sources:write", "exchange:query")
OPERATOR_SCOPES = ("departments:write", "departments:read", "licenses:read", "sources:read")


def hash_secret(secret: str) -> str:
    """Hash a client secret; secrets are 256-bit random, so one SHA-256 round is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def new_client(session: Session, *, role: str, department_id: str | None, scopes: tuple[str, ...],
                now: datetime, jwks: dict | None = None) -> ClientCredentials:
    secret = secrets.token_urlsafe(32)
    client_id = f"{role[:4]}-{secrets.token_hex(8)}"
    session.add(OAuthClient(client_id=client_id, secret_hash=hash_secret(secret), role=role,
                            department_id=department_id, scopes=" ".join(scopes), created_at=now,
                            jwks=json.dumps(jwks) if jwks else None))
    return ClientCredentials(client_id=client_id, client_secret=secret, scopes=list(scopes))


def create_operator_client(session: Session, *, now: datetime) -> ClientCredentials:
    """Create an operator client (at init)."""
    credentials = new_client(session, role="operator", department_id=None, scopes=OPERATOR_SCOPES, now=now)
    session.flush()
    return credentials


def reset_client_secret(session: Session, client_id: str) -> ClientCredentials:
    """Give a client a new secret (the old one stops working); returns it once."""
    client = session.get(OAuthClient, client_id)
    if client is None:
        raise NotFound("No such client.")
    secret = secrets.token_urlsafe(32)
    client.secret_hash = hash_secret(secret)
    return ClientCredentials(client_id=client.client_id, client_secret=secret, scopes=client.scopes.split())


def client_secret_valid(session: Session, client_id: str, secret: str) -> bool:
    client = session.get(OAuthClient, client_id)
    return client is not None and secret_matches(secret, client.secret_hash)


def clients_of(session: Session, *, role: str, department_id: str | None = None) -> list[OAuthClient]:
    query = select(OAuthClient).where(OAuthClient.role == role)
    if department_id is not None:
        query = query.where(OAuthClient.department_id == department_id)
    return list(session.scalars(query.order_by(OAuthClient.created_at)))
