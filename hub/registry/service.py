"""Create departments and the OAuth2 clients that act for them."""

from __future__ import annotations

import hashlib
import json
import hmac
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.core.errors import Conflict, NotFound
from hub.registry.models import ClientCredentials, DepartmentCreate, DepartmentCreated, DepartmentOut
from hub.registry.tables import Department, OAuthClient
from hub.trust.service import create_issuer_key

DEPARTMENT_SCOPES = ("licenses:issue", "licenses:read")
OPERATOR_SCOPES = ("departments:write", "departments:read", "licenses:read")


def hash_secret(secret: str) -> str:
    """Hash a client secret; secrets are 256-bit random, so one SHA-256 round is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def _new_client(session: Session, *, role: str, department_id: str | None, scopes: tuple[str, ...],
                now: datetime, jwks: dict | None = None) -> ClientCredentials:
    secret = secrets.token_urlsafe(32)
    client_id = f"{role[:4]}-{secrets.token_hex(8)}"
    session.add(OAuthClient(client_id=client_id, secret_hash=hash_secret(secret), role=role,
                            department_id=department_id, scopes=" ".join(scopes), created_at=now,
                            jwks=json.dumps(jwks) if jwks else None))
    return ClientCredentials(client_id=client_id, client_secret=secret, scopes=list(scopes))


def create_operator_client(session: Session, *, now: datetime) -> ClientCredentials:
    """Create an operator client (at init)."""
    credentials = _new_client(session, role="operator", department_id=None, scopes=OPERATOR_SCOPES, now=now)
    session.flush()
    return credentials


def create_department(session: Session, request: DepartmentCreate, *, passphrase: bytes,
                      now: datetime) -> DepartmentCreated:
    """Register a department with its issuer key and an OAuth2 client; the secret is returned once."""
    if session.scalar(select(Department.id).where(Department.code == request.code)):
        raise Conflict(f"A department with code {request.code} already exists.")
    department = Department(code=request.code, name=request.name, region=request.region, created_at=now)
    session.add(department)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict(f"A department with code {request.code} already exists.") from exc
    key = create_issuer_key(session, department_id=department.id, code=department.code, name=department.name,
                            alg=request.alg, passphrase=passphrase, now=now)
    client = _new_client(session, role="department", department_id=department.id, scopes=DEPARTMENT_SCOPES,
                         now=now, jwks=request.jwks)
    session.flush()
    return DepartmentCreated(**_out(department).model_dump(exclude={"issuer_kid"}), issuer_kid=key.kid,
                             client=client)


def _out(department: Department) -> DepartmentOut:
    return DepartmentOut(id=department.id, code=department.code, name=department.name, region=department.region,
                         created_at=department.created_at)


def list_departments(session: Session) -> list[DepartmentOut]:
    """Return every department, oldest first."""
    rows = session.scalars(select(Department).order_by(Department.created_at, Department.code))
    return [_out(row) for row in rows]


def get_department(session: Session, department_id: str) -> Department:
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound("No such department.")
    return department


def find_department_by_code(session: Session, code: str) -> Department | None:
    return session.scalar(select(Department).where(Department.code == code))


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
