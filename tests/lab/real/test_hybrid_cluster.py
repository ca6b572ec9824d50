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
(Kubernetes' e2e test program, the same binary as the lab registry's ``e2e-test-images/agnhost:2.63.0``)
with the container's args, in every container of the pod (readiness from the kubelet's own HTTP and TCP
probers in the agent): an honest stand-in for agnhost's Windows build (kubernetes/kubernetes
test/images/README.md: the test images are published as manifest lists including Windows images;
test/images/agnhost/README.md: agnhost "behaves and outputs the same expected content, no matter the
underlying OS"); no Windows container runs.

The cluster is first built by an ``up`` killed (SIGKILL: no cleanup runs, remote commands in flight are
cut off) after a seeded uniform share of its (host, step) results, Windows steps and cluster steps
included, then by the ``up`` every test relies on: so an interrupted ``up`` converging is the premise of
the whole module (``HYBRIDCTL_INTERRUPT_SEED`` replays a run; the point is printed).

The tests run in order on one cluster (module scope): after the checks of the built cluster come
``hybridctl smoke`` (every check passing, then planted faults failing exactly their checks) and the
lifecycle verbs with real drains and ``kubeadm reset``: ``down NAME`` of a Windows worker (its Deployment
pods move to the other one), ``add-node`` of it again, ``add-node`` and ``down NAME`` of a third Linux
worker, and ``down`` of the whole cluster.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from junitparser import JUnitXml

from hybridctl.smoke.workloads import SERVER_PORT
from tests.lab.datapath import PORT
from tests.lab.e2e import changed_steps, interrupt_after
from tests.lab.real.cluster import RealCluster
from tests.lab.real.hosts import SystemdHosts
from tests.lab.real.images import AGNHOST, ECHO_TAG
from tests.lab.real.test_real_cluster import ROUTE_PROTO, _pod_routes, assert_reset
from tests.lab.real.test_smoke_real_cluster import _failed
from tests.lab.real.windows_members import WindowsMembers
from tests.support.winrm.windows_kube import KubeSide

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.lab]

WINDOWS = ("win1", "win2")
RUNTIME_CLASS = "windows-2022"  # hybridctl's RuntimeClass for build 10.0.20348 (render/cluster.py)


@pytest.fixture(scope="module")
def built(hybrid_cluster: tuple[RealCluster, WindowsMembers]) -> Iterator[tuple[RealCluster, WindowsMembers]]:
    """The cluster after an interrupted ``up`` and one ``hybridctl up --yes``; the wall time of the second
    to all four nodes Ready is printed."""
    cluster, windows = hybrid_cluster
    interrupted = _interrupted_up(cluster)
    started = time.monotonic()
    result = cluster.hybridctl("up", "--yes")
    up_done = time.monotonic() - started
    logs = "".join(windows.agents.log(n, "kubelet")[-2000:] for n in WINDOWS)
    assert result.returncode == 0, interrupted + result.stdout[-6000:] + result.stderr[-3000:] + logs
    cluster.wait_for("all four nodes Ready", lambda: _all_ready(cluster), timeout=300)
    ready = time.monotonic() - started
    print(f"\nhybridctl up (1 cp + 1 Linux + 2 Windows): {up_done:.1f} s; all 4 nodes Ready: {ready:.1f} s")
    yield cluster, windows


