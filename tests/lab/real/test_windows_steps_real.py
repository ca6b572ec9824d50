"""hybridctl's Windows steps, over the real pypsrp client, join simulated Windows hosts to a real API server.

Tier: lab, real Kubernetes (root). Real: hybridctl's Runner and Windows steps (rendering, installing the
files, the nssm service definitions, waiting for registration, the kube-proxy token), pypsrp over HTTPS to
WinRM endpoints inside the Windows hosts' network namespaces on the lab bridge, downloads from the lab
mirror; the control plane on the lab bridge's gateway (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler from their modules; kubeadm's certificates, kubeconfigs, bootstrap token and RBAC); the
``kubeadm token create`` and ``kubectl`` commands hybridctl sends to the first control plane (run locally
against that control plane: ``ControlPlane.fake_host``); the node agents (the kubelet's and kube-proxy's
own code, tests/upstream/winagent) that the simulated hosts start when hybridctl starts their services,
with the files hybridctl wrote; kernel bridges, routes and the CNI plugins.
Emulated: Windows (the machine model behind each endpoint, HNS as Linux bridges, the container runtime),
the SSH transport to the first control plane (a FakeTransport whose commands run here), and the control
plane's own kubelet: its Node object is created by the test so that the node IPAM controller gives it
the podCIDR the Windows routes point at.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from pathlib import Path
from typing import ClassVar

import pytest

from hybridctl.inventory.models import Cluster, Host
from hybridctl.render import RuntimeValues, render_cluster
from hybridctl.steps.base import Change, Step
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.windows import FINISH, JOIN, NETWORK, PREPARE
from hybridctl.steps.windows.common import KUBELET_CONF
from tests.lab.real.control_plane import ControlPlane, control_plane_binaries, wait_for
from tests.lab.real.winnode import SimulatedHostAgents, agent_binary
from tests.lab.test_windows_lab import WindowsLab, _failures
from tests.lab.windows_sim.control_plane import PodCidrs
from tests.support.ci import require_tool
from tests.support.linux_hosts import LinuxTestHosts
from tests.support.winrm.windows_kube import KubeSide
from tests.support.winrm_fixtures import WinRMAccount, WinRMPki

pytestmark = [pytest.mark.root, pytest.mark.lab, pytest.mark.slow]


class Initialised(Step):
    """``kubeadm-init`` (which the Windows steps require) on a control plane the test already started."""

    name: ClassVar[str] = "kubeadm-init"
    title: ClassVar[str] = "kubeadm init (the test's control plane runs)"

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """The first control plane."""
        return host.name == cluster.first_control_plane.name

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Nothing to do."""
        return []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Nothing to do."""


def ready_status(cp: ControlPlane, name: str) -> str:
    """The Node's Ready status (True, False, Unknown)."""
    conditions = cp.get("node", name).get("status", {}).get("conditions", [])  # type: ignore[attr-defined]
    return next((str(c["status"]) for c in conditions if c["type"] == "Ready"), "Unknown")


def steps() -> list[Step]:
    """Every Windows step, with the Linux side's pod-cidrs read before the pod network."""
    windows = [*PREPARE, *JOIN, *NETWORK, *FINISH]
    at = next(i for i, step in enumerate(windows) if step.name == "windows-pod-network")
    return [Initialised(), *windows[:at], PodCidrs(), *windows[at:]]


def test_windows_steps_join_simulated_hosts_to_a_real_control_plane(
    linux_lab: LinuxTestHosts, tmp_path: Path, winrm_pki: WinRMPki, winrm_account: WinRMAccount
) -> None:
    """``up``'s Windows steps over WinRM make both simulated hosts Ready nodes of the real API server
    (TLS bootstrap with hybridctl's token, the Node with the Windows labels and taint), the bootstrap
    kubeconfig is gone afterwards, a pod of the RuntimeClass runs on a Windows node with an address of
    its podCIDR, and a second run changes nothing."""
    require_tool("go", "install Go 1.26 (/usr/local/go/bin) and reach the Go module proxy")
    agent_binary()
    with contextlib.ExitStack() as cleanup:  # every callback runs, in reverse order, even if one fails
        agents = SimulatedHostAgents({}, tmp_path / "agents")
        cleanup.callback(agents.close)
        lab = WindowsLab(linux_lab, tmp_path, winrm_pki, winrm_account, KubeSide(None, None, agents))
        cleanup.callback(lab.close)
        cleanup.callback(agents.close)  # the agents stop before their namespaces go
        assert lab.bed is not None
        bed, spec = lab.bed, lab.bed.cluster.spec.kubernetes
        agents.namespaces.update({name: host.namespace for name, host in lab.hosts.items()})
        cp = ControlPlane(
            control_plane_binaries(), lab.gateway, spec.pod_subnet, spec.service_subnet, api_port=6443
        )
        cleanup.enter_context(cp)
        bed.control_plane.fake = cp.fake_host()
        cp1 = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "cp1", "labels": {"kubernetes.io/os": "linux"}},
        }
        cp.kubectl("apply", "-f", "-", stdin=json.dumps(cp1))
        for item in render_cluster(
            bed.cluster, RuntimeValues(windows_builds={"win1": "10.0.20348", "win2": "10.0.20348"})
        ):
            cp.kubectl("apply", "-f", "-", stdin=item.content.decode())

        report, _ = bed.run(steps())
        assert not _failures(report), _failures(report) + "\n" + agents.log("win1", "kubelet")[-3000:]

        # hybridctl's nodes-ready step (cluster phase, not run here) waits for this; so does the test.
        wait_for("win1 and win2 Ready", lambda: all(ready_status(cp, n) == "True" for n in ("win1", "win2")))
        nodes = {n["metadata"]["name"]: n for n in cp.get("nodes")["items"]}  # type: ignore[attr-defined]
        assert set(nodes) == {"cp1", "win1", "win2"}
        for name, item in nodes.items():
            if name == "cp1":
                continue
            ready = next(c for c in item["status"]["conditions"] if c["type"] == "Ready")
            assert ready["status"] == "True", (name, ready)
            assert item["metadata"]["labels"]["node.kubernetes.io/windows-build"] == "10.0.20348"
            assert {"key": "os", "value": "windows", "effect": "NoSchedule"} in item["spec"]["taints"]
            machine = bed.nodes[name].host.machine
            assert machine.has_file(KUBELET_CONF)
            assert not machine.has_file(r"C:\etc\kubernetes\bootstrap-kubelet.conf")
            assert agents.running(machine, "kube-proxy")

        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "on-windows"},
            "spec": {"runtimeClassName": "windows-2022", "containers": [{"name": "c", "image": "pause"}]},
        }
        cp.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
        running = wait_for(
            "the pod's address", lambda: (p := cp.get("pod", "on-windows"))["status"].get("podIP") and p
        )  # type: ignore[index]
        where = running["spec"]["nodeName"]
        assert where in {"win1", "win2"} and running["status"]["phase"] == "Running"
        cidr = ipaddress.ip_network(nodes[where]["spec"]["podCIDR"])
        assert ipaddress.ip_address(running["status"]["podIP"]) in cidr

        again, _ = bed.run(steps())
        assert [(r.host, r.step, r.changes) for r in again.results if r.changes] == []
