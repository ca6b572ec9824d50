"""containerd registry hosts on a Linux test host: installed, converged, removed only if hybridctl wrote them.

Tier: lab. Real: an OpenSSH test host in a network namespace, paramiko, the Runner, the
``containerd-config`` step's file writes and removals. Simulated (tests/lab/linux_sim): systemctl (its
calls are logged, which is how restarts are counted). containerd does not read the files here; what it
resolves from them is judged by its own loader in tests/render/test_registries.py.
"""

from __future__ import annotations

import json
from typing import Any

from hybridctl.steps.linux.containerd_config import ContainerdConfig
from hybridctl.steps.linux.linux_reset import LinuxReset
from tests.lab.linux_sim.lab import SimLab, run_steps
from tests.support.linux_hosts import TestHost

LAB = "10.231.5.1:5000"
PLAIN_HTTP = {"host": LAB, "server": f"http://{LAB}"}
K8S_MIRROR = {"host": "registry.k8s.io", "mirrors": [{"url": f"http://{LAB}"}]}
CERTS = "/etc/containerd/certs.d"
STEP = [ContainerdConfig()]


def _restarts(host: TestHost) -> int:
    out = host.exec("cat", "/var/lib/hybridctl-sim/calls.log", check=False).stdout
    calls = [json.loads(line) for line in out.splitlines()]
    return sum(1 for c in calls if c[:2] == ["systemctl", "try-restart"])


def _run(lab: SimLab, host: TestHost, *registries: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """Plan, apply and re-run the step; returns the plan. The re-run must change nothing."""
    cluster = lab.cluster([(host, "control-plane")], containerd={"registries": list(registries)})
    plan = run_steps(lab, cluster, STEP, read_only=True)
    plan.assert_ok()
    run_steps(lab, cluster, STEP).assert_ok()
    again = run_steps(lab, cluster, STEP)
    again.assert_ok()
    assert again.changed() == {}
    return plan.changed()


def test_registries_are_installed_then_removed_without_touching_other_directories(lab: SimLab) -> None:
    (host,) = lab.add(1)
    plan = _run(lab, host, PLAIN_HTTP, K8S_MIRROR)
    assert plan[(host.name, "containerd-config")] == [
        "create /etc/containerd/config.toml",
        f"create {CERTS}/10.231.5.1_5000_/hosts.toml",
        f"create {CERTS}/registry.k8s.io/hosts.toml",
        "record the registry directories in /var/lib/hybridctl/registry-hosts.json",
    ]
    assert (
        'server = "http://10.231.5.1:5000"' in host.exec("cat", f"{CERTS}/10.231.5.1_5000_/hosts.toml").stdout
    )
    assert 'config_path = "/etc/containerd/certs.d"' in host.exec("cat", "/etc/containerd/config.toml").stdout
    host.exec(
        "sh",
        "-c",
        f"mkdir -p {CERTS}/docker.io && echo 'server = \"https://x\"' > {CERTS}/docker.io/hosts.toml",
    )
    restarts = _restarts(host)

    plan = _run(lab, host, PLAIN_HTTP)
    assert plan[(host.name, "containerd-config")] == [
        f"remove {CERTS}/registry.k8s.io (registry no longer in the inventory)",
        "record the registry directories in /var/lib/hybridctl/registry-hosts.json",
    ]
    assert host.exec("test", "-e", f"{CERTS}/registry.k8s.io", check=False).returncode == 1
    assert host.exec("test", "-f", f"{CERTS}/docker.io/hosts.toml", check=False).returncode == 0
    assert _restarts(host) == restarts, "hosts.toml changes need no containerd restart"

    plan = _run(lab, host)
    assert plan[(host.name, "containerd-config")] == [
        "update /etc/containerd/config.toml",
        f"remove {CERTS}/10.231.5.1_5000_ (registry no longer in the inventory)",
        "record the registry directories in /var/lib/hybridctl/registry-hosts.json",
    ]
    assert _restarts(host) == restarts + 1, "config_path went away: one restart"
    listing = host.exec("ls", "-A", CERTS).stdout.split()
    assert listing == ["docker.io"]
    assert host.exec("test", "-e", "/var/lib/hybridctl/registry-hosts.json", check=False).returncode == 1
    assert "config_path" not in host.exec("cat", "/etc/containerd/config.toml").stdout


def test_purge_removes_the_registry_directories_hybridctl_wrote(lab: SimLab) -> None:
    (host,) = lab.add(1)
    _run(lab, host, PLAIN_HTTP, K8S_MIRROR)
    host.exec("sh", "-c", f"mkdir -p {CERTS}/docker.io && echo '# by hand' > {CERTS}/docker.io/hosts.toml")
    cluster = lab.cluster([(host, "control-plane")], containerd={"registries": [PLAIN_HTTP, K8S_MIRROR]})
    run_steps(lab, cluster, [LinuxReset(purge=True)]).assert_ok()
    assert host.exec("ls", "-A", CERTS).stdout.split() == ["docker.io"]
    assert run_steps(lab, cluster, [LinuxReset(purge=True)]).changed() == {}