def _interrupted_up(cluster: RealCluster) -> str:
    """Run ``up`` and SIGKILL it after a seeded uniform share of its (host, step) results; say where."""
    seed = int(os.environ.get("HYBRIDCTL_INTERRUPT_SEED", str(time.time_ns() % 10_000)))
    point = random.Random(seed).random()
    process = subprocess.Popen(
        cluster.command("up", "--yes", "--output", "json"),
        cwd=cluster.workdir,
        env=cluster.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    seen = interrupt_after(process, point, signal.SIGKILL)
    ended = [f"{e['host']}/{e['step']}" for e in seen if e["event"] == "step-end"]
    where = f"after {ended[-1]}" if ended else "before any step ended"
    why = f"first up killed at {point:.3f} of its steps, {where} (HYBRIDCTL_INTERRUPT_SEED={seed}); "
    print(f"\n{why}exit {process.returncode}")
    return why


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


def _exec(cluster: RealCluster, pod: str, *command: str) -> subprocess.CompletedProcess[str]:
    argv = [str(cluster.kubectl_binary), "--kubeconfig", str(cluster.admin_kubeconfig), "exec", pod, "--"]
    return subprocess.run([*argv, *command], capture_output=True, text=True, timeout=90, check=False)


def test_kubectl_exec_and_logs_reach_a_windows_pod_through_the_real_api_server(
    built: tuple[RealCluster, WindowsMembers], linux_server: dict[str, Any]
) -> None:
    """Real ``kubectl exec`` and ``kubectl logs`` on the Windows pod: the real API server proxies them to
    the Windows node's kubelet API (the agent serves it with the kubelet's self-signed certificate, checks
    the API server's client certificate against the rendered clientCAFile and asks a SubjectAccessReview
    for nodes/proxy, as the kubelet's webhook authoriser does; the streams are the CRI streaming server's
    own code). Inside the pod, agnhost reaches the real Linux pod, a closed port fails with agnhost's exit
    code through the exec status, and a Linux pod's Service is reached by name (the pod's cluster DNS:
    CoreDNS on Linux, and the ClusterIP, both through the Windows node's kube-proxy); the log is
    netexec's own output. Emulated: the
    runtime (the command runs the Linux agnhost in the pod's namespace)."""
    cluster, windows = built
    linux_ip = linux_server["status"]["podIP"]
    node = _running(cluster, "win-server")["spec"]["nodeName"]
    reached = _exec(cluster, "win-server", "agnhost", "connect", f"{linux_ip}:8080", "--timeout=5s")
    assert reached.returncode == 0, reached.stderr + windows.agents.log(node, "kubelet")[-3000:]
    refused = _exec(cluster, "win-server", "agnhost", "connect", f"{linux_ip}:9", "--timeout=5s")
    assert refused.returncode != 0 and "REFUSED" in refused.stdout + refused.stderr, refused
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "linux-server"},
        "spec": {"selector": {"app": "linux-server"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    _apply(cluster, service)
    name = "linux-server.default.svc.cluster.local:80"
    resolved = cluster.wait_for(
        "the Linux Service by name from the Windows pod",
        lambda: _exec(cluster, "win-server", "agnhost", "connect", name, "--timeout=5s").returncode == 0,
        timeout=60,
    )
    assert resolved
    missing = _exec(cluster, "win-server", "powershell", "-Command", "hostname")
    assert missing.returncode != 0 and "executable file not found" in missing.stderr, missing
    logs = cluster.kubectl("logs", "win-server")
    assert f"Started HTTP server on port {PORT}" in logs, logs


def test_a_second_up_changes_nothing(built: tuple[RealCluster, WindowsMembers]) -> None:
    """``up`` on the converged 1+1+2 cluster reports no change on any host and exits 0."""
    cluster, _ = built
    again = cluster.hybridctl("up", "--yes", "--output", "json")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert changed_steps(again.stdout) == []


# --- hybridctl smoke on the 1+1+2 cluster: every check passes; planted faults fail exactly their checks


def _smoke(cluster: RealCluster, junit: Path) -> tuple[int, dict[tuple[str, str], Any], str]:
    """``hybridctl smoke`` through the CLI: exit code, the JUnit cases by (check, name), the output."""
    target, started = cluster.sources.registry, time.monotonic()
    done = cluster.hybridctl("smoke", "--junit", str(junit), "--egress-target", target, "--timeout", "8m")
    suites = {s.name: {(c.classname, c.name): c for c in s} for s in JUnitXml.fromfile(str(junit))}
    suite = suites[f"hybridctl smoke {cluster.name}"]
    checks = sum(c.time for c in suite.values())
    print(
        f"\nhybridctl smoke ({len(suite)} checks): {time.monotonic() - started:.1f} s, checks {checks:.1f} s"
    )
    return done.returncode, suite, done.stdout[-6000:] + done.stderr[-2000:]


def test_smoke_passes_every_check_across_linux_and_windows_nodes(
    built: tuple[RealCluster, WindowsMembers],
) -> None:
    """``hybridctl smoke`` on 1 control plane + 1 Linux worker + 2 Windows workers: exit 0, every check
    passed and none skipped. Real: the Linux side (pods run by containerd/runc, kube-proxy, CoreDNS,
    routes), the API server's exec into every pod through each node's kubelet API, and agnhost itself in
    every pod. Emulated: the Windows side of each check (the Windows pods' two agnhost containers as the
    Linux agnhost in the pod's namespace, winkernel's ClusterIP and NodePort load balancers as DNAT)."""
    cluster, _ = built
    code, cases, output = _smoke(cluster, cluster.workdir / "smoke.xml")
    assert code == 0, output
    assert {key for key, case in cases.items() if case.result} == set(), output
    nodes = sorted(_nodes(cluster))
    linux = [n for n in nodes if n not in WINDOWS]
    expected = {("pod-to-pod", f"{a} -> {b}") for a in nodes for b in nodes if a != b}
    expected |= {("localhost", f"{n} linux") for n in linux}
    expected |= {("localhost", f"{n} {RUNTIME_CLASS}") for n in WINDOWS}
    expected |= {("placement", "smoke-linux"), ("placement", f"smoke-{RUNTIME_CLASS}")}
    expected |= {("service-clusterip", f"{n} -> smoke-windows") for n in linux}
    expected |= {("service-clusterip", f"{n} -> smoke-linux") for n in WINDOWS}
    expected |= {("linux-only", "kube-proxy"), ("linux-only", "CoreDNS")}
    expected |= {("egress", f"windows (win1) -> {cluster.sources.registry}")}
    assert expected <= set(cases), expected - set(cases)
    nodeports = {key[1] for key in cases if key[0] == "service-nodeport"}
    assert {name.split(":")[0] for name in nodeports} == {f"{a} -> {b}" for a in linux for b in WINDOWS} | {
        f"{a} -> {b}" for a in WINDOWS for b in linux
    }


def test_smoke_fails_exactly_the_checks_a_removed_route_and_a_stopped_kube_proxy_break(
    built: tuple[RealCluster, WindowsMembers],
) -> None:
    """Planted faults, as an admin would cause them: the Linux worker's hybridctl route to win2's pod CIDR
    deleted by hand, and kube-proxy stopped on win1 (its service stopped through the emulated service
    manager), so the Services smoke creates get no load balancer on win1. Exit 1; the pod-to-pod checks
    between the worker and win2, win1's ClusterIP check and the NodePort checks to win1 fail, with the
    pod's node and events and agnhost's own error as evidence; nothing else may fail but the checks whose
    backend kube-proxy picks at random across the broken path. Then ``up`` repairs both (route and
    service) and a ``plan`` finds nothing to change."""
    cluster, windows = built
    worker = cluster.host("worker")
    nodes = _nodes(cluster)
    cidr = nodes["win2"]["spec"]["podCIDR"]
    route = worker.exec("ip", "-4", "route", "show", cidr, "proto", ROUTE_PROTO).stdout.split()
    assert "via" in route, f"no hybridctl route to {cidr} on {worker.name}: {route}"
    worker.exec("ip", "route", "del", cidr, "proto", ROUTE_PROTO)
    machine = windows.nodes["win1"].host.machine
    KubeSide(None, None, windows.agents).stop(machine, "kube-proxy")
    code, cases, output = _smoke(cluster, cluster.workdir / "smoke-faults.xml")
    assert code == 1, output
    port = next(k[1].rsplit(":", 1)[1] for k in cases if k[0] == "service-nodeport" and "-> win1" in k[1])
    linux = [n for n in nodes if n not in WINDOWS]
    broken = {("pod-to-pod", f"{worker.name} -> win2"), ("pod-to-pod", f"win2 -> {worker.name}")}
    broken |= {("service-clusterip", "win1 -> smoke-linux")}
    broken |= {("service-nodeport", f"{n} -> win1:{port}") for n in linux}
    failed = _failed(cases)
    assert broken <= failed, (broken - failed, output)
    crossing = {("service-clusterip", f"{worker.name} -> smoke-windows")}  # a backend on win2, or not
    crossing |= {("service-clusterip", "win2 -> smoke-linux")}  # CoreDNS and Linux backends: either node
    crossing |= {key for key in cases if key[0] in ("dns", "service-nodeport") and key[1].startswith("win2 ")}
    assert failed - broken <= crossing, failed - broken
    evidence = cases[("pod-to-pod", f"win2 -> {worker.name}")].result[0].text
    assert "TIMEOUT" in evidence and "on node win2" in evidence and "events:" in evidence, evidence
    refused = cases[("service-nodeport", f"{worker.name} -> win1:{port}")].result[0].text
    assert "REFUSED" in refused, refused
    repaired = cluster.hybridctl("up", "--yes", "--output", "json")
    assert repaired.returncode == 0, repaired.stdout[-4000:] + repaired.stderr[-2000:]
    changed = set(changed_steps(repaired.stdout))
    assert {(worker.name, "linux-pod-network"), ("win1", "windows-kube-proxy")} <= changed, changed
    assert "via" in worker.exec("ip", "-4", "route", "show", cidr, "proto", ROUTE_PROTO).stdout
    assert windows.agents.running(machine, "kube-proxy")
    plan = cluster.hybridctl("plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout[-4000:]


def _block_probes(windows: WindowsMembers, podcidrs: dict[str, str], action: str) -> None:
    """Insert (``-I``) or delete (``-D``) on each Windows host a firewall rule refusing the host's own TCP
    connections to its pods' port 8080: the kubelet's readiness probe of the smoke pods' ``server``
    container, which the agent runs from the host (as a Windows host firewall blocking the kubelet's
    probes would). Traffic from other nodes and from the pods is forwarded, not sent by the host: it
    passes."""
    for name in WINDOWS:
        rule = ["OUTPUT", "-p", "tcp", "-d", podcidrs[name], "--dport", str(SERVER_PORT), "-j", "REJECT"]
        namespace = windows.hosts[name].namespace
        subprocess.run(["ip", "netns", "exec", namespace, "iptables", "-w", action, *rule], check=True)


def test_a_windows_service_with_no_ready_endpoints_fails_exactly_its_checks(
    built: tuple[RealCluster, WindowsMembers],
) -> None:
    """Planted fault: both Windows hosts refuse the kubelet's readiness probes of their pods, so no Windows
    smoke pod becomes ready and the real EndpointSlice controller lists smoke-windows's endpoints as not
    ready: a Service with no endpoints on Windows. Exit 1; the Windows placement fails (not ready), and the
    Windows Service's ClusterIP checks from the Linux pods (the real kube-proxy rejects a Service with no
    ready endpoint) fail saying the Service has no ready endpoints, with both pods and nodes as evidence;
    the pods still talk to each other and to the Linux Service. Real: the EndpointSlice controller, the
    kubelet's prober (in the emulated Windows node's agent), kube-proxy on Linux. Emulated: the Windows
    host firewall (an iptables rule in the host's namespace) and winkernel's NodePort (DNAT)."""
    cluster, windows = built
    podcidrs = {name: node["spec"]["podCIDR"] for name, node in _nodes(cluster).items()}
    junit = cluster.workdir / "smoke-no-endpoints.xml"
    _block_probes(windows, podcidrs, "-I")
    try:
        done = cluster.hybridctl("smoke", "--junit", str(junit), "--timeout", "5m")  # half: readiness wait
    finally:
        _block_probes(windows, podcidrs, "-D")
    output = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 1, output
    (cases,) = [{(c.classname, c.name): c for c in suite} for suite in JUnitXml.fromfile(str(junit))]
    linux = [n for n in podcidrs if n not in WINDOWS]
    failed = _failed(cases)
    clusterip = {("service-clusterip", f"{n} -> smoke-windows") for n in linux}
    assert {("placement", f"smoke-{RUNTIME_CLASS}")} | clusterip <= failed, (failed, output)
    nodeports = {key for key in cases if key[0] == "service-nodeport" and key[1].split()[0] in linux}
    assert failed - clusterip - {("placement", f"smoke-{RUNTIME_CLASS}")} <= nodeports, (failed, output)
    for key in clusterip | (failed & nodeports):
        failure = cases[key].result[0]
        assert failure.message.startswith("Service smoke-windows has no ready endpoints"), failure.message
        assert "Service hybridctl-smoke/smoke-windows: 0 of 2 endpoints ready" in failure.text, failure.text
        for name in WINDOWS:
            assert f"on node {name} (" in failure.text, failure.text
    placement = cases[("placement", f"smoke-{RUNTIME_CLASS}")].result[0]
    assert "not ready" in placement.message, placement.message
    passed = {key for key, case in cases.items() if not case.result}
    assert {("pod-to-pod", f"{a} -> {b}") for a in podcidrs for b in podcidrs if a != b} <= passed
    assert {("service-clusterip", f"{n} -> smoke-linux") for n in WINDOWS} <= passed
    print(f"\nno ready Windows endpoints: failed {sorted(failed)}")


# --- lifecycle: down NAME and add-node of a Windows worker, add-node and down NAME of a Linux worker, down


def _spread_windows_app(cluster: RealCluster) -> dict[str, Any]:
    """A Deployment of two agnhost replicas with the Windows RuntimeClass, one per Windows node.

    ``nodeTaintsPolicy: Honor``: a node being drained (cordoned, so tainted node.kubernetes.io/unschedulable)
    stops counting as a spreading domain, so the evicted pod's replacement fits on the other Windows node
    at once. With the default (Ignore) the cordoned node still counts with zero pods until it is deleted,
    the replacement is unschedulable meanwhile, and the scheduler's requeue on the Node's deletion can
    miss (MoveAllToActiveOrBackoffQueue runs before the node leaves the scheduler's cache,
    pkg/scheduler/eventhandlers.go), leaving the pod to the 5-minute flush of unschedulable pods (a CI
    run waited 240 s in vain)."""
    spread = {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule",
        "nodeTaintsPolicy": "Honor",
    }
    container = {"name": "c", "image": _agnhost(cluster), "args": ["netexec", f"--http-port={PORT}"]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "win-app"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "win-app"}},
            "template": {
                "metadata": {"labels": {"app": "win-app"}},
                "spec": {
                    "runtimeClassName": RUNTIME_CLASS,
                    "topologySpreadConstraints": [
                        {**spread, "labelSelector": {"matchLabels": {"app": "win-app"}}}
                    ],
                    "containers": [container],
                },
            },
        },
    }


