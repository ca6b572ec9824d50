"""Tier: lab, real Kubernetes with emulated Windows nodes. ONE ``hybridctl up`` builds the issue's cluster:
1 control plane + 1 Linux worker (real) + 2 Windows workers (simulated hosts, real node agents).

Real: the unmodified ``hybridctl`` CLI (a subprocess, ``up --yes -i INVENTORY``); on Linux everything of
``test_real_cluster.py`` (systemd-nspawn Debian hosts, apt, containerd/runc, real ``kubeadm init``/``join``,
the static control plane, kube-proxy and CoreDNS from the lab registry, the controller-manager allocating
pod CIDRs, hybridctl's routes and bridge CNI, pods run by containerd and runc); for the Windows workers,
hybridctl's Windows steps over the real pypsrp client (HTTPS, Basic, the lab CA) to WinRM endpoints inside
the Windows hosts' network namespaces on the same lab bridge, downloads from the same lab mirror, the real
``kubeadm token create`` hybridctl runs on the real control plane, and the node agent
(``tests/upstream/winagent``: the kubelet's and kube-proxy's own code) started when hybridctl starts the
kubelet and kube-proxy services, acting against the real API server with exactly the files hybridctl
wrote (TLS bootstrap through the bootstrap kubeconfig, the real controller-manager approving and signing
the CSR, the Node with the labels and taint of the rendered flags, Lease heartbeats, pod status);
the real scheduler; kernel routes and bridges on both sides; real ``kubectl``.

Emulated: Windows itself (the machine model behind each WinRM endpoint; HNS networks as Linux bridges and
kernel routes in the host's namespace; winkernel's load balancers as DNAT rules) and its container
runtime: a pod the scheduler binds to a Windows node is a network namespace attached to the node's
bridge by the real CNI bridge/host-local plugins, in which the hook runs the Linux build of agnhost
(Kubernetes' e2e test program, the same binary as the lab registry's ``e2e-test-images/agnhost:2.66.1``)
with the container's args: an honest stand-in for agnhost's Windows build (kubernetes/kubernetes
test/images/README.md: the test images are published as manifest lists including Windows images;
test/images/agnhost/README.md: agnhost "behaves and outputs the same expected content, no matter the
underlying OS"); no Windows container runs.

The tests run in order on one cluster (module scope).
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.lab.datapath import PORT
from tests.lab.e2e import changed_steps
from tests.lab.real.cluster import RealCluster
from tests.lab.real.images import AGNHOST, ECHO_TAG
from tests.lab.real.windows_members import WindowsMembers

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.lab]

WINDOWS = ("win1", "win2")
RUNTIME_CLASS = "windows-2022"  # hybridctl's RuntimeClass for build 10.0.20348 (render/cluster.py)


@pytest.fixture(scope="module")
def built(hybrid_cluster: tuple[RealCluster, WindowsMembers]) -> Iterator[tuple[RealCluster, WindowsMembers]]:
    """The cluster after one ``hybridctl up --yes``; the wall time to all four nodes Ready is printed."""
    cluster, windows = hybrid_cluster
    started = time.monotonic()
    result = cluster.hybridctl("up", "--yes")
    up_done = time.monotonic() - started
    logs = "".join(windows.agents.log(n, "kubelet")[-2000:] for n in WINDOWS)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:] + logs
    cluster.wait_for("all four nodes Ready", lambda: _all_ready(cluster), timeout=300)
    ready = time.monotonic() - started
    print(f"\nhybridctl up (1 cp + 1 Linux + 2 Windows): {up_done:.1f} s; all 4 nodes Ready: {ready:.1f} s")
    yield cluster, windows


def _nodes(cluster: RealCluster) -> dict[str, dict[str, Any]]:
    items = json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"]
    return {item["metadata"]["name"]: item for item in items}


def _ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def _all_ready(cluster: RealCluster) -> bool:
    nodes = _nodes(cluster)
    return len(nodes) == 4 and all(_ready(n) for n in nodes.values())


def _apply(cluster: RealCluster, *objects: dict[str, Any]) -> None:
    path = cluster.workdir / "objects.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    cluster.kubectl("apply", "-f", str(path))


def _pod(name: str, image: str, args: list[str], **spec: Any) -> dict[str, Any]:
    container = {"name": "c", "image": image, "args": args}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [container], **spec},
    }


def _running(cluster: RealCluster, name: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        pod = json.loads(cluster.kubectl("get", "pod", name, "-o", "json"))
        return pod if pod["status"].get("phase") == "Running" and pod["status"].get("podIP") else None

    return dict(cluster.wait_for(f"pod {name} Running", probe, timeout=180))


def _finished(cluster: RealCluster, name: str) -> tuple[str, str]:
    """Phase and logs of a run-to-completion pod."""

    def probe() -> str | None:
        phase = cluster.kubectl("get", "pod", name, "-o", "jsonpath={.status.phase}")
        return phase if phase in ("Succeeded", "Failed") else None

    phase = cluster.wait_for(f"pod {name} finished", probe, timeout=180)
    return str(phase), cluster.kubectl("logs", name, check=False)


def _in_cidr(address: str, cidr: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)


def _agnhost(cluster: RealCluster) -> str:
    return f"{cluster.sources.registry}/{AGNHOST[0]}:{AGNHOST[1]}"


def test_all_four_nodes_are_ready_with_their_operating_systems(
    built: tuple[RealCluster, WindowsMembers],
) -> None:
    """Real ``kubectl get nodes``: the two Linux nodes (real kubelets) and the two Windows nodes (the agent,
    bootstrapped with hybridctl's token) are Ready; the Windows nodes carry the build label and the
    ``os=windows:NoSchedule`` taint hybridctl renders; every node got a distinct pod CIDR."""
    cluster, _ = built
    nodes = _nodes(cluster)
    assert set(nodes) == {*(h.name for h in cluster.hosts), *WINDOWS}
    for name, node in nodes.items():
        assert _ready(node), (name, node["status"]["conditions"])
        labels = node["metadata"]["labels"]
        assert labels["kubernetes.io/os"] == ("windows" if name in WINDOWS else "linux")
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.37.2"
    for name in WINDOWS:
        assert nodes[name]["metadata"]["labels"]["node.kubernetes.io/windows-build"] == "10.0.20348"
        assert {"key": "os", "value": "windows", "effect": "NoSchedule"} in nodes[name]["spec"]["taints"]
    cidrs = [n["spec"]["podCIDR"] for n in nodes.values()]
    assert len(set(cidrs)) == 4


def test_bootstrap_kubeconfig_is_gone_and_the_node_certificate_is_where_the_kubelet_writes_it(
    built: tuple[RealCluster, WindowsMembers],
) -> None:
    """After ``up`` each Windows machine holds the kubelet.conf and client certificate the real TLS
    bootstrap produced (signed by the cluster CA via the real controller-manager) and no bootstrap file."""
    _, windows = built
    for name in WINDOWS:
        machine = windows.nodes[name].host.machine
        assert machine.has_file(r"C:\etc\kubernetes\kubelet.conf"), name
        assert machine.has_file(r"C:\var\lib\kubelet\pki\kubelet-client-current.pem"), name
        assert not machine.has_file(r"C:\etc\kubernetes\bootstrap-kubelet.conf"), name


def test_kube_proxy_and_coredns_have_no_pod_on_a_windows_node(
    built: tuple[RealCluster, WindowsMembers],
) -> None:
    """kubeadm's kube-proxy DaemonSet and CoreDNS run only on Linux nodes (their linux nodeSelector)."""
    cluster, _ = built

    def settled() -> list[dict[str, Any]] | None:
        pods = json.loads(cluster.kubectl("get", "pods", "-n", "kube-system", "-o", "json"))["items"]
        proxies = [p for p in pods if p["metadata"]["name"].startswith("kube-proxy-")]
        return pods if len(proxies) == 2 and all(p["spec"].get("nodeName") for p in pods) else None

    pods = cluster.wait_for("kube-system pods scheduled", settled, timeout=180)
    placed = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods}
    assert not {n for n in placed.values() if n in WINDOWS}, placed
    assert any(name.startswith("coredns-") for name in placed)
    desired = json.loads(cluster.kubectl("get", "daemonset", "kube-proxy", "-n", "kube-system", "-o", "json"))
    assert desired["status"]["desiredNumberScheduled"] == 2


