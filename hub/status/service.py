"""Hand out random status list indexes, flip status bits, and serve signed lists."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import ARRAY, Integer, String, bindparam, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.core.caches import session_caches
from hub.core.clock import Clock, system_clock
from hub.core.db import at_once, counts_at_once
from hub.core.errors import HubError, NotFound
from hub.status.tables import StatusEntry, StatusList
from hub.trust.service import load_root
from hub.trust.signing import sign_status_list
from license_verifier.statuslist import LIST_SIZE, PURPOSES, StatusListView, credential, list_id, with_bit

log = logging.getLogger("hub.status")
FILL_LIMIT = LIST_SIZE // 2  # open a new list pair at half full: random free indexes stay cheap to find
MAX_TRIES = 64
REFRESH_AHEAD = 0.8  # share of the cache's ttl after which the hot path starts one reload in the background
_random = random.SystemRandom()  # unpredictable indexes: the index must not tell when a license was issued


class StatusListFull(HubError):
    status, code, title = 503, "status_list_full", "No free status list index"


def allocate_index(session: Session, *, department_id: str, issuer_code: str, license_id: str,
                   now: datetime) -> tuple[int, int]:
    """Give a license a random free index in the issuer's open list pair (not sequential: herd privacy).

    On PostgreSQL the open list's count is raised by a statement that commits at once, so concurrent
    issuers do not queue on its row until each license commits; a license whose transaction then
    fails leaves the count one higher than the entries (the list counts as full a little early).
    """
    if counts_at_once(session):
        list_no = _count_in_at_once(session, department_id, issuer_code)
        if list_no is not None:
            return _draw(session, department_id, list_no, [license_id])[license_id]
    (ref,) = allocate_indexes(session, department_id=department_id, issuer_code=issuer_code,
                              license_ids=[license_id], now=now)
    session_caches(session).named(OPEN_LISTS).put(department_id, ref[0])
    return ref


OPEN_LISTS = "open_status_lists"  # department id -> its open list's number, as last seen by this process


def _count_in_at_once(session: Session, department_id: str, issuer_code: str) -> int | None:
    """Count one allocation in the list last seen open, if it is still open (below half full)."""
    open_lists = session_caches(session).named(OPEN_LISTS)
    list_no = open_lists.get(department_id)
    if list_no is None:
        return None
    with at_once(session) as connection:
        allocated = connection.execute(_COUNT_IN, {"list_id": list_id(issuer_code, list_no, "revocation"),
                                                   "wanted": 1}).scalar()
    if allocated is None:  # full: the next pair opens in the session's transaction
        open_lists.forget(department_id)
        return None
    return list_no


def allocate_indexes(session: Session, *, department_id: str, issuer_code: str, license_ids: Sequence[str],
                     now: datetime) -> list[tuple[int, int]]:
    """Give each license a random free index, as allocate_index does, with a few statements for all of them.

    The open list's counter is raised for the whole group first (its row lock orders concurrent
    issuers); a list that would pass half full takes what fits and the next pair opens for the rest.
    Indexes are drawn at random among all the list's indexes and inserted with ON CONFLICT DO NOTHING;
    the few that were taken already are drawn again.
    """
    refs: dict[str, tuple[int, int]] = {}
    pending = list(license_ids)
    while pending:
        list_no, room = _open_list(session, department_id, issuer_code, len(pending), now)
        group, pending = pending[:room], pending[room:]
        refs.update(_draw(session, department_id, list_no, group))
    return [refs[license_id] for license_id in license_ids]


_LISTS = StatusList.__table__  # Core, built once: the ORM's statement paths cost more than these statements
_OPEN_LIST = (select(_LISTS.c.list_no)
              .where(_LISTS.c.issuer_department_id == bindparam("department_id"), _LISTS.c.purpose == "revocation")
              .order_by(_LISTS.c.list_no.desc()).limit(1))
_COUNT_IN = (update(_LISTS).where(_LISTS.c.id == bindparam("list_id"), _LISTS.c.allocated < FILL_LIMIT)
             .values(allocated=_LISTS.c.allocated + bindparam("wanted")).returning(_LISTS.c.allocated))
_CAP = update(_LISTS).where(_LISTS.c.id == bindparam("list_id")).values(allocated=FILL_LIMIT)


def _open_list(session: Session, department_id: str, issuer_code: str, wanted: int, now: datetime) -> tuple[int, int]:
    """Return the issuer's open list pair and how many of `wanted` allocations it takes (counted in it)."""
    for _ in range(3):
        current = session.scalar(_OPEN_LIST, {"department_id": department_id})
        if current is None:
            current = _create_pair(session, department_id, issuer_code, 1, now)
        key = {"list_id": list_id(issuer_code, current, "revocation")}
        allocated = session.execute(_COUNT_IN, key | {"wanted": wanted}).scalar()
        if allocated is not None:
            if allocated <= FILL_LIMIT:
                return current, wanted
            session.execute(_CAP, key)
            return current, wanted - (allocated - FILL_LIMIT)  # the rest goes to the next pair
        _create_pair(session, department_id, issuer_code, current + 1, now)
    raise StatusListFull("Could not open a status list; retry.")


