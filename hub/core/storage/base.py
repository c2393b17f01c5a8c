"""The object store's interface: its errors, the ObjectStore protocol, and the rules every key and prefix follows."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Protocol

from hub.core.errors import HubError

# S3 limits a key to 1024 bytes of UTF-8 and most file systems a name to 255 bytes; both stores
# enforce both limits, so a key that works on one backend works on the other.
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255
# Control characters break S3's XML listings (XML 1.0 cannot carry most of them); backslashes
# are path separators on Windows.
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
# Temporary files of FileStore start with this; list() hides them and keys may not use it.
TEMP_PREFIX = ".objtmp-"
# Presigned URLs are limited to 7 days by SigV4 (AWS S3 API, "Authenticating Requests: Query Parameters").
_MAX_PRESIGN = timedelta(days=7)


class ObjectNotFound(HubError):
    status, code, title = 404, "object_not_found", "Object not found"


class InvalidObjectKey(HubError):
    status, code, title = 400, "invalid_object_key", "Invalid object key"


class StorageUnavailable(HubError):
    status, code, title = 503, "storage_unavailable", "Object storage unavailable"


class ObjectStore(Protocol):
    """Where the hub keeps documents: bytes under a slash-separated key."""

    def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def list(self, prefix: str = "") -> list[str]: ...

    def presigned_url(self, key: str, *, expires: timedelta) -> str | None: ...

    def check(self) -> None: ...


def validate_key(key: str) -> str:
    """Return key if it is a safe relative slash path, else raise InvalidObjectKey."""
    if not isinstance(key, str) or not key:
        raise InvalidObjectKey("the key must be a non-empty string")
    if _UNSAFE_CHARS.search(key):
        raise InvalidObjectKey("the key contains a control character or a backslash")
    if key.startswith("/"):
        raise InvalidObjectKey("the key must be relative")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidObjectKey("the key is not valid Unicode") from exc
    if size > MAX_KEY_BYTES:
        raise InvalidObjectKey(f"the key is longer than {MAX_KEY_BYTES} bytes")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise InvalidObjectKey("the key has an empty, '.' or '..' segment")
        if part.startswith(TEMP_PREFIX):
            raise InvalidObjectKey(f"key segments may not start with {TEMP_PREFIX!r}")
        if len(part.encode()) > MAX_SEGMENT_BYTES:
            raise InvalidObjectKey(f"a key segment is longer than {MAX_SEGMENT_BYTES} bytes")
    return key


def validate_prefix(prefix: str) -> str:
    """Allow "" and partial keys such as "licenses/", "licenses/2024-" or "a/."."""
    if prefix:
        validate_key(prefix + "x")  # a prefix is valid when some key could start with it
    return prefix


def check_expiry(expires: timedelta) -> None:
    if not timedelta(seconds=1) <= expires <= _MAX_PRESIGN:
        raise ValueError("presigned URLs expire after 1 second to 7 days")