def test_the_scheduler_puts_runtime_class_pods_on_windows_and_plain_pods_never(
    built: tuple[RealCluster, WindowsMembers],
) -> None:
    """A pod with ``runtimeClassName: windows-2022`` lands on a Windows node (the RuntimeClass's node
    selector and toleration, applied by the real admission plugin and scheduler) and runs there with an
    address of that node's pod CIDR; six plain pods all land on the Linux worker."""
    cluster, _ = built
    serve = ["netexec", f"--http-port={PORT}"]
    _apply(cluster, _pod("win-server", _agnhost(cluster), serve, runtimeClassName=RUNTIME_CLASS))
    plain = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "plain"},
        "spec": {
            "replicas": 6,
            "selector": {"matchLabels": {"app": "plain"}},
            "template": {
                "metadata": {"labels": {"app": "plain"}},
                "spec": {"containers": [{"name": "c", "image": _agnhost(cluster), "args": ["pause"]}]},
            },
        },
    }
    _apply(cluster, plain)
    pod = _running(cluster, "win-server")
    where = pod["spec"]["nodeName"]
    assert where in WINDOWS
    assert _in_cidr(pod["status"]["podIP"], _nodes(cluster)[where]["spec"]["podCIDR"])

    def scheduled() -> list[str] | None:
        items = json.loads(cluster.kubectl("get", "pods", "-l", "app=plain", "-o", "json"))["items"]
        names = [p["spec"].get("nodeName") for p in items]
        return names if len(names) == 6 and all(names) else None

    placed = cluster.wait_for("plain pods scheduled", scheduled, timeout=180)
    assert set(placed) == {cluster.host("worker").name}, placed
    cluster.kubectl("delete", "deployment", "plain", "--wait=false")


