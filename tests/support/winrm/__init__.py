"""A WinRM (WS-Management + PowerShell Remoting) test endpoint and the simulated Windows host behind it.

Tier: winrm contract. Real: the unmodified pypsrp client, HTTP(S), TLS, Basic/NTLM authentication and
NTLM message encryption, PSRP messages (psrpcore). Simulated: the Windows host (``SimulatedWindowsHost``),
which answers hybridctl's scripts by their ``# hybridctl-script:`` identity and parameters.

Adding behaviour for a new script (a later lab)::

    host = SimulatedWindowsHost()
    register_builtin(host.scripts)

    @host.scripts.handles("node/install-feature")
    def install_feature(ctx: ScriptContext) -> None:
        name = ctx.require("Name")
        ctx.machine.features[name] = True
        ctx.output(json.dumps({"changed": True}))
"""

from tests.support.winrm.auth import Accounts, register_ntlm_user
from tests.support.winrm.handlers import register_builtin
from tests.support.winrm.harness_scripts import harness_command, harness_script, register_test_scripts
from tests.support.winrm.host import (
    Handler,
    ScriptContext,
    ScriptError,
    ScriptRegistry,
    SimulatedWindowsHost,
    StopRequested,
)
from tests.support.winrm.machine import ScriptCall, Service, WindowsMachine
from tests.support.winrm.server import EndpointConfig, WinRMEndpoint, WireRecord
from tests.support.winrm.tls import CertificateAuthority, KeyPair

__all__ = [
    "Accounts",
    "CertificateAuthority",
    "EndpointConfig",
    "Handler",
    "KeyPair",
    "ScriptCall",
    "ScriptContext",
    "ScriptError",
    "ScriptRegistry",
    "Service",
    "SimulatedWindowsHost",
    "StopRequested",
    "WinRMEndpoint",
    "WindowsMachine",
    "WireRecord",
    "harness_command",
    "harness_script",
    "register_builtin",
    "register_ntlm_user",
    "register_test_scripts",
]
