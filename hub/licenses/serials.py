"""License serials: per issuer, license type and year, YYYY + 6 digits, handed out by a counter row."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.core.db import at_once, counts_at_once
from hub.core.errors import Conflict
from hub.licenses.tables import SerialCounter

SERIAL_DIGITS = 6  # serial = YYYY + 6 digits: stays a CBOR uint32 in the QR


def next_serial(session: Session, issuer_code: str, type_code: str, year: int) -> int:
    """Take the next serial; on PostgreSQL its counter commits at once (a failed license leaves a gap)."""
    if counts_at_once(session):  # the counter is not held locked until the license commits
        with at_once(session) as connection:
            serials = _bump_serials(connection, issuer_code=issuer_code, type_code=type_code, year=year, count=1)
    else:
        serials = reserve_serials(session, issuer_code=issuer_code, type_code=type_code, year=year, count=1)
    if not serials:
        raise Conflict("The yearly serial range of this license type is exhausted for this issuer.")
    return serials[0]


_COUNTERS = SerialCounter.__table__  # Core: the ORM's bulk update path costs more than the statement


def _counter_key(issuer_code: str, type_code: str, year: int):
    return (_COUNTERS.c.issuer_code == issuer_code) & (_COUNTERS.c.type_code == type_code) & (_COUNTERS.c.year == year)


def reserve_serials(session: Session, *, issuer_code: str, type_code: str, year: int, count: int) -> range:
    """Take the next `count` serials for (issuer, type, year) with one counter update; they are consecutive.

    Serials past the yearly range are not taken: the range returned is shorter (empty once exhausted).
    """
    key = _counter_key(issuer_code, type_code, year)
    bump = update(_COUNTERS).where(key).values(last=_COUNTERS.c.last + count).returning(_COUNTERS.c.last)
    last = session.execute(bump).scalar()
    if last is None:
        try:
            with session.begin_nested():
                session.execute(insert(_COUNTERS).values(issuer_code=issuer_code, type_code=type_code,
                                                         year=year, last=count))
            last = count
        except IntegrityError:
            last = session.execute(bump).scalar_one()
    return _taken(session, last, count, issuer_code=issuer_code, type_code=type_code, year=year)


_UPSERT = postgresql.insert(_COUNTERS).values(issuer_code=bindparam("issuer_code"), type_code=bindparam("type_code"),
                                             year=bindparam("year"), last=bindparam("count"))
_BUMP = _UPSERT.on_conflict_do_update(index_elements=list(_COUNTERS.primary_key),
                                      set_={"last": _COUNTERS.c.last + _UPSERT.excluded.last}
                                      ).returning(_COUNTERS.c.last)


def _bump_serials(connection: Connection, *, issuer_code: str, type_code: str, year: int, count: int) -> range:
    """reserve_serials in one PostgreSQL statement (an upsert), on a connection that commits it at once.

    A serial taken so, for a license whose transaction then fails, is not handed out again: a gap.
    """
    last = connection.execute(_BUMP, {"issuer_code": issuer_code, "type_code": type_code, "year": year,
                                      "count": count}).scalar_one()
    return _taken(connection, last, count, issuer_code=issuer_code, type_code=type_code, year=year)


def _taken(executor: Session | Connection, last: int, count: int, *, issuer_code: str, type_code: str,
           year: int) -> range:
    """The serials up to `last` that fit the yearly range; the counter is set back to the range's end."""
    limit = 10 ** SERIAL_DIGITS - 1
    if last > limit:  # give back what does not fit, so the counter never passes the range
        executor.execute(update(_COUNTERS).where(_counter_key(issuer_code, type_code, year)).values(last=limit))
    first = last - count + 1
    return range(year * 10 ** SERIAL_DIGITS + first, year * 10 ** SERIAL_DIGITS + min(last, limit) + 1)
