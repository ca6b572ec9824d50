"""The WinRM test endpoint itself, driven by the raw pypsrp client: does it behave like Windows?

Tier: winrm contract. Real: the unmodified pypsrp client (WSMan, RunspacePool, PowerShell, Client), HTTPS,
TLS validation. Simulated: the Windows host. The facts checked here come from recorded exchanges with real
Windows hosts (see the testing reference): two Receives for the pool open, the OperationTimeout fault
2150858793, 6 requests for ``Client.execute_ps``, non-terminating errors without ``had_errors``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pypsrp.client import Client
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from tests.support.winrm import WinRMEndpoint, harness_command, harness_script
from tests.support.winrm_fixtures import TransportFactory, WinRMAccount, WinRMPki

OPERATION_TIMED_OUT = 2150858793
CONFIG_NS = "http://schemas.microsoft.com/wbem/wsman/1/config"


@pytest.fixture
def wsman(https_endpoint: WinRMEndpoint, winrm_account: WinRMAccount, winrm_pki: WinRMPki) -> Iterator[WSMan]:
    """A raw pypsrp WSMan connection to the HTTPS endpoint."""
    connection = WSMan(
        "127.0.0.1",
        port=https_endpoint.port,
        username=winrm_account.user,
        password=winrm_account.password,
        auth="basic",
        cert_validation=str(winrm_pki.ca_file),
        operation_timeout=5,
        read_timeout=10,
        no_proxy=True,
    )
    yield connection
    connection.close()


@pytest.fixture
def pool(wsman: WSMan) -> Iterator[RunspacePool]:
    """An open raw pypsrp RunspacePool."""
    opened = RunspacePool(wsman)
    opened.open()
    yield opened
    opened.close()


def _ps(pool: RunspacePool, name: str, **params: object) -> PowerShell:
    ps = PowerShell(pool)
    ps.add_script(harness_script(name))
    for key, value in params.items():
        ps.add_parameter(key, value)
    return ps


def test_winrm_endpoint_answers_the_pool_open_in_two_receives(
    pool: RunspacePool, https_endpoint: WinRMEndpoint
) -> None:
    assert dict(https_endpoint.action_counts) == {"Create": 1, "Receive": 2}
    assert pool.protocol_version == "2.3"
    private = pool.application_private_data
    assert private is not None and str(private.data["PSVersionTable"]["PSEdition"]) == "Desktop"


def test_winrm_endpoint_non_terminating_errors_leave_had_errors_false(pool: RunspacePool) -> None:
    ps = _ps(pool, "test/echo-stderr", Text="soft error")
    ps.invoke()
    assert ps.had_errors is False
    assert [str(error) for error in ps.streams.error] == ["soft error"]


def test_winrm_endpoint_terminating_errors_fail_the_pipeline(pool: RunspacePool) -> None:
    ps = _ps(pool, "test/exit", Code=2)
    ps.invoke()
    assert ps.had_errors is True
    assert "exit code 2" in str(ps.streams.error[-1])


def test_winrm_endpoint_refuses_scripts_without_identity(pool: RunspacePool) -> None:
    ps = PowerShell(pool)
    ps.add_script("Get-Date")
    ps.invoke()
    assert ps.had_errors is True
    assert "only runs hybridctl scripts" in str(ps.streams.error[-1])


def test_winrm_endpoint_warnings_carry_their_text(pool: RunspacePool) -> None:
    ps = _ps(pool, "test/warn", Text="w")
    assert ps.invoke() == ["w"]
    assert [str(warning) for warning in ps.streams.warning] == ["about to echo w"]


def test_winrm_endpoint_receive_times_out_with_the_wsman_fault(
    pool: RunspacePool, https_endpoint: WinRMEndpoint
) -> None:
    ps = _ps(pool, "test/sleep", Seconds=10, Marker="fault-check")
    ps.begin_invoke()
    with pytest.raises(WSManFaultError) as caught:
        pool._receive(ps.id, timeout=1)
    assert caught.value.code == OPERATION_TIMED_OUT
    ps.poll_invoke(timeout=1)  # pypsrp treats this fault as "poll again"
    ps.stop()
    assert https_endpoint.action_counts["Signal"] == 1
    assert "fault-check" in https_endpoint.host.machine.stopped


def test_winrm_endpoint_serves_config_and_shell_state(wsman: WSMan, pool: RunspacePool) -> None:
    config = wsman.get_server_config()
    size = config.find("cfg:Config/cfg:MaxEnvelopeSizekb", {"cfg": CONFIG_NS})
    assert size is not None and size.text == "500"
    assert pool.is_alive()


def test_winrm_endpoint_shells_are_gone_after_a_restart(
    pool: RunspacePool, https_endpoint: WinRMEndpoint
) -> None:
    https_endpoint.restart(down_for=0.1)
    assert not pool.is_alive()


def test_winrm_endpoint_client_execute_ps_costs_six_requests(
    https_endpoint: WinRMEndpoint, winrm_account: WinRMAccount, winrm_pki: WinRMPki
) -> None:
    client = Client(
        "127.0.0.1",
        port=https_endpoint.port,
        username=winrm_account.user,
        password=winrm_account.password,
        auth="basic",
        cert_validation=str(winrm_pki.ca_file),
        no_proxy=True,
    )
    _output, _streams, had_errors = client.execute_ps(harness_script("test/warn"))
    assert had_errors  # it wraps the script in Invoke-Expression, which the simulated host refuses
    assert https_endpoint.request_count == 6  # what hybridctl avoids by reusing one pool
    assert dict(https_endpoint.action_counts) == {"Create": 1, "Receive": 3, "Command": 1, "Delete": 1}


def test_winrm_endpoint_large_messages_use_send_and_several_receives(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory
) -> None:
    transport = winrm_transport_factory(https_endpoint)
    transport.open()
    https_endpoint.reset_counts()
    text = "0123456789abcdef" * 40_000  # 640 kB: more than one fragment either way
    result = transport.run(harness_command("test/echo", Text=text))
    assert result.stdout == text
    counts = https_endpoint.action_counts
    assert counts["Command"] == 1 and counts["Send"] >= 1 and counts["Receive"] >= 2


def test_winrm_endpoint_terminate_signal_closes_a_command(
    pool: RunspacePool, https_endpoint: WinRMEndpoint
) -> None:
    ps = _ps(pool, "test/echo", Text="bye")
    assert ps.invoke() == ["bye"]
    ps.close()  # pypsrp's way to reuse a PowerShell object: a Terminate Signal
    assert https_endpoint.action_counts["Signal"] == 1
    assert https_endpoint.shells[pool.id.upper()].running_commands() == []