_NOT_READY: dict[str, Any] = {"status": {"conditions": []}}


def _app_placement(cluster: RealCluster) -> dict[str, str] | None:
    """Pod name -> node of win-app's two pods once both run with an address (and no other pod remains)."""
    items = json.loads(cluster.kubectl("get", "pods", "-l", "app=win-app", "-o", "json"))["items"]
    running = [
        p
        for p in items
        if p["status"].get("phase") == "Running"
        and p["status"].get("podIP")
        and not p["metadata"].get("deletionTimestamp")
    ]
    if len(items) != 2 or len(running) != 2:
        return None
    return {p["metadata"]["name"]: p["spec"]["nodeName"] for p in running}


def _app_pods(cluster: RealCluster) -> list[str]:
    """win-app's pods as a person reads them: name, node, phase, terminating or not."""
    items = json.loads(cluster.kubectl("get", "pods", "-l", "app=win-app", "-o", "json"))["items"]
    return [
        f"{p['metadata']['name']} on {p['spec'].get('nodeName')}: {p['status'].get('phase')}"
        + (" (terminating)" if p["metadata"].get("deletionTimestamp") else "")
        for p in items
    ]


def _windows_routes(windows: WindowsMembers, name: str) -> set[str]:
    """Destinations of the kernel routes (with a gateway) in the emulated Windows host's namespace."""
    return {destination for destination, _ in windows.hosts[name].realiser.kernel_routes()}


