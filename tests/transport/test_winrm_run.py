"""WinRM transport: running scripts through one reused RunspacePool.

Tier: winrm contract. Real: the unmodified pypsrp client over HTTPS, PSRP serialisation of parameters and
output (psrpcore on the endpoint), HTTP request counts. Simulated: the Windows host, which answers each
script by its identity and parameters and refuses scripts and parameters it does not know.
"""

from __future__ import annotations

import json

import pytest

from hybridctl.commands import PsCommand, posix, powershell
from hybridctl.masking import Masker
from hybridctl.transport.winrm import WinRMTransport
from tests.support.winrm import ScriptContext, SimulatedWindowsHost, WinRMEndpoint, harness_command
from tests.support.winrm_fixtures import RecordingLog, TransportFactory

TRICKY_TEXTS = [
    'it\'s "quoted"',
    "$(Remove-Item C:\\ -Recurse) ${env:PATH} $null",
    "back`tick `n `$ and @' here '@",
    "line one\nline two\r\nline three\n",
    "ünïcødé ✓ — 日本語 🚀",
    "smart quotes ‘single’ “double” ‚low‛",
    '<xml attr="&amp;"/> ]]> & %s %d {0}',
    "   leading and trailing spaces   ",
    "tab\tescape\x1b[31m bell\x07",
    "_x000A_ looks like a PSRP escape",
    "",
]


@pytest.fixture
def transport(https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory) -> WinRMTransport:
    """A transport with its pool open; request counters reset."""
    transport = winrm_transport_factory(https_endpoint)
    transport.open()
    https_endpoint.reset_counts()
    return transport


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_winrm_string_parameters_arrive_unchanged(
    transport: WinRMTransport, windows_host: SimulatedWindowsHost, text: str
) -> None:
    result = transport.run(harness_command("test/echo", Text=text))
    assert result.ok, result.stderr
    assert windows_host.machine.calls("test/echo")[-1].parameters == {"Text": text}
    assert result.stdout == text


def test_winrm_typed_parameters_arrive_unchanged(transport: WinRMTransport) -> None:
    params = {
        "Text": "x'$(y)`z",
        "Number": 2**31 - 1,
        "Flag": True,
        "Items": [1, "two", "✓"],
        "Table": {"key": "va'lue", "n": -3},
    }
    result = transport.run(harness_command("test/args", **params))
    assert result.ok, result.stderr
    assert json.loads(result.stdout) == params


def test_winrm_integers_beyond_int32_are_refused_before_sending(
    transport: WinRMTransport, https_endpoint: WinRMEndpoint
) -> None:
    # pypsrp serialises every Python int as Int32; Windows would reject the message.
    with pytest.raises(ValueError, match="Int32"):
        transport.run(harness_command("test/args", Items=[1, 2**40]))
    assert https_endpoint.request_count == 0


def test_winrm_error_stream_without_had_errors_is_a_failure(transport: WinRMTransport) -> None:
    result = transport.run(harness_command("test/echo-stderr", Text="disk full ✗"))
    assert (result.exit_code, result.stdout) == (1, "")
    assert "disk full ✗" in result.stderr


def test_winrm_failed_pipeline_is_a_failure(transport: WinRMTransport) -> None:
    result = transport.run(harness_command("test/exit", Code=7))
    assert result.exit_code == 1
    assert "exit code 7" in result.stderr


def test_winrm_success_and_warnings(transport: WinRMTransport) -> None:
    result = transport.run(harness_command("test/warn", Text="fine"))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "fine", "")


def test_winrm_unknown_script_is_refused(transport: WinRMTransport) -> None:
    script = "# hybridctl-script: node/not-a-real-script\nparam()\nRemove-Item C:\\ -Recurse\n"
    result = transport.run(powershell(script))
    assert result.exit_code == 1
    assert "no handler for script 'node/not-a-real-script'" in result.stderr


def test_winrm_script_without_identity_is_a_programming_error(
    transport: WinRMTransport, https_endpoint: WinRMEndpoint
) -> None:
    with pytest.raises(ValueError, match="hybridctl-script"):
        transport.run(PsCommand("Get-Date"))
    assert https_endpoint.request_count == 0


def test_winrm_undeclared_parameter_is_refused_like_powershell(transport: WinRMTransport) -> None:
    result = transport.run(harness_command("test/echo", Text="x", Txet="typo"))
    assert result.exit_code == 1
    assert "parameter name 'Txet'" in result.stderr


def test_winrm_posix_commands_are_a_programming_error(transport: WinRMTransport) -> None:
    with pytest.raises(TypeError, match="PsCommand"):
        transport.run(posix("echo", "hi"))


def test_winrm_output_objects_become_lines(
    transport: WinRMTransport, windows_host: SimulatedWindowsHost
) -> None:
    def several(ctx: ScriptContext) -> None:
        ctx.output("first")
        ctx.output(2)
        ctx.output("third")

    windows_host.scripts.register("test/echo", several)
    assert transport.run(harness_command("test/echo", Text="")).stdout == "first\n2\nthird"


def test_winrm_pool_is_reused_two_requests_per_script(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory
) -> None:
    transport = winrm_transport_factory(https_endpoint)
    transport.open()
    assert https_endpoint.request_count == 3  # Create + two Receives, as Windows answers the pool open
    assert dict(https_endpoint.action_counts) == {"Create": 1, "Receive": 2}
    https_endpoint.reset_counts()
    for index in range(10):
        assert transport.run(harness_command("test/echo", Text=str(index))).stdout == str(index)
    # A shell per command (Client.execute_ps) would cost 6 each, and Create would show up here.
    assert https_endpoint.request_count == 20
    assert dict(https_endpoint.action_counts) == {"Command": 10, "Receive": 10}
    assert len(https_endpoint.shells) == 1


def test_winrm_failures_cost_no_extra_requests(
    transport: WinRMTransport, https_endpoint: WinRMEndpoint
) -> None:
    transport.run(harness_command("test/exit", Code=1))
    transport.run(harness_command("test/echo-stderr", Text="x"))
    assert https_endpoint.request_count == 4


def test_winrm_commands_are_logged_with_secrets_masked(
    https_endpoint: WinRMEndpoint, winrm_transport_factory: TransportFactory, command_log: RecordingLog
) -> None:
    masker = Masker()
    transport = winrm_transport_factory(https_endpoint, log=command_log, masker=masker)
    token = "abcdef.0123456789abcdef"
    command = powershell(
        harness_command("test/echo-stderr").script, {"Text": f"bad token {token}"}, secrets=["Text"]
    )
    result = transport.run(command)
    host, display, logged = command_log.commands[-1]
    assert (host, display) == ("win-node1", "test/echo-stderr(Text=***)")
    assert logged is result and result.command == display
    assert token not in result.stderr and "***" in result.stderr
    assert masker.mask(f"x bad token {token} y") == "x *** y"  # the run registered the secret value
    assert any("opened a PowerShell runspace pool" in message for _, message in command_log.events)
