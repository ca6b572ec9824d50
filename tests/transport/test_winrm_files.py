"""WinRM transport: uploads in chunks with a sha256 check and an atomic move, downloads in chunks.

Tier: winrm contract. Real: the unmodified pypsrp client over HTTPS, base64 chunks as PSRP parameters,
request counts. Simulated: the Windows host's file system (``WindowsMachine.files``), which the
``transport/put-chunk``, ``put-commit`` and ``get-chunk`` handlers change like their scripts do on Windows.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
from pathlib import Path

import pytest

from hybridctl.transport.winrm import CHUNK_BYTES, UploadError, WinRMTransport
from tests.support.winrm import ScriptContext, SimulatedWindowsHost, WinRMEndpoint
from tests.support.winrm.handlers import put_chunk
from tests.support.winrm_fixtures import RecordingLog, TransportFactory

TARGET = "C:\\ProgramData\\hybridctl\\bin\\tool.exe"


@pytest.fixture
def transport(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory, command_log: RecordingLog
) -> WinRMTransport:
    """A transport with its pool open; request counters reset."""
    transport = winrm_transport_factory(https_endpoint, log=command_log)
    transport.open()
    https_endpoint.reset_counts()
    return transport


def _temp_files(host: SimulatedWindowsHost) -> list[str]:
    return [path for path in host.machine.files if path.endswith(".part")]


def test_winrm_put_then_get_round_trip(transport: WinRMTransport, windows_host: SimulatedWindowsHost) -> None:
    data = os.urandom(CHUNK_BYTES + 12345)
    result = transport.put(data, TARGET)
    assert (result.remote_path, result.size, result.sha256) == (
        TARGET,
        len(data),
        hashlib.sha256(data).hexdigest(),
    )
    assert windows_host.machine.read_file(TARGET) == data
    assert _temp_files(windows_host) == []
    assert transport.get(TARGET) == data


def test_winrm_empty_files_are_created(transport: WinRMTransport, windows_host: SimulatedWindowsHost) -> None:
    transport.put(b"", TARGET)
    assert windows_host.machine.read_file(TARGET) == b""
    assert transport.get(TARGET) == b""


def test_winrm_put_replaces_an_existing_file(
    transport: WinRMTransport, windows_host: SimulatedWindowsHost
) -> None:
    windows_host.machine.write_file(TARGET, b"old and longer content")
    transport.put(b"new", TARGET)
    assert windows_host.machine.read_file(TARGET) == b"new"


def test_winrm_fifty_megabytes_upload_with_hash_check(
    transport: WinRMTransport,
    https_endpoint: WinRMEndpoint,
    windows_host: SimulatedWindowsHost,
    command_log: RecordingLog,
    tmp_path: Path,
) -> None:
    source = tmp_path / "kubelet.exe"
    with source.open("wb") as stream:
        for _ in range(50):
            stream.write(os.urandom(1024 * 1024))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    result = transport.put(source, TARGET)
    assert (result.size, result.sha256) == (50 * 1024 * 1024, digest)
    assert hashlib.sha256(windows_host.machine.read_file(TARGET)).hexdigest() == digest
    chunks = math.ceil(result.size / CHUNK_BYTES)
    # Exactly one Command + one Receive per chunk, and two more for the commit.
    assert https_endpoint.request_count == 2 * chunks + 2
    assert dict(https_endpoint.action_counts) == {"Command": chunks + 1, "Receive": chunks + 1}
    assert any(digest in message for _, message in command_log.events)


def test_winrm_a_corrupted_chunk_is_detected(
    transport: WinRMTransport, windows_host: SimulatedWindowsHost
) -> None:
    def corrupt_third_chunk(ctx: ScriptContext) -> None:
        if int(ctx.require("Offset")) == 2 * CHUNK_BYTES:
            data = bytearray(base64.b64decode(ctx.params["Data"]))
            data[100] ^= 0xFF
            ctx.params["Data"] = base64.b64encode(bytes(data)).decode()
        put_chunk(ctx)

    windows_host.scripts.register("transport/put-chunk", corrupt_third_chunk)
    windows_host.machine.write_file(TARGET, b"the good old file")
    with pytest.raises(UploadError, match="sha256 mismatch") as caught:
        transport.put(os.urandom(4 * CHUNK_BYTES), TARGET)
    assert caught.value.transient
    assert windows_host.machine.read_file(TARGET) == b"the good old file"
    assert _temp_files(windows_host) == []


def test_winrm_a_chunk_out_of_order_fails_the_upload(
    transport: WinRMTransport, windows_host: SimulatedWindowsHost
) -> None:
    def skip_second_chunk(ctx: ScriptContext) -> None:
        if int(ctx.require("Offset")) != CHUNK_BYTES:
            put_chunk(ctx)

    windows_host.scripts.register("transport/put-chunk", skip_second_chunk)
    with pytest.raises(UploadError, match="out of order"):
        transport.put(os.urandom(3 * CHUNK_BYTES), TARGET)
    assert not windows_host.machine.has_file(TARGET)


def test_winrm_get_of_a_missing_file(transport: WinRMTransport, https_endpoint: WinRMEndpoint) -> None:
    with pytest.raises(FileNotFoundError):
        transport.get("C:\\missing.txt")
    assert https_endpoint.request_count == 2


def test_winrm_get_costs_two_requests_per_chunk(
    transport: WinRMTransport, https_endpoint: WinRMEndpoint, windows_host: SimulatedWindowsHost
) -> None:
    data = os.urandom(3 * CHUNK_BYTES - 1)
    windows_host.machine.write_file(TARGET, data)
    assert transport.get(TARGET) == data
    assert https_endpoint.request_count == 2 * 3


def test_winrm_a_path_windows_refuses_fails_cleanly(transport: WinRMTransport) -> None:
    with pytest.raises(UploadError, match="Illegal characters in path"):
        transport.put(b"x", 'C:\\bad"name.txt')