def _machine_is_clean(windows: WindowsMembers, name: str) -> None:
    machine = windows.nodes[name].host.machine
    assert set(machine.services) == set(), (name, set(machine.services))
    assert machine.hns_networks == {} and machine.routes == [], name
    assert not [n for n in machine.firewall_rules if n.startswith("hybridctl-")], name
    assert not windows.agents.running(machine, "kubelet"), name
    assert not machine.has_file(r"C:\etc\kubernetes\kubelet.conf"), name


def test_down_name_of_a_windows_worker_moves_its_pods_and_removes_it_everywhere(
    built: tuple[RealCluster, WindowsMembers],
) -> None:
    """``down win2``: the real drain evicts win-app's pod there and the Deployment's replacement runs on
    win1; the Node is deleted; no Linux host and not win1 keeps a route to win2's pod CIDR; win2's
    machine has no service, HNS network, route or hybridctl firewall rule left and its kubelet agent is
    stopped; the other nodes stay Ready."""
    cluster, windows = built
    _apply(cluster, _spread_windows_app(cluster))
    before = cluster.wait_for("win-app spread over both Windows nodes", lambda: _app_placement(cluster), 240)
    assert sorted(before.values()) == list(WINDOWS), before
    departing = _nodes(cluster)["win2"]["spec"]["podCIDR"]
    removed = cluster.hybridctl("down", "win2", "--yes")
    assert removed.returncode == 0, removed.stdout[-6000:] + removed.stderr[-3000:]
    assert "win2" not in _nodes(cluster)

    def moved() -> dict[str, str] | AssertionError:
        placed = _app_placement(cluster)
        if placed and set(placed.values()) == {"win1"}:
            return placed
        return AssertionError(f"win-app's pods: {_app_pods(cluster)}")

    after = cluster.wait_for("win-app's two pods running on win1", moved, timeout=360)
    assert set(after) != set(before), "the drained pod was replaced, not kept"
    for host in cluster.hosts:
        assert departing not in _pod_routes(host), host.name
    assert departing not in _windows_routes(windows, "win1")
    _machine_is_clean(windows, "win2")
    assert all(_ready(n) for n in _nodes(cluster).values())


