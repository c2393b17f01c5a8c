"""The audit log's bulk writes, run through the database driver's executemany.

SQLAlchemy's per-row parameter processing costs more than these statements: the sequencer's updates and the
queued entries of POST /verify (thousands a second) go to the driver as they are. The columns are plain
integers, text and bytes, which both drivers take unchanged; a time is first converted as its column type
would convert it, so what is stored is the same as through SQLAlchemy.
"""

from __future__ import annotations

import string
from operator import itemgetter

from sqlalchemy.orm import Session

from hub.audit.tables import AuditEntry

_INSERT_ENTRY = ("INSERT INTO audit_entries (id, created_at, kind, actor, subject_ref, data, leaf_hash) "
                 "VALUES ({id}, {created_at}, {kind}, {actor}, {subject_ref}, {data}, {leaf_hash})")


def executemany(session: Session, template: str, rows: list[dict]) -> None:
    """Run one statement, its parameters written {name}, for many rows in the session's transaction."""
    connection = session.connection()
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]  # in statement order
    if connection.dialect.paramstyle == "qmark":  # sqlite3
        statement = template.format(**{name: "?" for name in names})
        values = itemgetter(*names)
        connection.exec_driver_sql(statement, [values(row) for row in rows])
    else:  # psycopg: pyformat
        statement = template.format(**{name: f"%({name})s" for name in names})
        connection.exec_driver_sql(statement, rows)


def insert_entries(session: Session, rows: list[dict]) -> None:
    """Insert prepared entry rows (hub.audit.entries.entry_row), unsequenced."""
    dialect = session.get_bind().dialect
    stamp = AuditEntry.__table__.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    if stamp is not None:
        rows = [row | {"created_at": stamp(row["created_at"])} for row in rows]
    executemany(session, _INSERT_ENTRY, rows)
