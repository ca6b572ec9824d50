"""PREPARE on Linux test hosts: plan, apply, converge, drift, sudo users, an interrupted download.

Tier: lab. Real: OpenSSH test hosts in network namespaces, paramiko, the Runner, downloads with curl from
the lab's HTTP mirror, sha256sum, tar, file writes, ``sysctl -p`` of per-namespace keys, the real CNI
plugin binaries. Simulated (tests/lab/linux_sim): systemctl, modprobe (a private /sys/module), swap,
apt-get/apt-cache/apt-mark/dpkg-query, and containerd/runc (stand-in scripts from the lab's tarballs).
"""

from __future__ import annotations

import hashlib
import json

from hybridctl.steps.linux import PREPARE
from tests.lab.linux_sim.lab import LAB_SWAP, SimLab, host_snapshot, run_steps
from tests.support.inventory import HOST_CGROUP_V1
from tests.support.linux_hosts import TestHost
from tests.support.plan_text import marked_steps, plan_text

STEP_NAMES = [s.name for s in PREPARE]


def _calls(host: TestHost) -> list[list[str]]:
    out = host.exec("cat", "/var/lib/hybridctl-sim/calls.log", check=False).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_prepare_plans_applies_and_converges_as_root_and_as_sudo_user(lab: SimLab) -> None:
    a, b = lab.add(2)
    cluster = lab.cluster([(a, "control-plane", "root"), (b, "worker", "alice")])
    before = {h.name: host_snapshot(lab, h) for h in (a, b)}
    plan = run_steps(lab, cluster, PREPARE, read_only=True)
    plan.assert_ok()
    assert "RESTART" not in plan_text(plan.report), "fresh nodes start containerd, nothing restarts"
    again = run_steps(lab, cluster, PREPARE, read_only=True)
    assert {h.name: host_snapshot(lab, h) for h in (a, b)} == before, "a check changed a host"
    for host in (a, b):
        changed = {step for (name, step) in plan.changed() if name == host.name}
        # smoke-image changes nothing: this inventory leaves spec.smoke.prePull off
        assert changed == set(STEP_NAMES) - {"linux-preflight", "smoke-image"}
    assert plan.changed() == again.changed()

    run_steps(lab, cluster, PREPARE).assert_ok()
    second = run_steps(lab, cluster, PREPARE)
    second.assert_ok()
    assert second.changed() == {}
    for host in (a, b):
        _assert_prepared(host)


def _assert_prepared(host: TestHost) -> None:
    assert host.exec(
        "sysctl", "-n", "net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables"
    ).stdout.split() == [
        "1",
        "1",
    ]
    # br_netfilter: loaded by the simulated modprobe, or built in (its net/bridge sysctls, read above)
    assert host.exec("cat", "/etc/modules-load.d/hybridctl.conf").stdout.split()[-2:] == [
        "overlay",
        "br_netfilter",
    ]
    assert (
        f"# disabled by hybridctl (the kubelet needs swap off): {LAB_SWAP}"
        in host.exec("cat", "/etc/fstab").stdout
    )
    assert host.exec("swapon", "--show=NAME", "--noheadings").stdout == ""
    assert "v2.4.2" in host.exec("/usr/local/bin/containerd", "--version").stdout
    assert host.exec("stat", "-c", "%a", "/usr/local/sbin/runc").stdout.strip() == "755"
    plugin = host.exec("sha256sum", "/opt/cni/bin/bridge").stdout.split()[0]
    with open("/usr/lib/cni/bridge", "rb") as real:
        assert plugin == hashlib.sha256(real.read()).hexdigest()
    query = host.exec(
        "dpkg-query", "-W", "-f=${Package} ${Version} ${db:Status-Abbrev}\\n", "kubeadm", "kubelet"
    )
    assert query.stdout.split("\n")[:2] == ["kubeadm 1.37.2-1.1 hi ", "kubelet 1.37.2-1.1 hi "]
    assert host.exec("systemctl", "is-active", "containerd").stdout.strip() == "active"
    assert host.exec("systemctl", "is-enabled", "kubelet").stdout.strip() == "enabled"
    assert host.exec(
        "test", "-e", "/var/cache/hybridctl/containerd-2.4.2-linux-amd64.tar.gz", check=False
    ).returncode


def test_drift_is_found_and_repaired_with_minimal_restarts(lab: SimLab) -> None:
    (host,) = lab.add(1)
    cluster = lab.cluster([(host, "control-plane")])
    run_steps(lab, cluster, PREPARE).assert_ok()
    host.exec("sysctl", "-w", "net.ipv4.ip_forward=0")
    host.exec("sh", "-c", "echo '# edited by hand' >> /etc/containerd/config.toml")
    host.exec("sh", "-c", "echo tampered > /usr/local/bin/ctr")
    calls = len(_calls(host))
    planned = run_steps(lab, cluster, PREPARE, read_only=True)
    assert marked_steps(plan_text(planned.report), "RESTART", host.name) == {"containerd-config"}
    found = planned.changed()
    assert found == {
        (host.name, "sysctl"): ["set net.ipv4.ip_forward = 1 (now 0)"],
        (host.name, "containerd-config"): ["update /etc/containerd/config.toml"],
        (host.name, "containerd"): [
            "install containerd-2.4.2-linux-amd64.tar.gz: /usr/local/bin/ctr is modified"
        ],
    }
    run_steps(lab, cluster, PREPARE).assert_ok()
    assert run_steps(lab, cluster, PREPARE).changed() == {}
    mutating = [
        c for c in _calls(host)[calls:] if c[0] == "systemctl" and c[1] in ("restart", "try-restart", "start")
    ]
    assert mutating == [
        ["systemctl", "try-restart", "containerd.service"],
        ["systemctl", "restart", "containerd.service"],
    ]


