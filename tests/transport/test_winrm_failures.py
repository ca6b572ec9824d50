"""WinRM transport under failure: timeouts, dropped connections, a host that goes away, reboots.

Tier: winrm contract. Real: the unmodified pypsrp client over HTTPS, the ctrl_c Signal, TCP connections
really shut down by the endpoint, a listening socket really closed during a restart (connection refused).
Simulated: the Windows host, its scripts' run time and its restart (boot time, lost shells).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from hybridctl.platforms.windows import (
    HostDidNotReturnError,
    RebootNotObservedError,
    boot_time,
    reboot_and_wait,
)
from hybridctl.transport.base import CommandTimeoutError, ConnectionLostError, UnreachableError
from hybridctl.transport.winrm import WinRMTransport
from tests.support.winrm import ScriptContext, SimulatedWindowsHost, WinRMEndpoint, harness_command
from tests.support.winrm_fixtures import EndpointFactory, RecordingLog, TransportFactory


@pytest.fixture
def transport(https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory) -> WinRMTransport:
    """A transport with its pool open."""
    transport = winrm_transport_factory(https_endpoint)
    transport.open()
    return transport


def _echo_ok(transport: WinRMTransport, text: str = "still here") -> None:
    result = transport.run(harness_command("test/echo", Text=text))
    assert (result.ok, result.stdout) == (True, text), result.stderr


def _refused(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_winrm_timeout_stops_the_remote_command(
    transport: WinRMTransport, https_endpoint: WinRMEndpoint, windows_host: SimulatedWindowsHost
) -> None:
    started = time.monotonic()
    with pytest.raises(CommandTimeoutError) as caught:
        transport.run(harness_command("test/sleep", Seconds=30, Marker="long-task"), timeout=1.5)
    assert 1.5 <= time.monotonic() - started < 5
    assert "test/sleep" in caught.value.message
    machine = windows_host.machine
    assert machine.stopped == ["long-task"] and "long-task" not in machine.running
    assert machine.calls("test/sleep")[0].outcome == "stopped"
    assert https_endpoint.action_counts["Signal"] == 1  # the ctrl_c that stopped it
    _echo_ok(transport)
    assert https_endpoint.action_counts["Create"] == 1, "the pool survives a timeout"


def test_winrm_connection_dropped_mid_command_is_lost_and_recovers(
    transport: WinRMTransport, https_endpoint: WinRMEndpoint
) -> None:
    with pytest.raises(ConnectionLostError) as caught:
        transport.run(harness_command("test/drop-connection", AfterSeconds=0.3, HoldSeconds=0.5), timeout=20)
    assert caught.value.transient and caught.value.unreachable
    _echo_ok(transport)
    assert https_endpoint.action_counts["Create"] == 2, "a lost pool is replaced by a new one"


def test_winrm_connection_dropped_from_another_thread(
    transport: WinRMTransport, https_endpoint: WinRMEndpoint, windows_host: SimulatedWindowsHost
) -> None:
    killer = threading.Timer(0.5, https_endpoint.drop_connections)
    killer.start()
    try:
        with pytest.raises(ConnectionLostError):
            transport.run(harness_command("test/sleep", Seconds=2, Marker="cut-off"), timeout=20)
    finally:
        killer.cancel()
    assert "cut-off" in windows_host.machine.running, "a network cut does not stop the command on the host"


def test_winrm_host_down_is_unreachable_then_the_transport_recovers(
    transport: WinRMTransport, https_endpoint: WinRMEndpoint
) -> None:
    restart = threading.Thread(target=https_endpoint.restart, kwargs={"down_for": 1.0})
    restart.start()
    try:
        deadline = time.monotonic() + 5
        while https_endpoint.listening and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(UnreachableError) as caught:
            transport.run(harness_command("test/echo", Text="x"))
        assert caught.value.transient
    finally:
        restart.join()
    _echo_ok(transport)


def test_winrm_reboot_in_the_middle_of_a_run(
    transport: WinRMTransport, https_endpoint: WinRMEndpoint, windows_host: SimulatedWindowsHost
) -> None:
    _echo_ok(transport, "before the restart")
    before = boot_time(transport)
    assert before == windows_host.machine.boot_time
    events: list[str] = []
    refused_while_down: list[bool] = []

    def on_event(message: str) -> None:
        events.append(message)
        if message.startswith("host is down"):
            refused_while_down.append(_refused(https_endpoint.port))

    after = reboot_and_wait(
        transport,
        down_timeout=10,
        up_timeout=20,
        poll_interval=0.1,
        probe_timeout=5,
        delay=1,
        on_event=on_event,
    )
    assert after > before and after == windows_host.machine.boot_time == boot_time(transport)
    assert windows_host.machine.reboots == 1
    assert windows_host.machine.scheduled_tasks["hybridctl-reboot"]["user"] == "SYSTEM"
    assert refused_while_down == [True], events
    assert [e.split()[0:3] for e in events] == [
        ["restart", "scheduled", "in"],
        ["host", "is", "down;"],
        ["host", "is", "back"],
    ]
    _echo_ok(transport, "after the restart")


def test_winrm_reboot_that_never_happens_is_reported(
    transport: WinRMTransport, windows_host: SimulatedWindowsHost
) -> None:
    def ignored(ctx: ScriptContext) -> None:
        # What a direct Restart-Computer under a filtered token can do: nothing, and no error.
        ctx.output('{"scheduled":true}')

    windows_host.scripts.register("node/reboot", ignored)
    with pytest.raises(RebootNotObservedError, match="still answered"):
        reboot_and_wait(transport, down_timeout=1.0, up_timeout=5, poll_interval=0.1, delay=1)


def test_winrm_host_that_never_comes_back_is_reported(
    winrm_endpoint_factory: EndpointFactory,
    winrm_transport_factory: TransportFactory,
    command_log: RecordingLog,
) -> None:
    endpoint = winrm_endpoint_factory("https", restart_down_seconds=60)
    transport = winrm_transport_factory(endpoint, log=command_log)
    started = time.monotonic()
    with pytest.raises(HostDidNotReturnError, match="did not answer") as caught:
        reboot_and_wait(transport, down_timeout=10, up_timeout=1.5, poll_interval=0.1, delay=1)
    assert caught.value.unreachable
    assert time.monotonic() - started < 10
