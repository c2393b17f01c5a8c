"""Both object stores pass the same tests: a directory, and a real S3 server (SeaweedFS on loopback)."""

from __future__ import annotations

import os
import secrets
import socket
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from hub.core.errors import HubError
from hub.core.storage import open_store
from hub.core.storage.base import InvalidObjectKey, ObjectNotFound, ObjectStore, StorageUnavailable
from hub.core.storage.files import FileStore
from hub.core.storage.s3 import S3Store
from tests.support.seaweed import S3Server, assert_loopback

BINARY = bytes(range(256)) * 16 + b"\x00\r\n\x1a"
CHINESE = "营业执照：示例市某某科技有限公司，统一社会信用代码 91110000MA01ABCD2X".encode()
BAD_KEYS = ["", "../x", "a/../../x", "a/..", "/etc/passwd", "a\\b", "a\x00b", "a\nb", "a//b", "a/", "./a",
            ".objtmp-x", "\udc80", "a/" + "x" * 256, "/".join(["x" * 200] * 6)]


def _open_s3(server: S3Server, bucket: str, base_dir: Path) -> S3Store:
    store = open_store(f"s3://{bucket}", endpoint=server.endpoint, access_key=server.access_key,
                       secret_key=server.secret_key, base_dir=base_dir)
    assert isinstance(store, S3Store)
    return store


def _drop_bucket(store: S3Store) -> None:
    for key in store.list():
        store.delete(key)
    store.client.remove_bucket(store.bucket)


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path) -> ObjectStore:
    """A fresh empty store: a directory, or a new bucket on the session's SeaweedFS."""
    if request.param == "file":
        return FileStore(tmp_path / "objects")
    s3 = _open_s3(request.getfixturevalue("s3_server"), f"test-{secrets.token_hex(6)}", tmp_path)
    s3.ensure_bucket()
    request.addfinalizer(lambda: _drop_bucket(s3))
    return s3


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_put_get_exists_delete_round_trip(store: ObjectStore) -> None:
    store.put("licenses/2026/a.bin", BINARY, content_type="application/octet-stream")
    store.put("licenses/2026/b.txt", CHINESE, content_type="text/plain; charset=utf-8")

    assert store.get("licenses/2026/a.bin") == BINARY
    assert store.get("licenses/2026/b.txt").decode() == CHINESE.decode()
    assert store.exists("licenses/2026/a.bin")
    store.delete("licenses/2026/a.bin")
    assert not store.exists("licenses/2026/a.bin")
    assert store.list() == ["licenses/2026/b.txt"]


def test_chinese_and_spaced_keys_round_trip(store: ObjectStore) -> None:
    key = "证照/营业执照 副本 (2026).pdf"
    store.put(key, CHINESE, content_type="application/pdf")
    assert store.get(key) == CHINESE
    assert store.list("证照/") == [key]


def test_empty_object_round_trips(store: ObjectStore) -> None:
    store.put("empty", b"", content_type="application/octet-stream")
    assert store.exists("empty")
    assert store.get("empty") == b""


def test_missing_object_raises_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound) as caught:
        store.get("licenses/nothing-here.pdf")
    assert caught.value.status == 404 and caught.value.code == "object_not_found"
    assert not store.exists("licenses/nothing-here.pdf")


def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.delete("never/stored")
    store.put("once", b"1", content_type="text/plain")
    store.delete("once")
    store.delete("once")
    assert not store.exists("once")


def test_put_overwrites_the_previous_object(store: ObjectStore) -> None:
    store.put("doc", b"first version, longer than the second", content_type="text/plain")
    store.put("doc", b"second", content_type="text/plain")
    assert store.get("doc") == b"second"
    assert store.list() == ["doc"]


def test_list_returns_sorted_keys_under_a_prefix(store: ObjectStore) -> None:
    keys = ["licenses/2027/c.pdf", "licenses/2026/b.pdf", "qr/x.png", "licenses/2026/a.pdf", "top.txt"]
    for key in keys:
        store.put(key, key.encode(), content_type="application/octet-stream")

    assert store.list() == sorted(keys)
    assert store.list("licenses/") == ["licenses/2026/a.pdf", "licenses/2026/b.pdf", "licenses/2027/c.pdf"]
    assert store.list("licenses/2026/") == ["licenses/2026/a.pdf", "licenses/2026/b.pdf"]
    assert store.list("licenses/202") == ["licenses/2026/a.pdf", "licenses/2026/b.pdf", "licenses/2027/c.pdf"]
    assert store.list("t") == ["top.txt"]
    assert store.list("nothing/") == []