def test_a_dropped_connection_during_the_download_converges_on_the_next_run(lab: SimLab) -> None:
    (host,) = lab.add(1)
    cluster = lab.cluster([(host, "control-plane")])
    tarball = "https://github.com/containerd/containerd/releases/download/v2.4.2/containerd-2.4.2-linux-amd64.tar.gz"
    dropped: list[int] = []
    lab.mirror.on_request(tarball, lambda: dropped.append(host.drop_connections()) if not dropped else None)
    try:
        first = run_steps(lab, cluster, PREPARE)
    finally:
        lab.mirror.on_request(tarball, lambda: None)
    assert dropped and (host.name, "containerd") in first.failures()
    run_steps(lab, cluster, PREPARE).assert_ok()
    assert run_steps(lab, cluster, PREPARE).changed() == {}
    listing = "ls -A /var/cache/hybridctl; ls -d /usr/local/.hybridctl-* 2>/dev/null || true"
    leftovers = host.exec("sh", "-c", listing).stdout
    assert leftovers.strip() == ""


def test_preflight_refuses_what_cannot_work_and_nothing_runs_after_it(lab: SimLab) -> None:
    (host,) = lab.add(1)
    cluster = lab.cluster([(host, "control-plane")])
    host.exec(
        "sh", "-c", "sed -i 's/^ID=.*/ID=arch/' /etc/os-release 2>/dev/null || echo ID=arch > /etc/os-release"
    )
    host.exec("rmdir", "/run/systemd/system")
    result = run_steps(lab, cluster, PREPARE)
    error = result.failures()[(host.name, "linux-preflight")]
    assert "distribution arch is not one of" in error
    assert "systemd is not running as the init system" in error
    assert all(
        outcome.startswith("skipped")
        for key, outcome in result.failures().items()
        if key[1] != "linux-preflight"
    )
    assert host.exec("test", "-e", "/etc/sysctl.d/90-hybridctl.conf", check=False).returncode != 0


def test_preflight_refuses_cgroup_v1_unless_the_inventory_opts_in(lab: SimLab) -> None:
    """The test hosts share this machine's kernel; on a cgroup v1/hybrid kernel preflight must refuse them
    without ``allowCgroupV1`` (the kubelet would refuse them since 1.35) and accept them with it. On a
    cgroup v2 machine both runs pass and the test only proves the opt-in is harmless there."""
    (host,) = lab.add(1)
    refused = run_steps(
        lab, lab.cluster([(host, "control-plane")], kubernetes={"allowCgroupV1": False}), PREPARE
    )
    accepted = run_steps(
        lab, lab.cluster([(host, "control-plane")], kubernetes={"allowCgroupV1": True}), PREPARE
    )
    assert (host.name, "linux-preflight") not in accepted.failures()
    if HOST_CGROUP_V1:
        error = refused.failures()[(host.name, "linux-preflight")]
        assert "cgroup v1" in error and "allowCgroupV1: true" in error
        assert "systemd.unified_cgroup_hierarchy=1" in error
    else:
        assert (host.name, "linux-preflight") not in refused.failures()


def test_preflight_refuses_switching_a_node_between_routes_and_vxlan(lab: SimLab) -> None:
    """A node that carries routes mode's bridge CNI config is refused by a vxlan inventory, and one with
    flannel's subnet lease by a routes inventory, naming what was found; with no marker both pass."""
    (host,) = lab.add(1)
    for mode, other, marker in (
        ("vxlan", "routes", "/etc/cni/net.d/10-hybridctl-bridge.conflist"),
        ("routes", "vxlan", "/run/flannel/subnet.env"),
    ):
        host.exec("sh", "-c", 'mkdir -p "$(dirname "$1")" && touch "$1"', "sh", marker)
        try:
            result = run_steps(lab, lab.cluster([(host, "control-plane")], network={"mode": mode}), PREPARE)
        finally:
            host.exec("rm", "-f", marker)
        error = result.failures()[(host.name, "linux-preflight")]
        assert f"runs the {other} pod network ({marker})" in error
        assert "switching an existing cluster between routes and vxlan is not supported" in error
    clean = run_steps(lab, lab.cluster([(host, "control-plane")], network={"mode": "vxlan"}), PREPARE)
    assert (host.name, "linux-preflight") not in clean.failures()
