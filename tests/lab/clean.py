"""What a whole-cluster ``down`` must leave on every simulated-lab host, asserted from outside the host.

Tier: lab helper. Real: the Linux test hosts' files, links and iptables rules, read over their own
tools; the kernel routes of the Windows hosts' namespaces. Simulated: the Windows machine model.
"""

from __future__ import annotations

from tests.lab.e2e import HybridLab
from tests.lab.routes import linux_routes, windows_routes

LINUX_LEFTOVERS = (
    "/etc/cni/net.d/10-hybridctl-bridge.conflist",
    "/etc/hybridctl",
    "/etc/systemd/system/hybridctl-pod-routes.service",
    "/etc/systemd/system/hybridctl-pod-masquerade.service",
    "/etc/kubernetes/kubelet.conf",
)


def assert_every_host_clean(lab: HybridLab, why: str = "") -> None:
    """No cluster, and no hybridctl file, bridge, forward rule, service, HNS network or route anywhere."""
    assert not lab.sim.model.read()["initialized"], why
    for host in lab.linux:
        assert linux_routes(host) == set(), f"{why} {host.name}"
        left = [p for p in LINUX_LEFTOVERS if host.exec("test", "-e", p, check=False).returncode == 0]
        assert left == [], f"{why} {host.name}"
        assert "cni0" not in host.exec("ip", "link", "show").stdout, f"{why} {host.name}"
        rules = host.exec("iptables", "-w", "-t", "filter", "-S").stdout
        assert "HYBRIDCTL-POD-FWD" not in rules, f"{why} {host.name}"
    for node in lab.windows:
        machine = node.simulated.machine
        assert set(machine.services) == set(), f"{why} {node.name}"
        assert machine.hns_networks == {} and machine.routes == [], f"{why} {node.name}"
        assert windows_routes(node) == set(), f"{why} {node.name}"