def _draw(session: Session, department_id: str, list_no: int, license_ids: list[str]) -> dict[str, tuple[int, int]]:
    refs: dict[str, tuple[int, int]] = {}
    pending = license_ids
    for _ in range(MAX_TRIES):
        indexes = _random.sample(range(LIST_SIZE), len(pending))
        taken = _insert_entries(session, department_id, list_no, indexes, pending)
        refs.update((license_id, (list_no, index)) for license_id, index in taken)
        pending = [license_id for license_id in pending if license_id not in refs]
        if not pending:
            return refs
    raise StatusListFull("Could not find a free status list index; retry.")


def _insert_entries(session: Session, department_id: str, list_no: int, indexes: list[int],
                    license_ids: list[str]) -> list[tuple[str, int]]:
    """Insert the entries whose index is free (INSERT ... ON CONFLICT DO NOTHING); return those inserted."""
    table = StatusEntry.__table__  # Core, not the ORM's bulk path: it costs more than the statement
    columns = ["issuer_department_id", "list_no", "index", "license_id"]
    if session.get_bind().dialect.name == "postgresql":
        # One statement over two arrays: an executemany would be one statement per entry for the server.
        rows = select(literal(department_id), literal(list_no), func.unnest(literal(indexes, ARRAY(Integer))),
                      func.unnest(literal(license_ids, ARRAY(String))))
        statement = postgresql.insert(table).from_select(columns, rows)
        return session.execute(statement.on_conflict_do_nothing()
                               .returning(table.c.license_id, table.c.index)).all()
    entries = [dict(zip(columns, (department_id, list_no, index, license_id)))
               for index, license_id in zip(indexes, license_ids)]
    statement = sqlite.insert(table).on_conflict_do_nothing().returning(table.c.license_id, table.c.index)
    return session.execute(statement, entries).all()