def test_add_node_and_down_name_of_a_linux_worker_leave_the_downed_windows_host_alone(
    built: tuple[RealCluster, WindowsMembers], systemd_lab: SystemdHosts
) -> None:
    """With win2 still in the inventory but no longer a node: ``add-node`` of a third Linux host (real
    kubeadm join) warns that win2 is not a node and leaves it alone (its machine stays clean: no service,
    network or route is recreated there) instead of waiting for it to register; the new node is Ready,
    win1 and the other Linux hosts route to its pod CIDR and a win-app pod (on win1) reaches a real pod on
    it. ``down NAME`` then drains and resets it (no kubelet.conf, route or bridge) and every remaining host
    drops its route to it; win2 is still untouched."""
    cluster, windows = built
    (extra,) = systemd_lab.add(1)
    cluster.members.append((extra, "worker"))
    try:
        cluster.write_inventory(extra_hosts=cluster.extra_hosts)
        added = cluster.hybridctl("add-node", extra.name, "--yes")
        assert added.returncode == 0, added.stdout[-6000:] + added.stderr[-3000:]
        assert "not nodes of the cluster: win2" in " ".join((added.stdout + added.stderr).split())
        _machine_is_clean(windows, "win2")
        ready = lambda: _ready(_nodes(cluster).get(extra.name, _NOT_READY))  # noqa: E731
        cluster.wait_for(f"{extra.name} Ready", ready, timeout=240)
        cidr = _nodes(cluster)[extra.name]["spec"]["podCIDR"]
        assert cidr in _windows_routes(windows, "win1")
        for host in cluster.hosts:
            if host is not extra:
                assert _pod_routes(host).get(cidr) == extra.address, host.name
        image = f"{cluster.sources.registry}/echo:{ECHO_TAG}"
        pinned = {"kubernetes.io/hostname": extra.name}
        _apply(cluster, _pod("extra-server", image, ["-listen", ":8080"], nodeSelector=pinned))
        server = _running(cluster, "extra-server")
        placed = cluster.wait_for("win-app running", lambda: _app_placement(cluster), timeout=120)
        client = _running(cluster, next(iter(placed)))
        namespace = windows.pod_namespace(client["spec"]["nodeName"], client["status"]["podIP"])
        answer = _from_windows_pod(namespace, f"http://{server['status']['podIP']}:8080/").split()
        assert answer[0] == "extra-server" and answer[1].rsplit(":", 1)[0] == client["status"]["podIP"]

        removed = cluster.hybridctl("down", extra.name, "--yes")
        assert removed.returncode == 0, removed.stdout[-6000:] + removed.stderr[-3000:]
        assert extra.name not in _nodes(cluster)
        assert extra.exec("test", "-e", "/etc/kubernetes/kubelet.conf", check=False).returncode != 0
        assert _pod_routes(extra) == {} and "cni0" not in extra.exec("ip", "link", "show").stdout
        assert cidr not in _windows_routes(windows, "win1")
        for host in cluster.hosts:
            assert cidr not in _pod_routes(host), host.name
        _machine_is_clean(windows, "win2")
    finally:
        cluster.members.remove((extra, "worker"))
        cluster.write_inventory(extra_hosts=cluster.extra_hosts)
        systemd_lab.remove([extra])


