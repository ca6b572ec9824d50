"""The HA lab's load balancer: real HAProxy in front of the control planes' API servers.

kubeadm's HA guide puts a TCP load balancer in front of the API servers and names HAProxy (with
keepalived) as the usual choice (kubernetes/kubeadm ``docs/ha-considerations.md``): TCP mode, each API
server checked with ``GET /healthz`` over TLS. This one runs as a process in the machine's network
namespace, bound to the lab bridge's gateway address, so the lab hosts and the test (kubectl with the
admin kubeconfig ``up`` fetched) reach the API servers the same way, through ``controlPlaneEndpoint``.
``up_backends()`` reads HAProxy's own view of which API servers pass their check (its admin socket).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

PORT = 6443
CHECK_INTERVAL_MS = 1000


def config(bind: str, backends: Sequence[tuple[str, str]], admin_socket: Path) -> str:
    """haproxy.cfg: a TCP frontend on ``bind``:6443, one server per (name, address) checked on /healthz."""
    servers = "".join(f"    server {name} {address}:{PORT}\n" for name, address in backends)
    return (
        "global\n"
        f"    stats socket {admin_socket} mode 600 level admin\n"
        "defaults\n"
        "    mode tcp\n"
        "    timeout connect 5s\n"
        "    timeout client 1h\n"
        "    timeout server 1h\n"
        "frontend kube-apiserver\n"
        f"    bind {bind}:{PORT}\n"
        "    default_backend control-planes\n"
        "backend control-planes\n"
        "    option httpchk GET /healthz\n"
        "    http-check expect status 200\n"
        "    balance roundrobin\n"
        f"    default-server inter {CHECK_INTERVAL_MS} fall 2 rise 1 check check-ssl verify none\n"
        f"{servers}"
    )


class LoadBalancer:
    """One HAProxy process; ``with LoadBalancer(...)`` starts it and stops it (by its pid) on exit."""

    def __init__(self, workdir: Path, bind: str, backends: Sequence[tuple[str, str]]) -> None:
        self.workdir = workdir
        self.bind = bind
        self.backends = list(backends)
        self.admin_socket = workdir / "haproxy.sock"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """``host:port`` for the inventory's ``controlPlaneEndpoint``."""
        return f"{self.bind}:{PORT}"

    def __enter__(self) -> LoadBalancer:
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(config(self.bind, self.backends, self.admin_socket))
        check = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True, check=False)
        if check.returncode:
            raise RuntimeError(f"haproxy refused its configuration: {check.stderr.strip()}")
        with (self.workdir / "haproxy.log").open("wb") as log:  # the child keeps its own descriptor
            self._process = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=log, stderr=log)
        try:
            self._wait_listening()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the process this object started (by pid) and wait for it."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None

    def up_backends(self) -> set[str]:
        """Names of the servers HAProxy's health checks currently pass (``show stat`` on its socket)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.admin_socket))
            sock.sendall(b"show stat\n")
            data = b"".join(_chunks(sock)).decode()
        rows = [line.split(",") for line in data.splitlines() if line and not line.startswith("#")]
        return {r[1] for r in rows if r[0] == "control-planes" and r[1] != "BACKEND" and r[17] == "UP"}

    def _wait_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                code = self._process.returncode
                raise RuntimeError(f"haproxy exited {code}: see {self.workdir}/haproxy.log")
            with contextlib.suppress(OSError), socket.create_connection((self.bind, PORT), timeout=1):
                return
            time.sleep(0.2)
        raise RuntimeError(f"haproxy did not listen on {self.endpoint} within {timeout:g}s")


def _chunks(sock: socket.socket) -> Iterator[bytes]:
    while chunk := sock.recv(65536):
        yield chunk
