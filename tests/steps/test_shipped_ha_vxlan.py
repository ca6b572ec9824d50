"""The shipped ``inventories/ha-vxlan.yaml`` (3 control planes behind an endpoint, vxlan, Windows Server
2019/2022/2025, Hyper-V isolation) through every Windows step on simulated hosts.

Tier: winrm contract. Real: the shipped inventory file itself (only what names this machine is replaced:
the Windows hosts' addresses and WinRM settings, the mirror URL and the checksum pins of the test's own
artifacts), the Runner and the Windows steps, pypsrp over HTTPS, the WinRM protocol, HTTP downloads with
sha256 checks, host-local reserving the source VIPs, the upstream validators judging the agents' files.
Emulated: the three Windows hosts (builds 17763 with KB4489899, 20348, 26100), flanneld (flannel's Windows
rules, windows_flanneld.py), the control plane (ClusterModel behind a fake first control plane). The Linux
side of this inventory runs in the real labs (tests/lab/real: HA in test_real_ha.py, vxlan with Windows
nodes in test_hybrid_vxlan.py), not here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridctl.inventory.models import Cluster
from hybridctl.steps.windows import FINISH, JOIN, NETWORK, PREPARE
from tests.lab.windows_sim.artifacts import build_windows_artifacts, pinned_checksums
from tests.lab.windows_sim.testbed import Testbed
from tests.steps.test_windows_steps import changes, failures
from tests.steps.windows_fixtures import started_testbed
from tests.support.winrm_fixtures import WinRMAccount, WinRMPki, winrm_settings

SHIPPED = Path(__file__).resolve().parents[2] / "inventories" / "ha-vxlan.yaml"
ALL = [*PREPARE, *JOIN, *NETWORK, *FINISH]
HOSTS = {  # name -> (address, build, hotfixes)
    "win2019": ("127.0.0.21", "10.0.17763", frozenset({"KB4489899"})),
    "win2022": ("127.0.0.22", "10.0.20348", frozenset()),
    "win2025": ("127.0.0.23", "10.0.26100", frozenset()),
}


def _shipped(bed: Testbed, winrm: dict[str, Any], pins: dict[str, str] | None) -> Cluster:
    """The shipped document with this machine's addresses, WinRM settings, mirror and pins."""
    document = yaml.safe_load(SHIPPED.read_text())
    spec = document["spec"]
    spec["artifacts"]["mirrorUrl"] = bed.mirror.url
    spec["artifacts"]["checksums"] = dict(pins or {})
    for host in spec["hosts"]:
        node = bed.nodes.get(host["name"])
        if node is not None:
            host["address"] = node.address
            host["winrm"] = {**winrm, "port": node.endpoint.port}
    return Cluster.model_validate(document)


@pytest.fixture
def shipped_bed(tmp_path: Path, winrm_pki: WinRMPki, winrm_account: WinRMAccount) -> Iterator[Testbed]:
    """Three simulated Windows hosts named and built as the shipped inventory's, and a testbed running
    that inventory (its artifacts added to the testbed's mirror)."""
    with started_testbed(tmp_path, winrm_pki, winrm_account, "vxlan", HOSTS) as bed:
        winrm = winrm_settings(winrm_pki, winrm_account)
        draft = _shipped(bed, winrm, None)
        build_windows_artifacts(bed.mirror, draft)
        bed.cluster = _shipped(bed, winrm, pinned_checksums(draft))
        yield bed


def test_the_shipped_ha_vxlan_inventory_converges_its_three_windows_builds(shipped_bed: Testbed) -> None:
    """Every Windows host of the shipped inventory joins on the overlay: each Node Ready with its build
    label, Hyper-V installed (the inventory offers hyperv isolation), flanneld's Overlay network on its
    own pod CIDR, kube-proxy running; Windows Server 2019 passes the preflight because KB4489899 is
    installed. A second run changes nothing. Only workers joined, so the control-plane certificates were
    not uploaded for them."""
    report, _ = shipped_bed.run(shipped_bed.steps(ALL))
    assert not failures(report), failures(report)
    nodes = shipped_bed.model.nodes()
    for name, (_, build, _) in HOSTS.items():
        machine = shipped_bed.nodes[name].host.machine
        assert nodes[name]["ready"], name
        assert nodes[name]["labels"]["node.kubernetes.io/windows-build"] == build
        assert machine.feature_states.get("Hyper-V") == "Installed", name
        overlay = machine.hns_networks["flannel.4096"]
        assert (str(overlay["type"]).lower(), overlay["addressPrefix"]) == ("overlay", nodes[name]["podCIDR"])
        assert machine.services["kube-proxy"].status == "Running", name
    again, _ = shipped_bed.run(shipped_bed.steps(ALL))
    assert not failures(again) and changes(again) == []
    # only workers joined: the control-plane certificates were never uploaded (kubeadm-certs)
    assert "kube-system/kubeadm-certs" not in shipped_bed.model.objects("secrets")


def test_windows_server_2019_without_kb4489899_is_refused_by_name(shipped_bed: Testbed) -> None:
    """Without the update, win2019's preflight refuses vxlan naming KB4489899; nothing is installed there."""
    machine = shipped_bed.nodes["win2019"].host.machine
    machine.hotfixes.clear()
    report, _ = shipped_bed.run(shipped_bed.steps(ALL), hosts=["win2019"])
    refused = [r for r in report.results if r.host == "win2019" and r.step == "windows-preflight"]
    assert refused and "KB4489899" in str(refused[0].error), failures(report)
    assert "containerd" not in machine.services and not machine.hns_networks
