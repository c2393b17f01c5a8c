"""SQL connector: one parameterised SELECT against a department database, read-only by construction.

The template was parsed and checked when the config was validated (connectors/sqlcheck.py); at run time the
database itself keeps the query a read: SQLite files are opened read-only and denied ATTACH, PRAGMA and extension
loading; PostgreSQL transactions are READ ONLY with a statement timeout, through an account that is refused at
connect if it holds more than it needs (superuser, server-file, program, signal or read-all roles).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool

from connectors.base import (
    AccountRefused,
    ConnectorError,
    Health,
    SourceRefused,
    SourceTimeout,
    SourceUnavailable,
    pick,
)
from connectors.config import SqlConfig, parse_sql_url
from connectors.egress import Egress, EgressGuard, EgressRefused
from connectors.targets import Target, targets_of

GRACE = 1.0  # seconds past the statement timeout before the caller stops waiting for the worker thread
_PLAIN = (str, int, float, bool, type(None))
# Membership in any of these lets a PostgreSQL account read or write server files, run programs, signal other
# sessions, read every table or the server's settings and statistics: more than a source's SELECT needs.
POWERFUL_ROLES = ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program", "pg_signal_backend",
                  "pg_signal_autovacuum_worker", "pg_read_all_data", "pg_write_all_data", "pg_read_all_settings",
                  "pg_read_all_stats", "pg_monitor", "pg_stat_scan_tables", "pg_create_subscription",
                  "pg_checkpoint", "pg_use_reserved_connections")
_ACCOUNT = """SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolreplication, r.rolbypassrls,
       ARRAY(SELECT g.rolname::text FROM pg_roles AS g
             WHERE g.rolname::text = ANY(%s) AND pg_has_role(r.oid, g.oid, 'MEMBER') ORDER BY 1)
FROM pg_roles AS r WHERE r.rolname = current_user"""
_SQLITE_DENIED = frozenset({sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH, sqlite3.SQLITE_PRAGMA})


class SqlConnector:
    """Run the configured SELECT with :subject bound; the first row is the record."""

    def __init__(self, config: SqlConfig, *, egress: Egress | None = None) -> None:
        self.config = config
        self.egress = egress or EgressGuard()
        self.target = targets_of("sql", config)[0]
        self._statement = sa.text(config.query)
        self.engine = make_readonly_engine(config, self.egress, self.target)
        self._sqlite = self.engine.dialect.name == "sqlite"

    async def fetch(self, subject: str, fields: Sequence[str]) -> dict[str, Any] | None:
        """Return the first row's requested columns, or None when the query finds no row."""
        self.egress.permit(self.target)
        try:
            async with asyncio.timeout(self.config.timeout + GRACE):
                row = await asyncio.to_thread(self._first_row, subject)
        except TimeoutError:
            raise SourceTimeout(f"no answer within {self.config.timeout:g} s") from None
        return None if row is None else pick(row, fields)

    def _first_row(self, subject: str) -> dict[str, Any] | None:
        connection = self._connect()
        try:
            with connection:
                raw = connection.connection.dbapi_connection
                if self._sqlite:  # SQLite has no statement timeout: abort the VM from its progress handler
                    deadline = time.monotonic() + self.config.timeout
                    raw.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
                    raw.set_authorizer(_sqlite_authorizer)
                try:
                    row = connection.execute(self._statement, {"subject": subject}).mappings().first()
                finally:
                    if self._sqlite:
                        raw.set_progress_handler(None, 0)
                        raw.set_authorizer(None)
        except SQLAlchemyError as exc:
            raise classify(exc) from None
        return None if row is None else {key: jsonable(value) for key, value in row.items()}

    def _connect(self) -> sa.Connection:
        try:
            return self.engine.connect()
        except sa.exc.TimeoutError:
            raise SourceTimeout("every pooled database connection is busy") from None
        except SQLAlchemyError:
            raise SourceUnavailable("cannot connect to the database") from None

    async def health(self) -> Health:
        """Run SELECT 1 through the pool; never raises."""
        started = time.perf_counter()
        try:
            self.egress.permit(self.target)
            async with asyncio.timeout(self.config.timeout + GRACE):
                await asyncio.to_thread(self._ping)
        except TimeoutError:
            error = SourceTimeout(f"no answer within {self.config.timeout:g} s")
            return Health(False, error.reason, _ms(started), error)
        except ConnectorError as exc:
            return Health(False, exc.reason, _ms(started), exc)
        return Health(True, f"{self.engine.dialect.name} answers", _ms(started))

    def _ping(self) -> None:
        try:
            with self._connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise classify(exc) from None

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await asyncio.to_thread(self.engine.dispose)