@pytest.mark.parametrize("key", BAD_KEYS)
def test_unsafe_keys_are_rejected(store: ObjectStore, key: str) -> None:
    for call in (lambda: store.put(key, b"x", content_type="text/plain"), lambda: store.get(key),
                 lambda: store.exists(key), lambda: store.delete(key)):
        with pytest.raises(InvalidObjectKey):
            call()
    assert store.list() == []


def test_list_rejects_a_prefix_that_escapes(store: ObjectStore) -> None:
    with pytest.raises(InvalidObjectKey):
        store.list("../")


def test_check_passes_on_a_live_store(store: ObjectStore) -> None:
    store.check()


def test_file_store_writes_nothing_outside_its_root(tmp_path: Path) -> None:
    files = FileStore(tmp_path / "objects")
    for key in ("../escaped", "../../escaped", "/tmp/escaped", "a/../../escaped"):
        with pytest.raises(InvalidObjectKey):
            files.put(key, b"x", content_type="text/plain")
    assert not (tmp_path / "escaped").exists()
    assert list(tmp_path.rglob("*escaped*")) == []


def test_file_store_refuses_keys_through_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "objects").mkdir()
    (tmp_path / "objects" / "link").symlink_to(outside)
    files = FileStore(tmp_path / "objects")
    with pytest.raises(InvalidObjectKey):
        files.put("link/x", b"x", content_type="text/plain")
    assert list(outside.iterdir()) == []


def test_file_store_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    files = FileStore(tmp_path / "objects")
    for i in range(20):
        files.put(f"a/{i % 3}", BINARY * i, content_type="application/octet-stream")
    on_disk = sorted(p.relative_to(files.root).as_posix() for p in files.root.rglob("*") if p.is_file())
    assert on_disk == ["a/0", "a/1", "a/2"]


def test_file_store_keeps_the_old_object_when_a_write_fails(tmp_path: Path, monkeypatch) -> None:
    files = FileStore(tmp_path / "objects")
    files.put("doc", b"old", content_type="text/plain")

    def crash(src, dst):  # the process dies between writing the temp file and renaming it
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StorageUnavailable):
        files.put("doc", b"new", content_type="text/plain")
    monkeypatch.undo()
    assert files.get("doc") == b"old"
    assert [p.name for p in files.root.iterdir()] == ["doc"]


def test_file_store_hides_stray_temp_files_from_list(tmp_path: Path) -> None:
    files = FileStore(tmp_path / "objects")
    files.put("a/doc", b"x", content_type="text/plain")
    (files.root / "a" / ".objtmp-left-by-a-crash").write_bytes(b"half")
    assert files.list() == ["a/doc"]


def test_file_store_refuses_an_object_where_a_prefix_exists(tmp_path: Path) -> None:
    # S3 allows both "a" and "a/b"; a directory cannot. Keys the hub builds never collide like this.
    files = FileStore(tmp_path / "objects")
    files.put("a/b", b"x", content_type="text/plain")
    with pytest.raises(InvalidObjectKey):
        files.put("a", b"x", content_type="text/plain")
    with pytest.raises(ObjectNotFound):
        files.get("a")
    files.put("c", b"x", content_type="text/plain")
    with pytest.raises(InvalidObjectKey):
        files.put("c/d", b"x", content_type="text/plain")


def test_file_store_check_fails_when_the_root_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "objects").write_text("not a directory")
    with pytest.raises(StorageUnavailable):
        FileStore(tmp_path / "objects").check()


def test_file_store_has_no_presigned_urls(tmp_path: Path) -> None:
    files = FileStore(tmp_path / "objects")
    files.put("doc", b"x", content_type="text/plain")
    assert files.presigned_url("doc", expires=timedelta(minutes=5)) is None


def test_presigned_url_downloads_the_object_without_credentials(s3_server: S3Server, tmp_path: Path) -> None:
    s3 = _open_s3(s3_server, f"test-{secrets.token_hex(6)}", tmp_path)
    s3.ensure_bucket()
    try:
        s3.put("证照/license.pdf", BINARY, content_type="application/pdf")
        url = s3.presigned_url("证照/license.pdf", expires=timedelta(minutes=5))
        assert url is not None and url.startswith(s3_server.endpoint)
        with httpx.Client(trust_env=False, timeout=10) as http:
            response = http.get(url)
            assert response.status_code == 200
            assert response.content == BINARY
            assert response.headers["content-type"] == "application/pdf"
            assert http.get(url.split("?")[0]).status_code == 403  # the signature is what grants access
    finally:
        _drop_bucket(s3)


def test_presigned_url_expiry_must_be_between_a_second_and_seven_days(store: ObjectStore) -> None:
    for expires in (timedelta(0), timedelta(days=8)):
        with pytest.raises(ValueError):
            store.presigned_url("doc", expires=expires)


