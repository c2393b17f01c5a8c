"""Hand out random status list indexes, flip status bits, and serve signed lists."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.core.errors import HubError, NotFound
from hub.status.tables import StatusEntry, StatusList
from hub.trust.service import load_root
from hub.verify.statuslist import (
    LIST_SIZE,
    PURPOSES,
    StatusListView,
    credential,
    list_id,
    sign_status_list,
    with_bit,
)

FILL_LIMIT = LIST_SIZE // 2  # open a new list pair at half full: random free indexes stay cheap to find
MAX_TRIES = 64


class StatusListFull(HubError):
    status, code, title = 503, "status_list_full", "No free status list index"


def allocate_index(session: Session, *, department_id: str, issuer_code: str, license_id: str,
                   now: datetime) -> tuple[int, int]:
    """Give a license a random free index in the issuer's open list pair (not sequential: herd privacy)."""
    list_no = _open_list(session, department_id, issuer_code, now)
    for _ in range(MAX_TRIES):
        index = secrets.randbelow(LIST_SIZE)
        try:
            with session.begin_nested():
                session.add(StatusEntry(issuer_department_id=department_id, list_no=list_no, index=index,
                                        license_id=license_id))
        except IntegrityError:
            continue  # taken: draw again
        return list_no, index
    raise StatusListFull("Could not find a free status list index; retry.")


def _open_list(session: Session, department_id: str, issuer_code: str, now: datetime) -> int:
    """Return the number of the issuer's open list pair, counting this allocation in it."""
    for _ in range(3):
        current = session.scalar(
            select(StatusList.list_no).where(StatusList.issuer_department_id == department_id,
                                             StatusList.purpose == "revocation")
            .order_by(StatusList.list_no.desc()).limit(1))
        if current is None:
            current = _create_pair(session, department_id, issuer_code, 1, now)
        bump = (update(StatusList).where(StatusList.id == list_id(issuer_code, current, "revocation"),
                                         StatusList.allocated < FILL_LIMIT)
                .values(allocated=StatusList.allocated + 1).returning(StatusList.allocated))
        if session.execute(bump).scalar() is not None:
            return current
        _create_pair(session, department_id, issuer_code, current + 1, now)
    raise StatusListFull("Could not open a status list; retry.")


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


def _view(row: StatusList) -> StatusListView:
    return StatusListView(row.id, row.purpose, row.bits, row.updated_at)


class StatusCache:
    """Every status list in memory (16 KiB each), reloaded when stale; signed lists cached per version."""

    def __init__(self, session_factory: sessionmaker[Session], *, passphrase: bytes, base_url: str,
                 ttl: float = 5.0) -> None:
        self._factory, self._passphrase, self._base_url, self._ttl = session_factory, passphrase, base_url, ttl
        self._lock = threading.Lock()
        self._lists: dict[str, StatusListView] = {}
        self._versions: dict[str, int] = {}
        self._signed: dict[tuple[str, int], str] = {}
        self._loaded_at = float("-inf")

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self._loaded_at < self._ttl

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    def lists(self) -> dict[str, StatusListView]:
        """Return the current lists by id, reloading the changed ones when stale (blocking)."""
        if not self.fresh:
            self._reload()
        return self._lists

    def _reload(self) -> None:
        with self._lock, self._factory() as session:
            versions = dict(session.execute(select(StatusList.id, StatusList.version)).all())
            changed = [i for i, v in versions.items() if self._versions.get(i) != v]
            lists = dict(self._lists)
            for row in session.scalars(select(StatusList).where(StatusList.id.in_(changed))) if changed else ():
                lists[row.id] = _view(row)
            self._lists, self._versions, self._loaded_at = lists, versions, time.monotonic()

    def signed(self, identifier: str) -> tuple[str, int]:
        """Return the list's vc+jwt and its version; NotFound for an unknown id."""
        view = self.lists().get(identifier)
        if view is None:
            self._reload()
            view = self._lists.get(identifier)
        if view is None:
            raise NotFound("No such status list.")
        version = self._versions[identifier]
        token = self._signed.get((identifier, version))
        if token is None:
            with self._factory() as session:
                root = load_root(session, self._passphrase)
            token = sign_status_list(credential(view, base_url=self._base_url), root.private_key, root.cert_der)
            self._signed = {k: v for k, v in self._signed.items() if k[0] != identifier}
            self._signed[(identifier, version)] = token
        return token, version
