"""A rendered script whose cmdlet call would not bind fails the Windows step on the simulated host.

Tier: winrm contract. Real: the Runner, the steps, the templates (a copy with one planted mistake), pypsrp
over HTTPS, the tree-sitter PowerShell grammar and the documented cmdlet signatures (``cmdlets.json``).
Simulated: the Windows hosts (tests/support/winrm), which refuse to run an installed script whose call
does not fit its cmdlet's documented signature, as PowerShell's parameter binder would.
"""

from __future__ import annotations

from pathlib import Path

from hybridctl.events import Outcome
from hybridctl.steps.windows import FINISH, JOIN, NETWORK, PREPARE
from tests.lab.windows_sim.testbed import Testbed
from tests.powershell.conftest import plant


def test_mutation_misspelt_new_netroute_parameter_fails_the_pod_network_step(
    templates_copy: Path, testbed: Testbed
) -> None:
    routes = templates_copy / "windows" / "hybridctl" / "routes.ps1.j2"
    plant(routes, "New-NetRoute -DestinationPrefix ", "New-NetRoute -DestinationPrefx ")
    report, _ = testbed.run(testbed.steps([*PREPARE, *JOIN, *NETWORK, *FINISH]), retries=0)
    failed = [r for r in report.results if r.outcome == Outcome.FAILED]
    assert failed, "the planted mistake ran on the simulated host"
    text = " ".join(f"{r.step} {r.error} {r.result.stderr if r.result else ''}" for r in failed)
    assert "ParameterBindingException" in text
    assert "routes.ps1" in text and "New-NetRoute -DestinationPrefx" in text and "no such parameter" in text
