"""A real etcd server for tests: a child process on free loopback ports in a temp dir."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import free_port


def etcd_binary() -> str:
    found = os.environ.get("CCP_ETCD_BINARY") or shutil.which("etcd") or "/usr/bin/etcd"
    if not Path(found).exists():
        raise RuntimeError("etcd not found: install Debian's etcd-server (.ci/run does) or set CCP_ETCD_BINARY")
    return found


@dataclass
class EtcdServer:
    host: str
    port: int
    peer_port: int
    data_dir: Path
    process: subprocess.Popen

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def start_etcd(*, name: str = "ccp-test", host: str = "127.0.0.1", timeout_s: float = 20.0) -> EtcdServer:
    data_dir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    port, peer_port = free_port(host), free_port(host)
    log_path = data_dir / "etcd.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                etcd_binary(),
                f"--name={name}",
                f"--data-dir={data_dir / 'data'}",
                f"--listen-client-urls=http://{host}:{port}",
                f"--advertise-client-urls=http://{host}:{port}",
                f"--listen-peer-urls=http://{host}:{peer_port}",
                f"--initial-advertise-peer-urls=http://{host}:{peer_port}",
                f"--initial-cluster={name}=http://{host}:{peer_port}",
                "--log-level=error",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "ETCD_UNSUPPORTED_ARCH": os.environ.get("ETCD_UNSUPPORTED_ARCH", "")},
        )
    server = EtcdServer(host, port, peer_port, data_dir, process)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"etcd exited with {process.returncode}; log in {log_path}")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"etcd did not listen on {server.endpoint} within {timeout_s}s")