def test_add_node_joins_the_windows_worker_again(built: tuple[RealCluster, WindowsMembers]) -> None:
    """``add-node win2`` on the cleaned machine: a fresh TLS bootstrap makes it a Ready node again with a pod
    CIDR every Linux host and win1 route to; a RuntimeClass pod pinned to it answers a real Linux pod."""
    cluster, windows = built
    added = cluster.hybridctl("add-node", "win2", "--yes")
    assert added.returncode == 0, added.stdout[-6000:] + added.stderr[-3000:]
    cluster.wait_for("win2 Ready", lambda: _ready(_nodes(cluster).get("win2", _NOT_READY)), timeout=180)
    cidr = _nodes(cluster)["win2"]["spec"]["podCIDR"]
    win2 = windows.nodes["win2"]
    for host in cluster.hosts:
        assert _pod_routes(host).get(cidr) == win2.address, host.name
    assert cidr in _windows_routes(windows, "win1")
    pinned = {"kubernetes.io/hostname": "win2"}
    serve = ["netexec", f"--http-port={PORT}"]
    _apply(
        cluster,
        _pod("win2-server", _agnhost(cluster), serve, runtimeClassName=RUNTIME_CLASS, nodeSelector=pinned),
    )
    pod = _running(cluster, "win2-server")
    assert _in_cidr(pod["status"]["podIP"], cidr)
    namespace = windows.pod_namespace("win2", pod["status"]["podIP"])
    cluster.wait_for("agnhost listening on win2", lambda: _listening(namespace), timeout=60)
    seen, client_ip = _linux_client(cluster, "to-win2", f"http://{pod['status']['podIP']}:{PORT}/clientip")
    assert seen.rsplit(":", 1)[0] == client_ip, seen


def test_down_leaves_every_host_clean_and_a_second_down_changes_nothing(
    built: tuple[RealCluster, WindowsMembers],
) -> None:
    """``down`` of the whole cluster: every Linux host is reset (``assert_reset``: no static pod, kubelet
    config, etcd data, hybridctl route, bridge, rule, kubelet or container); every Windows machine has
    no service, network, route or hybridctl firewall rule and no running agent, and its namespace no pod
    route; a second ``down`` changes nothing."""
    cluster, windows = built
    result = cluster.hybridctl("down", "--yes", "--output", "json")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for host in cluster.hosts:
        assert_reset(host)
    for name in WINDOWS:
        _machine_is_clean(windows, name)
        assert _windows_routes(windows, name) == set(), name
    again = cluster.hybridctl("down", "--yes", "--output", "json")
    assert again.returncode == 0, again.stderr[-2000:]
    assert changed_steps(again.stdout) == []
