"""linux-reset on lab cluster nodes: without purge the runtime stays, with purge it goes; reruns are clean.

Tier: lab. Real: OpenSSH test hosts, the Runner, kernel routes, iptables chains and a cni0 bridge in each
host's network namespace, file removal. Simulated (tests/lab/linux_sim): kubeadm reset over the shared
cluster model, systemctl, apt (packages), the containerd stand-in.
"""

from __future__ import annotations

from pathlib import Path

from hybridctl.steps import linux
from tests.lab.linux_sim.lab import SimLab, bootstrap, run_steps
from tests.support.linux_hosts import TestHost

HYBRIDCTL_FILES = (
    "/etc/cni/net.d/10-hybridctl-bridge.conflist",
    "/etc/hybridctl",
    "/etc/systemd/system/hybridctl-pod-routes.service",
    "/etc/systemd/system/hybridctl-pod-masquerade.service",
    "/etc/kubernetes/hybridctl",
    "/etc/kubernetes/kubelet.conf",
)
RUNTIME_FILES = (
    "/usr/local/bin/containerd",
    "/usr/local/sbin/runc",
    "/opt/cni/bin/bridge",
    "/etc/apt/sources.list.d/kubernetes.list",
)


def _exists(host: TestHost, path: str) -> bool:
    return host.exec("test", "-e", path, check=False).returncode == 0


def _leave_kube_proxy_and_cni_leftovers(host: TestHost) -> None:
    host.exec("ip", "link", "add", "cni0", "type", "bridge")
    host.exec("iptables", "-w", "-t", "nat", "-N", "KUBE-SERVICES")
    host.exec(
        "iptables",
        "-w",
        "-t",
        "nat",
        "-A",
        "PREROUTING",
        "-m",
        "comment",
        "--comment",
        "kubernetes service portals",
        "-j",
        "KUBE-SERVICES",
    )
    host.exec("iptables", "-w", "-t", "filter", "-N", "KUBE-FIREWALL")


def test_reset_removes_membership_network_and_files_then_purge_removes_the_runtime(
    lab: SimLab, tmp_path: Path
) -> None:
    built = bootstrap(lab, 1, tmp_path)
    worker, entry = built.hosts[1], built.cluster.hosts[1]
    _leave_kube_proxy_and_cni_leftovers(worker)
    plan = run_steps(lab, built.cluster, linux.teardown(), hosts=[entry], read_only=True).changed()
    summaries = plan[(worker.name, "linux-reset")]
    assert summaries[0].startswith("kubeadm reset -f")
    assert any(s.startswith("remove iptables nat chains KUBE-SERVICES") for s in summaries)
    assert "delete interface cni0" in summaries

    run_steps(lab, built.cluster, linux.teardown(), hosts=[entry]).assert_ok()
    assert not [p for p in HYBRIDCTL_FILES if _exists(worker, p)]
    assert worker.exec("ip", "-4", "route", "show", "proto", "233").stdout == ""
    nat = worker.exec("iptables", "-w", "-t", "nat", "-S").stdout + worker.exec("iptables", "-w", "-S").stdout
    assert "HYBRIDCTL-POD-MASQ" not in nat and "KUBE-" not in nat
    assert "cni0" not in worker.exec("ip", "link", "show").stdout
    assert worker.exec("systemctl", "is-active", "kubelet", check=False).stdout.strip() == "inactive"
    assert all(_exists(worker, p) for p in RUNTIME_FILES), "without purge the runtime stays"
    assert run_steps(lab, built.cluster, linux.teardown(), hosts=[entry]).changed() == {}

    run_steps(lab, built.cluster, linux.teardown(purge=True), hosts=[entry]).assert_ok()
    assert not [p for p in RUNTIME_FILES if _exists(worker, p)]
    assert worker.exec(
        "dpkg-query", "-W", "-f=${Package} ${Version} ${db:Status-Abbrev}\\n", "kubeadm", check=False
    ).returncode
    assert not _exists(worker, "/var/lib/hybridctl")
    assert run_steps(lab, built.cluster, linux.teardown(purge=True), hosts=[entry]).changed() == {}


def test_reset_of_the_control_plane_takes_the_cluster_with_it(lab: SimLab, tmp_path: Path) -> None:
    built = bootstrap(lab, 0, tmp_path)
    run_steps(lab, built.cluster, linux.teardown()).assert_ok()
    assert not lab.model.read()["initialized"]
    assert not _exists(built.hosts[0], "/etc/kubernetes/admin.conf")
    assert run_steps(lab, built.cluster, linux.teardown()).changed() == {}