@pytest.fixture(scope="module")
def linux_server(built: tuple[RealCluster, WindowsMembers]) -> dict[str, Any]:
    """The lab's echo server (HTTP, answers ``<pod name> <peer>``) as a real pod on the Linux worker."""
    cluster, _ = built
    image = f"{cluster.sources.registry}/echo:{ECHO_TAG}"
    worker = {"kubernetes.io/hostname": cluster.host("worker").name}
    _apply(cluster, _pod("linux-server", image, ["-listen", ":8080"], nodeSelector=worker))
    return _running(cluster, "linux-server")


def _listening(namespace: str) -> bool:
    shown = ["ip", "netns", "exec", namespace, "ss", "-Hltn", f"sport = :{PORT}"]
    return bool(subprocess.run(shown, capture_output=True, text=True, check=False).stdout.strip())


def _linux_client(cluster: RealCluster, name: str, url: str) -> tuple[str, str]:
    """The lab's echo client as a real pod on the Linux worker: the body it fetched, and its pod IP."""
    image = f"{cluster.sources.registry}/echo:{ECHO_TAG}"
    worker = {"kubernetes.io/hostname": cluster.host("worker").name}
    _apply(cluster, _pod(name, image, ["-get", url], nodeSelector=worker, restartPolicy="Never"))
    phase, logs = _finished(cluster, name)
    assert phase == "Succeeded", logs
    return logs.strip(), cluster.kubectl("get", "pod", name, "-o", "jsonpath={.status.podIP}")


def _from_windows_pod(namespace: str, url: str) -> str:
    """An HTTP GET from inside the emulated Windows pod's network namespace; the body."""
    fetch = (
        "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
    )
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, "python3", "-c", fetch, url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_pod_to_pod_tcp_between_linux_and_windows_pods_both_ways(
    built: tuple[RealCluster, WindowsMembers], linux_server: dict[str, Any]
) -> None:
    """Linux -> Windows: a real pod on the Linux worker fetches agnhost netexec's ``/clientip`` from the
    emulated Windows pod (across hybridctl's Linux route and the Windows host's bridge) and is seen with
    its own pod address. Windows -> Linux: from inside the Windows pod's namespace an HTTP GET reaches the
    real Linux pod, which sees the Windows pod's own address (no masquerade on pod-to-pod traffic)."""
    cluster, windows = built
    target = _running(cluster, "win-server")
    target_ip = target["status"]["podIP"]
    namespace = windows.pod_namespace(target["spec"]["nodeName"], target_ip)
    cluster.wait_for("agnhost listening in the Windows pod", lambda: _listening(namespace), timeout=60)
    seen, client_ip = _linux_client(cluster, "to-windows", f"http://{target_ip}:{PORT}/clientip")
    assert seen.rsplit(":", 1)[0] == client_ip, seen
    assert _in_cidr(client_ip, _nodes(cluster)[cluster.host("worker").name]["spec"]["podCIDR"])

    answer = _from_windows_pod(namespace, f"http://{linux_server['status']['podIP']}:8080/").split()
    assert answer[0] == "linux-server"
    assert answer[1].rsplit(":", 1)[0] == target_ip


def test_a_cluster_ip_service_with_windows_backends_answers_a_linux_pod(
    built: tuple[RealCluster, WindowsMembers],
) -> None:
    """A ClusterIP Service selecting the Windows pod: a real Linux pod reaches agnhost in it through the
    real kube-proxy's rules (the EndpointSlice lists the pod Ready, as the agent reported it), by IP and by
    name (CoreDNS); the Windows nodes' kube-proxy agents (hybridctl's kube-proxy kubeconfig) map the same
    ClusterIP to the pod."""
    cluster, windows = built
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "win-server"},
        "spec": {"selector": {"app": "win-server"}, "ports": [{"port": 80, "targetPort": PORT}]},
    }
    _apply(cluster, service)
    cluster_ip = cluster.kubectl("get", "service", "win-server", "-o", "jsonpath={.spec.clusterIP}")
    pod_ip = cluster.kubectl("get", "pod", "win-server", "-o", "jsonpath={.status.podIP}")
    seen, client_ip = _linux_client(cluster, "to-service", f"http://{cluster_ip}/clientip")
    assert seen.rsplit(":", 1)[0] == client_ip, seen
    dns = "http://win-server.default.svc.cluster.local/clientip"
    seen, client_ip = _linux_client(cluster, "to-service-dns", dns)
    assert seen.rsplit(":", 1)[0] == client_ip, seen

    def mapped() -> bool:
        wanted = {"clusterIP": cluster_ip, "port": 80, "endpoints": [f"{pod_ip}:{PORT}"]}
        maps = [windows.agents.proxy_map(name) for name in WINDOWS]
        return all(any(wanted.items() <= entry.items() for entry in found) for found in maps)

    cluster.wait_for("both Windows kube-proxies map the ClusterIP to the pod", mapped, timeout=60)


def test_a_second_up_changes_nothing(built: tuple[RealCluster, WindowsMembers]) -> None:
    """``up`` on the converged 1+1+2 cluster reports no change on any host and exits 0."""
    cluster, _ = built
    again = cluster.hybridctl("up", "--yes", "--output", "json")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert changed_steps(again.stdout) == []
