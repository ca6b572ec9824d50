"""Tier: lab, real Kubernetes, vxlan mode: ``hybridctl up`` killed at a random moment, then run again.

Real: as ``test_real_vxlan.py`` (the unmodified CLI, real kubeadm/kubelet/containerd on systemd-nspawn
Debian hosts, flannel built from its Go module). The interruption is a SIGKILL of the CLI process (no
cleanup runs, remote commands in flight are cut off with their SSH connections) after a random delay
within the first ``up``'s duration; the seed is printed. Emulated: nothing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest

from tests.lab.e2e import changed_steps
from tests.lab.real.cluster import RealCluster
from tests.lab.real.test_real_cluster import _client, _nodes, _pod, _ready
from tests.lab.real.test_real_vxlan import VNI, _apply, _maybe_vxlan

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.lab]


def test_an_interrupted_vxlan_up_converges_on_the_next_up(real_cluster: RealCluster) -> None:
    """After the kill, a second ``up`` exits 0, a third changes nothing, both nodes are Ready with
    flannel.4096 (VNI 4096) and a pod on the control plane reaches a pod on the worker."""
    cluster = real_cluster
    cluster.network_mode = "vxlan"
    cluster.write_inventory()
    seed = int(os.environ.get("HYBRIDCTL_INTERRUPT_SEED", str(time.time_ns() % 10_000)))
    delay = random.Random(seed).uniform(3.0, 50.0)
    print(f"\ninterrupting vxlan up after {delay:.1f} s (HYBRIDCTL_INTERRUPT_SEED={seed})")
    process = subprocess.Popen(
        cluster.command("up", "--yes"),
        cwd=cluster.workdir,
        env=cluster.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    resumed = cluster.hybridctl("up", "--yes")
    assert resumed.returncode == 0, resumed.stdout[-6000:] + resumed.stderr[-3000:]
    again = cluster.hybridctl("up", "--yes", "--output", "json")
    assert again.returncode == 0 and changed_steps(again.stdout) == [], again.stdout[-4000:]
    cluster.wait_for("nodes Ready", lambda: all(_ready(n) for n in _nodes(cluster).values()), timeout=300)
    for host in cluster.hosts:
        found = cluster.wait_for(f"VXLAN on {host.name}", lambda h=host: _maybe_vxlan(h), timeout=120)
        assert found["linkinfo"]["info_data"]["id"] == VNI, host.name
    _apply(cluster, _pod(cluster, "echo-server", cluster.host("worker"), ["-listen", ":8080"]))

    def pod_ip() -> str | None:
        ip = cluster.kubectl("get", "pod", "echo-server", "-o", "jsonpath={.status.podIP}")
        phase = cluster.kubectl("get", "pod", "echo-server", "-o", "jsonpath={.status.phase}")
        return ip if ip and phase == "Running" else None

    server_ip = cluster.wait_for("echo-server Running", pod_ip, timeout=180)
    assert _client(cluster, "client-resumed", f"http://{server_ip}:8080/").split()[0] == "echo-server"
