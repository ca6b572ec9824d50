"""The order of a smoke run, and its cleanup on every way out (failure, Ctrl-C, SIGTERM)."""

from __future__ import annotations

from hybridctl.smoke import checks, network
from hybridctl.smoke.deploy import deploy, remove
from hybridctl.smoke.report import CheckFailedError
from hybridctl.smoke.state import SmokeRun
from hybridctl.smoke.workloads import NAMESPACE
from hybridctl.steps.kube import initialised

API_CHECKS = (checks.check_nodes, checks.check_windows_taints, checks.check_runtime_classes)
POD_CHECKS = (
    checks.check_placement,
    checks.check_linux_only,
    network.check_pod_to_pod,
    network.check_localhost,
    network.check_services,
    network.check_dns,
    network.check_egress,
)


def reachable(run: SmokeRun) -> bool:
    """Whether the API answers on the first control plane; else the report says why (exit 4)."""
    host = run.access.host
    if not initialised(host):
        run.report.unreachable = f"{host.name} has no /etc/kubernetes/admin.conf: the cluster does not exist"
        return False
    answer = run.access.run("get", "--raw", "/readyz", check=False)
    if not answer.ok:
        detail = answer.stderr.strip().splitlines()[-1:] or [f"exit {answer.exit_code}"]
        run.report.unreachable = f"the API server does not answer on {host.name}: {detail[0]}"
        return False
    return True


def run_checks(run: SmokeRun) -> None:
    """Every check in order; the smoke namespace is removed afterwards unless ``--keep``."""
    if not reachable(run):
        return
    run.nodes = {n["metadata"]["name"]: n for n in run.access.items("nodes")}
    for check in API_CHECKS:
        check(run)
    try:
        deploy(run)
        for check in POD_CHECKS:
            check(run)
    finally:
        if not run.options.keep:
            _cleanup(run)


def _cleanup(run: SmokeRun) -> None:
    with run.report.check("workloads", "remove"):
        result = remove(run)
        if not result.ok:
            raise CheckFailedError(f"namespace {NAMESPACE} was not deleted", result.stderr.strip())
