"""What a hub's session factory gives every session in `Session.info` (the audit pepper, caches, the counter
pool), read with one clear error when a session or factory was built without it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker


def session_item(session: Session, key: str, build_hint: str) -> Any:
    """The session's `info[key]`; RuntimeError naming the build_hint when it is missing."""
    item = session.info.get(key)
    if item is None:
        raise RuntimeError(f"this session has no {key}: {build_hint}")
    return item


def factory_item(session_factory: sessionmaker[Session], key: str, build_hint: str) -> Any:
    """What every session of the factory carries as `info[key]`; RuntimeError naming the build_hint when missing."""
    item = session_factory.kw.get("info", {}).get(key)
    if item is None:
        raise RuntimeError(f"this session factory has no {key}: {build_hint}")
    return item
