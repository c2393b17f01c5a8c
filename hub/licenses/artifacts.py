"""What is derived from a signed license record: QR images now, the signed PDF too.

The record (row + signed QR text) is the source of truth and is committed first; artifacts are
rendered from it afterwards and stored under keys derived from the identifier. A crash between the
commit and the upload leaves an artifact missing, never an orphan: a missing artifact is rendered
again on first request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hub.core.storage import ObjectNotFound, ObjectStore
from hub.licenses import qrimage
from hub.licenses.tables import License

log = logging.getLogger("hub.licenses")
CONTENT_TYPES = {"qr.png": "image/png", "qr.svg": "image/svg+xml"}


def object_key(identifier: str, name: str) -> str:
    return f"licenses/{identifier}/{name}"


def render(row: License) -> dict[str, bytes]:
    """Render every artifact of a license."""
    png, svg = qrimage.render(row.qr_text)
    return {"qr.png": png, "qr.svg": svg}


def store_artifacts(row: License, store: ObjectStore) -> dict[str, bytes]:
    """Render and store every artifact of a committed license."""
    artifacts = render(row)
    for name, data in artifacts.items():
        store.put(object_key(row.identifier, name), data, content_type=CONTENT_TYPES[name])
    return artifacts


def artifact(row: License, store: ObjectStore, name: str) -> bytes:
    """Return one stored artifact, rendering (and storing) them if it is missing."""
    try:
        return store.get(object_key(row.identifier, name))
    except ObjectNotFound:
        log.info("rendering missing artifacts of %s", row.identifier)
        return store_artifacts(row, store)[name]


def after_commit_renderer(row: License, store: ObjectStore) -> Callable[[], None]:
    """Return a callback that stores the artifacts once the license is committed, logging failures."""

    def run() -> None:
        try:
            store_artifacts(row, store)
        except Exception:  # noqa: BLE001 - the license stands; the artifacts render again on request
            log.exception("could not store the artifacts of %s; they will render on request", row.identifier)

    return run
