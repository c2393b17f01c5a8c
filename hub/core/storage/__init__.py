"""Object storage behind one small interface (hub.core.storage.base): a local directory or an S3 bucket."""

from __future__ import annotations

from pathlib import Path

from hub.core.storage.base import ObjectStore
from hub.core.storage.files import FileStore
from hub.core.storage.s3 import S3Store, parse_endpoint


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
        host, secure = parse_endpoint(endpoint)
        return S3Store(endpoint=host, access_key=access_key, secret_key=secret_key, bucket=bucket, secure=secure)
    raise ValueError(f"unsupported storage URL {url!r}: use file://DIR or s3://BUCKET")