def make_readonly_engine(config: SqlConfig, egress: Egress, target: Target) -> sa.Engine:
    """Create the pooled engine: SQLite opened with mode=ro, PostgreSQL sessions and transactions read-only.

    Every new connection asks the egress policy first: SQLite opens the file the policy resolved and checked,
    PostgreSQL connects to the address the policy resolved and checked (libpq's hostaddr), not to a fresh lookup.
    """
    url = parse_sql_url(config.url)
    if url.drivername == "sqlite":
        return _sqlite_engine(config, url.database, egress)
    # standard_conforming_strings: backslashes in string literals mean what the template check parsed them as.
    options = (f"-c default_transaction_read_only=on -c statement_timeout={int(config.timeout * 1000)}"
               f" -c idle_in_transaction_session_timeout={int(config.timeout * 10_000)}"
               " -c standard_conforming_strings=on")
    engine = sa.create_engine(url, pool_size=config.pool_size, max_overflow=0, pool_timeout=config.timeout,
                              pool_pre_ping=True, pool_recycle=1800,
                              connect_args={"options": options, "connect_timeout": max(1, math.ceil(config.timeout))})
    # The session default can be switched off by SQL (set_config); the client-side BEGIN READ ONLY cannot.
    sa.event.listen(engine, "connect", _psycopg_read_only)
    sa.event.listen(engine, "connect", refuse_powerful_account)

    @sa.event.listens_for(engine, "do_connect")
    def _checked_address(_dialect, _record, _cargs, cparams) -> None:
        cparams["hostaddr"] = str(egress.database_address(target))

    return engine


def _sqlite_engine(config: SqlConfig, path: str, egress: Egress) -> sa.Engine:
    """SQLite read-only; each checkout re-checks where the path leads, so a file swapped for a link is not read."""

    def connect() -> sqlite3.Connection:
        uri = f"file:{quote(egress.sqlite_path(path))}?mode=ro"
        return sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=config.timeout)

    engine = sa.create_engine("sqlite+pysqlite://", creator=connect, poolclass=QueuePool,
                              pool_size=config.pool_size, max_overflow=0, pool_timeout=config.timeout)

    @sa.event.listens_for(engine, "checkout")
    def _still_the_checked_file(dbapi_connection, record, _proxy) -> None:
        opened = record.info.setdefault("path", dbapi_connection.execute("PRAGMA database_list").fetchone()[2])
        try:
            allowed = egress.sqlite_path(path)
        except EgressRefused:
            allowed = None
        if opened != allowed:  # drop this connection: the pool opens a new one through the policy, or fails
            raise sa.exc.DisconnectionError("the SQLite path no longer leads to the file that was checked")

    return engine


def _psycopg_read_only(dbapi_connection, _record) -> None:
    dbapi_connection.read_only = True


def refuse_powerful_account(dbapi_connection, _record=None) -> None:
    """Close a new PostgreSQL connection whose account holds more than SELECT needs, raising AccountRefused."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute(_ACCOUNT, (list(POWERFUL_ROLES),))
        name, superuser, createrole, replication, bypassrls, roles = cursor.fetchone()
    dbapi_connection.rollback()
    problems = [why for held, why in ((superuser, "is a superuser"), (createrole, "may create roles"),
                                      (replication, "may replicate"), (bypassrls, "bypasses row-level security"))
                if held]
    if roles:
        problems.append(f"is a member of {', '.join(roles)}")
    if problems:
        dbapi_connection.close()
        raise AccountRefused(f"the database account {name!r} {' and '.join(problems)}; give the hub an account "
                             "that may only SELECT the source's tables")


def _sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
    """Deny ATTACH, DETACH, PRAGMA and extension loading while a template runs, whatever the parser saw."""
    if action in _SQLITE_DENIED or (action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() == "load_extension"):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def classify(exc: SQLAlchemyError) -> ConnectorError:
    """Map a database failure to a short reason, never echoing SQL text or driver messages."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None)
    text = str(orig).lower()
    if state == "57014" or (isinstance(orig, sqlite3.OperationalError) and "interrupted" in text):
        return SourceTimeout("the query ran past the statement timeout")
    if state == "25006" or (isinstance(orig, sqlite3.OperationalError) and "readonly" in text):
        return SourceRefused("the query tried to write; the source is read-only")
    if state == "42501" or (isinstance(orig, sqlite3.DatabaseError) and "not authorized" in text):
        return SourceRefused("the database refused the account or the statement (not authorised)")
    if isinstance(exc, sa.exc.TimeoutError):
        return SourceTimeout("every pooled database connection is busy")
    return SourceRefused(f"the database query failed ({type(orig or exc).__name__})")


def jsonable(value: Any) -> Any:
    """Turn a column value into a JSON type, so every connector's records serialise the same way."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (date, datetime, dtime)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    return value


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
