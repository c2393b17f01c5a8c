"""Object storage behind one small interface: a local directory or an S3 bucket."""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from hub.core.errors import HubError

# S3 limits a key to 1024 bytes of UTF-8 and most file systems a name to 255 bytes; both stores
# enforce both limits, so a key that works on one backend works on the other.
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255
# Control characters break S3's XML listings (XML 1.0 cannot carry most of them); backslashes
# are path separators on Windows.
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
# Temporary files of FileStore start with this; list() hides them and keys may not use it.
_TEMP_PREFIX = ".objtmp-"
# Bucket naming rules: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
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
        if part.startswith(_TEMP_PREFIX):
            raise InvalidObjectKey(f"key segments may not start with {_TEMP_PREFIX!r}")
        if len(part.encode()) > MAX_SEGMENT_BYTES:
            raise InvalidObjectKey(f"a key segment is longer than {MAX_SEGMENT_BYTES} bytes")
    return key


def _validate_prefix(prefix: str) -> str:
    """Allow "" and partial keys such as "licenses/", "licenses/2024-" or "a/."."""
    if prefix:
        validate_key(prefix + "x")  # a prefix is valid when some key could start with it
    return prefix


def _check_expiry(expires: timedelta) -> None:
    if not timedelta(seconds=1) <= expires <= _MAX_PRESIGN:
        raise ValueError("presigned URLs expire after 1 second to 7 days")


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
        start = self.root.joinpath(*_validate_prefix(prefix).split("/")[:-1])
        keys = []
        with _file_errors():
            for dirpath, _dirs, files in os.walk(start, onerror=_raise):
                rel = Path(dirpath).relative_to(self.root).as_posix()
                for name in files:
                    key = name if rel == "." else f"{rel}/{name}"
                    if not name.startswith(_TEMP_PREFIX) and key.startswith(prefix):
                        keys.append(key)
        return sorted(keys)

    def presigned_url(self, key: str, *, expires: timedelta) -> str | None:
        """Return None: files are served by the hub itself."""
        _check_expiry(expires)
        validate_key(key)
        return None

    def check(self) -> None:
        """Raise StorageUnavailable unless the root is a writable directory."""
        with _file_errors():
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root, prefix=_TEMP_PREFIX):
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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
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


def s3_http_client(*, connect_timeout: float = 3.0, read_timeout: float = 30.0) -> urllib3.PoolManager:
    """Build the HTTP pool for S3: short timeouts and no retries, so an outage surfaces fast."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        retries=False,  # and no redirects: minio handles 301/307 itself
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
    )


@contextmanager
def _s3_errors(key: str | None = None) -> Iterator[None]:
    """Turn SDK and network failures into ObjectNotFound or StorageUnavailable."""
    try:
        yield
    except S3Error as exc:
        if exc.code == "NoSuchKey" and key is not None:
            raise ObjectNotFound(f"no object at {key!r}") from exc
        raise StorageUnavailable(f"object storage refused the request ({exc.code})") from exc
    except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise StorageUnavailable(f"object storage did not answer ({type(exc).__name__})") from exc


class S3Store:
    """Objects in one S3 bucket, through the minio SDK."""

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = True,
        region: str | None = None,
        http_client: urllib3.PoolManager | None = None,
    ) -> None:
        if not _BUCKET_NAME.match(bucket):
            raise ValueError(f"invalid bucket name {bucket!r}")
        self.bucket = bucket
        self.client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region,
            http_client=http_client or s3_http_client(),
        )

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists."""
        with _s3_errors():
            if self.client.bucket_exists(self.bucket):
                return
            try:
                self.client.make_bucket(self.bucket)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store data under key, replacing any previous object."""
        validate_key(key)
        with _s3_errors():
            self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)

    def get(self, key: str) -> bytes:
        """Return the bytes under key."""
        validate_key(key)
        with _s3_errors(key):
            response = self.client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def exists(self, key: str) -> bool:
        """Tell whether an object is stored under key."""
        validate_key(key)
        try:
            with _s3_errors(key):
                self.client.stat_object(self.bucket, key)
        except ObjectNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        """Remove the object under key, if any (S3 DELETE is idempotent)."""
        validate_key(key)
        with _s3_errors():
            self.client.remove_object(self.bucket, key)

    def list(self, prefix: str = "") -> list[str]:
        """Return the keys starting with prefix, sorted."""
        _validate_prefix(prefix)
        with _s3_errors():
            objects = self.client.list_objects(self.bucket, prefix=prefix or None, recursive=True)
            return sorted(o.object_name for o in objects if o.object_name and not o.is_dir)

    def presigned_url(self, key: str, *, expires: timedelta) -> str | None:
        """Return a URL that downloads the object without credentials until it expires."""
        _check_expiry(expires)
        validate_key(key)
        with _s3_errors():
            return self.client.presigned_get_object(self.bucket, key, expires=expires)

    def check(self) -> None:
        """Raise StorageUnavailable unless the bucket answers."""
        with _s3_errors():
            found = self.client.bucket_exists(self.bucket)
        if not found:
            raise StorageUnavailable(f"bucket {self.bucket!r} does not exist")


def open_store(
    url: str, *, endpoint: str | None, access_key: str | None, secret_key: str | None, base_dir: Path
) -> ObjectStore:
    """Build the store named by url ("file://rel/dir", "file:///abs/dir" or "s3://bucket"); no I/O."""
    if url.startswith("file://"):
        path = url.removeprefix("file://")
        if not path:
            raise ValueError("file:// storage URL without a directory")
        return FileStore(Path(path) if path.startswith("/") else Path(base_dir) / path)
    if url.startswith("s3://"):
        bucket = url.removeprefix("s3://").rstrip("/")
        if not (endpoint and access_key and secret_key):
            raise ValueError("s3:// storage needs an endpoint, an access key and a secret key")
        host, secure = _parse_endpoint(endpoint)
        return S3Store(endpoint=host, access_key=access_key, secret_key=secret_key, bucket=bucket, secure=secure)
    raise ValueError(f"unsupported storage URL {url!r}: use file://DIR or s3://BUCKET")


def _parse_endpoint(endpoint: str) -> tuple[str, bool]:
    """Split "http(s)://host:port" into minio's "host:port" and its secure flag."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"S3 endpoint must look like http://host:port or https://host:port, not {endpoint!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"S3 endpoint must not carry a path, query or credentials: {endpoint!r}")
    return parts.netloc, parts.scheme == "https"
