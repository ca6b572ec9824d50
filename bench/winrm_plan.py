"""WinRM round trips of a Windows plan: HTTP requests per host against the WinRM test endpoint.

Runs the read-only checks of hybridctl's Windows steps (a plan: the nine preparation steps and the
kubelet join, ten steps) for one simulated Windows host behind the WinRM test endpoint,
through the real WinRMTransport (one RunspacePool per host) and Runner, and counts the HTTP requests the
endpoint served. Then the same with every step converged (a no-change plan). The request count is what
matters here, not the time: the endpoint is local.

    python bench/winrm_plan.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hybridctl.steps.windows import JOIN, PREPARE
from tests.lab.windows_sim.testbed import Testbed
from tests.steps.windows_fixtures import start_node
from tests.support.winrm import CertificateAuthority
from tests.support.winrm.windows_handlers import WindowsScripts
from tests.support.winrm.windows_kube import KubeSide
from tests.support.winrm_fixtures import TEST_OPERATION_TIMEOUT, TEST_READ_TIMEOUT, WinRMAccount, WinRMPki

STEPS = [*PREPARE, *JOIN]


def _pki(directory: Path) -> WinRMPki:
    ca = CertificateAuthority("bench CA")
    unused = directory / "unused.pem"
    unused.write_text("")
    return WinRMPki(ca.write(directory / "ca.pem"), unused, unused, unused, unused, unused, "", ca)


def main() -> int:
    """Print requests per host for a first plan, a converging run and a no-change plan."""
    with tempfile.TemporaryDirectory(prefix="hybridctl-winrm-bench-") as tmp:
        work = Path(tmp)
        account = WinRMAccount("bench", "Bench-password-1")
        scripts = WindowsScripts()
        node = start_node("win1", "127.0.0.21", _pki(work), account, workdir=work, scripts=scripts)
        winrm = {
            "user": account.user,
            "password": account.password,
            "auth": "basic",
            "caBundle": str(work / "ca.pem"),
            "operationTimeout": TEST_OPERATION_TIMEOUT,
            "readTimeout": TEST_READ_TIMEOUT,
        }
        bed = Testbed(work, [node], winrm)
        scripts.kube = KubeSide(bed.model)
        try:
            return _measure(bed)
        finally:
            bed.close()
            node.endpoint.stop()


def _measure(bed: Testbed) -> int:
    steps = bed.steps(STEPS)
    counts = {}
    for label, read_only in (("plan on a fresh host", True), ("apply", False), ("plan, converged", True)):
        bed.reset_counts()
        report, _ = bed.run(steps, read_only=read_only)
        counts[label] = bed.requests()["win1"]
        bad = [r for r in report.results if r.outcome.value in ("failed", "unreachable")]
        if bad:
            print(f"{label}: {bad[0].host} {bad[0].step}: {bad[0].error}")
            return 1
    print(f"Windows plan of {len(STEPS)} steps, one host, HTTP requests to its WinRM endpoint:")
    for label, count in counts.items():
        print(f"  {label:<22} {count:4d} requests")
    print(
        "  (a RunspacePool costs 3 requests to open, then 2 per script; Client.execute_ps would cost 6 each)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
