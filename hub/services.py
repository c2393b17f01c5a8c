"""The hub's collaborators, built once from settings: what the app, the batch worker and the commands share.

`build_services(settings)` is the one place that wires the domain objects together; `create_app`, `hub worker`
and every operator command call it. Routes reach the object through `hub.core.wiring.ServicesDep`, domain
objects receive their collaborators in their constructors. The caches of the process live here, bounded, and
`keys_changed` drops the ones that hold keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub.audit.runtime import AuditLog
from hub.audit.sink import pepper_of, session_info
from hub.audit.writer import AuditWriter
from hub.auth.throttle import TokenThrottle
from hub.auth.tokens import TokenCache
from hub.batch.service import BatchContext
from hub.batch.worker import BatchRuntime
from hub.core.addresses import ClientAddresses
from hub.core.clock import Clock, system_clock
from hub.core.db import make_engine, make_session_factory
from hub.core.ratelimit import RateLimit
from hub.core.sealed import Sealer
from hub.core.settings import Settings
from hub.core.storage import open_store
from hub.core.storage.base import ObjectStore
from hub.core.storage.s3 import S3Store
from hub.exchange.receipts import ReceiptSigner
from hub.exchange.service import ExchangeDesk
from hub.licenses.printing.artifacts import Artifacts
from hub.licenses.types import LicenseType, load_license_types
from hub.migrations import upgrade
from hub.catalogue.connections import Connections
from hub.egress.rules import hub_guard
from hub.catalogue.generation import ensure_generation_row
from hub.catalogue.secrets import SESSION_KEY, ConnectorSecrets, seal_plain_rows
from hub.departments.service import get_department
from hub.status.service import StatusCache
from hub.trust.cache import TrustCache
from hub.trust.service import KeyRing, ensure_hub_keys, token_public_keys
from hub.verification.service import Verification

log = logging.getLogger("hub")


@dataclass(frozen=True)
class Services:
    """Everything a request, a batch job or a command needs, each built once per process."""

    settings: Settings
    clock: Clock
    engine: Engine
    session_factory: sessionmaker[Session]
    passphrase: bytes
    pepper: bytes  # the audit pepper, also in every session's info
    license_types: dict[str, LicenseType]
    keyring: KeyRing
    trust: TrustCache
    status: StatusCache
    connections: Connections
    receipts: ReceiptSigner
    audit: AuditLog
    audit_writer: AuditWriter
    exchange: ExchangeDesk
    verification: Verification
    batch: BatchRuntime
    client_addresses: ClientAddresses
    verify_limit: RateLimit
    token_throttle: TokenThrottle
    token_cache: TokenCache = field(default_factory=TokenCache)

    @cached_property
    def store(self) -> ObjectStore:
        """The object store (opened at first use: a command that reads only the database needs none)."""
        settings = self.settings
        return open_store(settings.storage_url, endpoint=settings.s3_endpoint, access_key=settings.s3_access_key,
                          secret_key=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
                          base_dir=Path.cwd())

    @cached_property
    def artifacts(self) -> Artifacts:
        """QR images and signed PDFs of licenses, in the object store."""
        return Artifacts(self.store, types=self.license_types, keyring=self.keyring,
                         session_factory=self.session_factory)

    @cached_property
    def token_jwk(self) -> dict:
        """The private JWK that signs access tokens (read from the database once)."""
        with self.session_factory() as session:
            return self.keyring.token_jwk(session)

    @cached_property
    def token_keys(self) -> dict[str, object]:
        """The public keys that verify access tokens, by key id (read from the database once)."""
        with self.session_factory() as session:
            return token_public_keys(session)

    def load(self) -> None:
        """Open now (at start) what is otherwise opened at first use: the store, the access-token keys."""
        _ = self.artifacts, self.token_jwk, self.token_keys

    @property
    def batch_context(self) -> BatchContext:
        """What the batch job function needs."""
        return BatchContext(session_factory=self.session_factory, store=self.store, keyring=self.keyring,
                            license_types=self.license_types, clock=self.clock)

    def keys_changed(self) -> None:
        """Drop what the process keeps of signing keys and trust material: a key was added, rotated or revoked."""
        self.keyring.forget()
        self.trust.invalidate()
        self.token_cache.clear()

    def close(self) -> None:
        """Release the database pools."""
        self.engine.dispose()


class CommandServices:
    """The Services of one command, built on first use: a command that needs none builds none."""

    def __init__(self, settings_factory: Callable[[], Settings] = Settings) -> None:
        self._settings_factory = settings_factory
        self._services: Services | None = None

    def get(self, *, prepare: bool = False) -> Services:
        """Build the Services (`prepare` as build_services has it, at the first call) or return those built."""
        if self._services is None:
            self._services = build_services(self._settings_factory(), prepare=prepare)
        return self._services

    def close(self) -> None:
        if self._services is not None:
            self._services.close()


def build_services(settings: Settings, *, clock: Clock = system_clock, prepare: bool = True) -> Services:
    """Build the hub's collaborators from settings.

    With `prepare` (the app and the worker), the database is migrated (if the settings say so), the hub's
    keys are made if missing, plain connector secrets are sealed and the bucket is created; an operator
    command works on a prepared hub and leaves that out.
    """
    license_types = load_license_types(Path(settings.license_types_dir))
    engine = make_engine(settings.resolved_database_url())
    passphrase = settings.passphrase()
    secrets = ConnectorSecrets(Sealer(passphrase))
    session_factory = make_session_factory(engine, info=session_info(passphrase) | {SESSION_KEY: secrets})
    if prepare:
        _prepare_database(engine, session_factory, settings, passphrase=passphrase, clock=clock)
    keyring, pepper = KeyRing(passphrase), pepper_of(session_factory)
    trust = TrustCache(session_factory, license_types, passphrase=passphrase, clock=clock)
    status = StatusCache(session_factory, passphrase=passphrase, base_url=settings.public_url, clock=clock)
    connections = Connections(engine, hub_guard(settings), secrets=secrets)
    receipts = ReceiptSigner(session_factory, passphrase=passphrase, issuer=settings.public_url)
    audit = AuditLog(session_factory, passphrase=passphrase, clock=clock, interval=settings.audit_interval,
                     department_code=lambda session, dept_id: get_department(session, dept_id).code)
    audit_writer = AuditWriter(session_factory)
    services = Services(
        settings=settings, clock=clock, engine=engine, session_factory=session_factory,
        passphrase=passphrase, pepper=pepper, license_types=license_types, keyring=keyring, trust=trust,
        status=status, connections=connections, receipts=receipts, audit=audit, audit_writer=audit_writer,
        exchange=ExchangeDesk(session_factory, connections=connections, receipts=receipts, writer=audit_writer,
                              pepper=pepper),
        verification=Verification(trust=trust, status=status, session_factory=session_factory, audit=audit,
                                  clock=clock),
        batch=BatchRuntime(settings.resolved_database_url()),
        client_addresses=ClientAddresses(settings.trusted_proxies),
        verify_limit=RateLimit(settings.verify_rate_limit), token_throttle=TokenThrottle.from_settings(settings))
    if prepare and isinstance(services.store, S3Store):
        services.store.ensure_bucket()
    return services


def _prepare_database(engine: Engine, session_factory: sessionmaker[Session], settings: Settings, *,
                      passphrase: bytes, clock: Clock) -> None:
    if settings.run_migrations:
        upgrade(engine)
    with session_factory.begin() as session:
        ensure_hub_keys(session, passphrase=passphrase, now=clock())
        ensure_generation_row(session)
        sealed = seal_plain_rows(session)  # an Alembic migration cannot: it does not know the passphrase
    if sealed:
        log.info("sealed the connector secrets of %d sources stored in plain text", sealed)

