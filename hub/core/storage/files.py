"""The object store on a local directory: atomic writes, keys as relative paths under its root."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path

from hub.core.storage.base import TEMP_PREFIX, InvalidObjectKey, ObjectNotFound, StorageUnavailable, check_expiry, \
    validate_key, validate_prefix


class FileStore:
    """Objects as files under a root directory; each write is atomic."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    def _path(self, key: str) -> Path:
        path = self.root.joinpath(*validate_key(key).split("/"))
        # Defence in depth against symlinks inside the root pointing elsewhere.
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise InvalidObjectKey("the key resolves outside the store")
        return path

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Write data under key; the file store does not keep the content type."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise InvalidObjectKey("a parent of the key is already an object") from exc
        if path.is_dir():
            raise InvalidObjectKey("the key is already a prefix of other objects")
        with _file_errors():
            _write_atomically(path, data)

    def get(self, key: str) -> bytes:
        """Return the bytes under key."""
        path = self._path(key)
        try:
            with _file_errors():
                return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no object at {key!r}") from exc

    def exists(self, key: str) -> bool:
        """Tell whether an object is stored under key."""
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove the object under key, if any."""
        path = self._path(key)
        # A directory is a prefix of other objects, not an object: nothing to delete.
        with suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError), _file_errors():
            path.unlink()

    def list(self, prefix: str = "") -> list[str]:
        """Return the keys starting with prefix, sorted."""
        start = self.root.joinpath(*validate_prefix(prefix).split("/")[:-1])
        keys = []
        with _file_errors():
            for dirpath, _dirs, files in os.walk(start, onerror=_raise):
                rel = Path(dirpath).relative_to(self.root).as_posix()
                for name in files:
                    key = name if rel == "." else f"{rel}/{name}"
                    if not name.startswith(TEMP_PREFIX) and key.startswith(prefix):
                        keys.append(key)
        return sorted(keys)

    def presigned_url(self, key: str, *, expires: timedelta) -> str | None:
        """Return None: files are served by the hub itself."""
        check_expiry(expires)
        validate_key(key)
        return None

    def check(self) -> None:
        """Raise StorageUnavailable unless the root is a writable directory."""
        with _file_errors():
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root, prefix=TEMP_PREFIX):
                pass


def _raise(exc: OSError) -> None:
    # os.walk calls this for unreadable directories; a missing start just means no keys.
    if not isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        raise exc


@contextmanager
def _file_errors() -> Iterator[None]:
    """Turn disk failures (full, read-only, permissions) into StorageUnavailable."""
    try:
        yield
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise  # the caller decides what a missing path means
    except OSError as exc:
        raise StorageUnavailable(f"the storage directory failed ({exc.strerror or type(exc).__name__})") from exc


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside path, fsync it, then rename it over path."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # Make the rename itself durable.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
