"""Bounded caches that belong to a session factory, and so to the Services that own the factory.

A domain module that remembers what it read (a department's code, the open status list) keeps it here rather
than in a module-level dict: two hubs in one process (tests, benchmarks) never see each other's entries, every
cache has a size, and `Caches.clear` drops them all at once.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from hub.core.session_info import factory_item, session_item

CACHES = "caches"  # key, in Session.info, of the factory's Caches (hub.core.db.make_session_factory sets it)
DEFAULT_SIZE = 10_000

K = TypeVar("K")
V = TypeVar("V")


class Bounded(Generic[K, V]):
    """A mapping that keeps at most `size` entries, forgetting the oldest first. Reads take no lock."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size, self._entries, self._lock = size, dict[K, V](), threading.Lock()

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def remember(self, key: K, value: V) -> V:
        """Keep the value for the key (the one kept already, if another thread was first) and return it."""
        with self._lock:
            kept = self._entries.setdefault(key, value)
            while len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]
            return kept

    def put(self, key: K, value: V) -> None:
        """Keep the value for the key, replacing any kept before."""
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = value
            while len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]

    def forget(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class Caches:
    """The named caches of one session factory."""

    def __init__(self) -> None:
        self._named: dict[str, Bounded] = {}
        self._lock = threading.Lock()

    def named(self, name: str, size: int = DEFAULT_SIZE) -> Bounded:
        cache = self._named.get(name)
        if cache is None:
            with self._lock:
                cache = self._named.setdefault(name, Bounded(size))
        return cache

    def clear(self) -> None:
        """Drop every entry of every cache (the data they hold changed under the process)."""
        for cache in list(self._named.values()):
            cache.clear()


def session_caches(session: Session) -> Caches:
    """The caches of the factory the session came from."""
    return session_item(session, CACHES, "build its factory with make_session_factory")


def factory_caches(session_factory: sessionmaker[Session]) -> Caches:
    """The caches of a session factory built by make_session_factory."""
    return factory_item(session_factory, CACHES, "build it with make_session_factory")
