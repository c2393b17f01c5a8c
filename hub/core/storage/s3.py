"""The object store on an S3 bucket (minio's client), with bounded timeouts and the system's CA bundle."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from hub.core.storage.base import ObjectNotFound, StorageUnavailable, check_expiry, validate_key, validate_prefix

# Bucket naming rules: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


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
        validate_prefix(prefix)
        with _s3_errors():
            objects = self.client.list_objects(self.bucket, prefix=prefix or None, recursive=True)
            return sorted(o.object_name for o in objects if o.object_name and not o.is_dir)

    def presigned_url(self, key: str, *, expires: timedelta) -> str | None:
        """Return a URL that downloads the object without credentials until it expires."""
        check_expiry(expires)
        validate_key(key)
        with _s3_errors():
            return self.client.presigned_get_object(self.bucket, key, expires=expires)

    def check(self) -> None:
        """Raise StorageUnavailable unless the bucket answers."""
        with _s3_errors():
            found = self.client.bucket_exists(self.bucket)
        if not found:
            raise StorageUnavailable(f"bucket {self.bucket!r} does not exist")


def parse_endpoint(endpoint: str) -> tuple[str, bool]:
    """Split "http(s)://host:port" into minio's "host:port" and its secure flag."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"S3 endpoint must look like http://host:port or https://host:port, not {endpoint!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"S3 endpoint must not carry a path, query or credentials: {endpoint!r}")
    return parts.netloc, parts.scheme == "https"
