"""Windows primitives (hybridctl.platforms.windows) over the WinRM transport.

Tier: winrm contract. Real: the unmodified pypsrp client over HTTPS; an HTTP file server on 127.0.0.1 that
the simulated host downloads from for real (so "no bytes through WinRM" is measurable). Simulated: the
Windows host and what ``node/download`` / ``node/boot-time`` do on it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hybridctl.platforms.windows import boot_time, download, parse_boot_time
from hybridctl.transport.base import CommandFailedError
from hybridctl.transport.winrm import WinRMTransport
from tests.support.winrm import SimulatedWindowsHost, WinRMEndpoint
from tests.support.winrm_fixtures import TransportFactory

TARGET = "C:\\Program Files\\containerd\\containerd.exe"


@dataclass
class FileServer:
    """A static file server on 127.0.0.1 that counts the GETs it answered."""

    root: Path
    port: int
    gets: list[str]

    def url(self, name: str) -> str:
        """The URL of ``root/name``."""
        return f"http://127.0.0.1:{self.port}/{name}"


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[FileServer]:
    """Serve ``tmp_path/www`` until the test ends."""
    root = tmp_path / "www"
    root.mkdir()
    gets: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            gets.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield FileServer(root, server.server_address[1], gets)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def transport(https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory) -> WinRMTransport:
    """A transport to the HTTPS endpoint."""
    return winrm_transport_factory(https_endpoint)


def test_winrm_download_is_done_by_the_node_and_idempotent(
    transport: WinRMTransport,
    https_endpoint: WinRMEndpoint,
    windows_host: SimulatedWindowsHost,
    file_server: FileServer,
) -> None:
    data = os.urandom(3 * 1024 * 1024)
    (file_server.root / "containerd.exe").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    url = file_server.url("containerd.exe")

    assert download(transport, url, digest.upper(), TARGET) is True
    assert windows_host.machine.read_file(TARGET) == data
    assert file_server.gets == ["/containerd.exe"]
    assert https_endpoint.request_count < 10, "the bytes must not travel through WinRM"

    assert download(transport, url, digest, TARGET) is False
    assert file_server.gets == ["/containerd.exe"], "an up-to-date file is not downloaded again"

    windows_host.machine.write_file(TARGET, b"damaged")
    assert download(transport, url, digest, TARGET) is True
    assert windows_host.machine.read_file(TARGET) == data
    assert len(file_server.gets) == 2


def test_winrm_download_with_the_wrong_hash_fails_and_keeps_nothing(
    transport: WinRMTransport, windows_host: SimulatedWindowsHost, file_server: FileServer
) -> None:
    (file_server.root / "kubelet.exe").write_bytes(b"not what you expected")
    with pytest.raises(CommandFailedError) as caught:
        download(transport, file_server.url("kubelet.exe"), "0" * 64, TARGET)
    assert "sha256 mismatch" in caught.value.result.stderr
    assert not windows_host.machine.has_file(TARGET)


def test_winrm_download_of_a_missing_url_fails(
    transport: WinRMTransport, windows_host: SimulatedWindowsHost, file_server: FileServer
) -> None:
    with pytest.raises(CommandFailedError) as caught:
        download(transport, file_server.url("nope.exe"), "0" * 64, TARGET)
    assert "404" in caught.value.result.stderr


def test_winrm_boot_time_reads_the_hosts_last_boot(
    transport: WinRMTransport, windows_host: SimulatedWindowsHost
) -> None:
    assert boot_time(transport) == windows_host.machine.boot_time
    assert parse_boot_time("2024-05-01T10:20:30.456Z").isoformat() == "2024-05-01T10:20:30.456000+00:00"