def test_ensure_bucket_is_idempotent(s3_server: S3Server, tmp_path: Path) -> None:
    s3 = _open_s3(s3_server, f"test-{secrets.token_hex(6)}", tmp_path)
    s3.ensure_bucket()
    s3.ensure_bucket()
    s3.check()
    _drop_bucket(s3)


def test_check_fails_when_the_bucket_is_missing(s3_server: S3Server, tmp_path: Path) -> None:
    s3 = _open_s3(s3_server, f"missing-{secrets.token_hex(6)}", tmp_path)
    with pytest.raises(StorageUnavailable, match="does not exist"):
        s3.check()


def test_wrong_credentials_make_storage_unavailable(s3_server: S3Server, tmp_path: Path) -> None:
    s3 = open_store("s3://hub-probe", endpoint=s3_server.endpoint, access_key=s3_server.access_key,
                    secret_key="wrong-" + secrets.token_hex(8), base_dir=tmp_path)
    with pytest.raises(StorageUnavailable):
        s3.check()
    with pytest.raises(StorageUnavailable):
        s3.get("probe")


def test_s3_endpoint_nobody_listens_on_fails_fast(tmp_path: Path) -> None:
    dead = open_store("s3://hub", endpoint=f"http://127.0.0.1:{_unused_port()}", access_key="a",
                      secret_key="b", base_dir=tmp_path)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as caught:
        dead.check()
    for call in (lambda: dead.put("k", b"x", content_type="text/plain"), lambda: dead.get("k"),
                 lambda: dead.exists("k"), lambda: dead.list(), lambda: dead.delete("k")):
        with pytest.raises(StorageUnavailable):
            call()
    assert time.monotonic() - started < 5
    assert isinstance(caught.value, HubError)
    assert (caught.value.status, caught.value.code) == (503, "storage_unavailable")


def test_open_store_resolves_file_urls(tmp_path: Path) -> None:
    relative = open_store("file://var/objects", endpoint=None, access_key=None, secret_key=None, base_dir=tmp_path)
    absolute = open_store(f"file://{tmp_path}/abs", endpoint=None, access_key=None, secret_key=None,
                          base_dir=Path("/nowhere"))
    assert isinstance(relative, FileStore) and relative.root == tmp_path / "var" / "objects"
    assert isinstance(absolute, FileStore) and absolute.root == tmp_path / "abs"
    assert not (tmp_path / "var").exists()  # opening a store does no I/O


def test_open_store_reads_the_s3_endpoint_scheme(tmp_path: Path) -> None:
    plain = open_store("s3://hub-docs", endpoint="http://127.0.0.1:8333", access_key="a", secret_key="b",
                       base_dir=tmp_path)
    tls = open_store("s3://hub-docs", endpoint="https://s3.example:443", access_key="a", secret_key="b",
                     base_dir=tmp_path)
    assert isinstance(plain, S3Store) and plain.client._base_url.is_https is False
    assert isinstance(tls, S3Store) and tls.client._base_url.is_https is True and tls.bucket == "hub-docs"


@pytest.mark.parametrize(("url", "endpoint"), [
    ("s3://hub-docs", None),
    ("s3://hub-docs", "127.0.0.1:8333"),
    ("s3://hub-docs", "ftp://127.0.0.1:21"),
    ("s3://hub-docs", "http://127.0.0.1:8333/path"),
    ("s3://Not_A_Bucket", "http://127.0.0.1:8333"),
    ("file://", None),
    ("gs://bucket", None),
    ("/var/objects", None),
])
def test_open_store_rejects_bad_configuration(tmp_path: Path, url: str, endpoint: str | None) -> None:
    with pytest.raises(ValueError):
        open_store(url, endpoint=endpoint, access_key="a", secret_key="b", base_dir=tmp_path)


@pytest.mark.parametrize("endpoint", ["http://10.0.0.5:8333", "https://s3.amazonaws.com", "http://0.0.0.0:8333",
                                      "http://[::ffff:10.0.0.1]:9000", "file:///tmp/x"])
def test_test_helper_refuses_non_loopback_endpoints(endpoint: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        assert_loopback(endpoint)
    with pytest.raises(ValueError, match="loopback"):
        S3Server(endpoint, "a", "b", process=None, log_path=Path("x"), ports={})  # type: ignore[arg-type]


def test_test_helper_accepts_loopback_endpoints() -> None:
    for endpoint in ("http://127.0.0.1:8333", "http://localhost:9000", "http://[::1]:8333", "https://127.0.0.2:1"):
        assert_loopback(endpoint)
