"""Several control planes: kubeadm init with uploaded certificates on the first, kubeadm join with a
controlPlane section and the certificate key on the others, behind the inventory's endpoint.

Tier: lab (root). Real: sshd test hosts, paramiko, the Runner and the Linux/cluster steps, kernel routes.
Simulated: kubeadm/kubelet/containerd/systemd/apt (tests/lab/linux_sim), the control plane (cluster model).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridctl.events import Outcome
from tests.lab.linux_sim.lab import SimLab, run_steps, up_steps

pytestmark = [pytest.mark.root, pytest.mark.lab]


def test_a_second_control_plane_joins_as_a_control_plane(lab: SimLab, tmp_path: Path) -> None:
    first, second, worker = lab.add(3)
    endpoint = f"{first.address}:6443"
    members = [(first, "control-plane"), (second, "control-plane"), (worker, "worker")]
    cluster = lab.cluster(members, kubernetes={"controlPlaneEndpoint": endpoint})
    run = run_steps(lab, cluster, up_steps(), options={"state_dir": str(tmp_path)})
    run.assert_ok()
    nodes = lab.model.nodes()
    assert set(nodes) == {first.name, second.name, worker.name}
    roles = {
        name: "node-role.kubernetes.io/control-plane" in node.get("labels", {})
        for name, node in nodes.items()
    }
    assert roles == {first.name: True, second.name: True, worker.name: False}
    assert (
        second.exec("test", "-e", "/etc/kubernetes/manifests/kube-apiserver.yaml", check=False).returncode
        == 0
    )
    assert all(r.outcome in (Outcome.OK, Outcome.CHANGED) for r in run.report.results)
    again = run_steps(lab, cluster, up_steps(), options={"state_dir": str(tmp_path)})
    assert again.changed() == {}