def _create_pair(session: Session, department_id: str, issuer_code: str, list_no: int, now: datetime) -> int:
    try:
        with session.begin_nested():
            for purpose in PURPOSES:
                session.add(StatusList(id=list_id(issuer_code, list_no, purpose), issuer_department_id=department_id,
                                       list_no=list_no, purpose=purpose, bits=bytes(LIST_SIZE // 8),
                                       allocated=0, version=1, updated_at=now))
    except IntegrityError:
        pass  # another transaction opened it first
    return list_no


def set_status(session: Session, *, issuer_code: str, list_no: int, index: int, purpose: str, value: bool,
               now: datetime) -> None:
    """Set or clear one license's bit; the row lock orders concurrent changes to the same list."""
    row = session.scalar(select(StatusList).where(StatusList.id == list_id(issuer_code, list_no, purpose))
                         .with_for_update())
    if row is None:
        raise NotFound("No such status list.")
    row.bits = with_bit(row.bits, index, value)
    row.version += 1
    row.updated_at = now


def _view(row: StatusList, fetched_at: datetime) -> StatusListView:
    return StatusListView(row.id, row.purpose, row.bits, row.updated_at, fetched_at)


class StatusCache:
    """Every status list in memory (16 KiB each), reloaded when stale; signed lists cached per version.

    Each reload compares every list's version with the database, so after it every list held is current:
    all of them carry the reload's time as `fetched_at` (what /verify reports as the copy's age). Requests
    that find the copy stale wait for one reload together; `held` lets the hot path start that reload a
    little before the copy goes stale, in the background, while it answers from the copy it holds.
    """

    def __init__(self, session_factory: sessionmaker[Session], *, passphrase: bytes, base_url: str,
                 clock: Clock = system_clock, ttl: float = 5.0) -> None:
        self._factory, self._passphrase, self._base_url, self._ttl = session_factory, passphrase, base_url, ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._ahead = threading.Lock()  # held while a reload ahead of time runs
        self._lists: dict[str, StatusListView] = {}
        self._versions: dict[str, int] = {}
        self._snapshot: tuple[dict[str, StatusListView], dict[str, int]] = ({}, {})  # lists and versions together
        self._signed: dict[tuple[str, int], str] = {}
        self._loaded_at = float("-inf")
        self._epoch = 0  # raised by invalidate: a reload that began before it does not make the copy fresh

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self._loaded_at < self._ttl

    def invalidate(self) -> None:
        self._epoch += 1
        self._loaded_at = float("-inf")

    def lists(self) -> dict[str, StatusListView]:
        """Return the current lists by id, reloading the changed ones when stale (blocking)."""
        if not self.fresh:
            with self._lock:
                if not self.fresh:  # else another thread reloaded while this one waited
                    self._reload()
        return self._lists

    def held(self) -> dict[str, StatusListView] | None:
        """Return the lists held if they are fresh, without blocking; None when stale (call `lists`).

        Past REFRESH_AHEAD of the ttl, one reload starts in a thread; the copy stays fresh meanwhile.
        """
        age = time.monotonic() - self._loaded_at
        if age >= self._ttl:
            return None
        if age >= self._ttl * REFRESH_AHEAD and self._ahead.acquire(blocking=False):
            threading.Thread(target=self._reload_ahead, name="status-lists", daemon=True).start()
        return self._lists

    def _reload_ahead(self) -> None:
        try:
            with self._lock:
                if time.monotonic() - self._loaded_at >= self._ttl * REFRESH_AHEAD:
                    self._reload()
        except SQLAlchemyError:
            log.exception("status lists not reloaded ahead of time; requests reload them when stale")
        finally:
            self._ahead.release()

    def _reload(self) -> None:
        epoch = self._epoch
        with self._factory() as session:
            fetched_at = self._clock()
            versions = dict(session.execute(select(StatusList.id, StatusList.version)).all())
            changed = [i for i, v in versions.items() if self._versions.get(i) != v]
            lists = {i: replace(view, fetched_at=fetched_at) for i, view in self._lists.items()}
            for row in session.scalars(select(StatusList).where(StatusList.id.in_(changed))) if changed else ():
                lists[row.id] = _view(row, fetched_at)
            self._lists, self._versions, self._snapshot = lists, versions, (lists, versions)
            self._loaded_at = time.monotonic() if epoch == self._epoch else float("-inf")

    def signed(self, identifier: str) -> tuple[str, int]:
        """Return the list's vc+jwt and its version; NotFound for an unknown id."""
        self.lists()
        lists, versions = self._snapshot  # the view and its version from the same reload
        if identifier not in lists:
            self.invalidate()
            self.lists()
            lists, versions = self._snapshot
        view = lists.get(identifier)
        if view is None:
            raise NotFound("No such status list.")
        version = versions[identifier]
        token = self._signed.get((identifier, version))
        if token is None:
            with self._factory() as session:
                root = load_root(session, self._passphrase)
            token = sign_status_list(credential(view, base_url=self._base_url), root.private_key, root.cert_der)
            self._signed = {k: v for k, v in self._signed.items() if k[0] != identifier}
            self._signed[(identifier, version)] = token
        return token, version
