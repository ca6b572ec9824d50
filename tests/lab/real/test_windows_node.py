"""An emulated Windows node joins a real control plane with the files hybridctl renders for it.

Tier: lab, real Kubernetes (root: network namespaces). Real: etcd, kube-apiserver, kube-controller-manager
(CSR approving and signing, node IPAM, node lifecycle, service-account tokens, EndpointSlices) and
kube-scheduler built from their pinned modules; kubeadm's certificates, kubeconfigs, bootstrap token and
bootstrap RBAC; the RuntimeClasses hybridctl renders; the kubelet's own code in the node agent (flag set,
config loader and validation, TLS bootstrap and certificate manager, lease controller, Ready condition,
pod status patches) and kube-proxy's (client, informers, Service/EndpointSlice handling) with the
kube-system/kube-proxy ServiceAccount token hybridctl creates; the CNI bridge/host-local plugins and
iptables in the Windows host's network namespace. Emulated: Windows itself (the OS facts the node reports,
HNS networks and load balancers), and the kubelet's container runtime (a pod is a network namespace with
a TCP server; no container runs). See tests/lab/real/winnode.py and tests/upstream/winagent.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from hybridctl.inventory.models import Cluster
from hybridctl.render import RuntimeValues, render_cluster
from hybridctl.steps import kube
from tests.lab.real.control_plane import ControlPlane, wait_for
from tests.lab.real.winnode import EmulatedWindowsNode, agent_binary, bridge_endpoint, service_arguments
from tests.lab.windows_sim.netns import NamespaceRealiser, in_namespace, ip
from tests.support.ci import require_root, require_tool
from tests.support.inventory import kubernetes_spec

pytestmark = [pytest.mark.root, pytest.mark.lab, pytest.mark.slow]
BUILD = "10.0.20348"
TAINT = {"key": "os", "value": "windows", "effect": "NoSchedule"}


def inventory(endpoint: str, windows: list[str]) -> Cluster:
    """cp1 plus Windows workers (2022), the API at ``endpoint`` (the test's control plane)."""
    hosts: list[dict[str, Any]] = [
        {"name": "cp1", "address": "192.0.2.1", "role": "control-plane", "os": "linux"}
    ]
    for index, name in enumerate(windows, start=21):
        winrm = {"user": "Administrator", "password": "unused", "auth": "basic"}
        entry = {"name": name, "address": f"192.0.2.{index}", "role": "worker", "os": "windows"}
        hosts.append({**entry, "windowsVersion": 2022, "winrm": winrm, "labels": {"lab.example/pool": "win"}})
    spec = {"kubernetes": kubernetes_spec(controlPlaneEndpoint=endpoint), "network": {"mode": "routes"}}
    document = {
        "apiVersion": "hybridctl.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": "lab"},
        "spec": {**spec, "hosts": hosts},
    }
    return Cluster.model_validate(document)


def kube_proxy_token(cp: ControlPlane) -> str:
    """The kube-system/kube-proxy token the way hybridctl gets it (steps/kube.py: a legacy
    service-account-token Secret, filled by the controller-manager's token controller)."""
    cp.kubectl("apply", "-f", "-", stdin=kube.KUBE_PROXY.manifest())

    def token() -> str | None:
        data = cp.get("secret", kube.KUBE_PROXY_SECRET, "-n", "kube-system").get("data") or {}
        encoded = data.get("token") if isinstance(data, dict) else None
        return base64.b64decode(encoded).decode() if encoded else None

    found: str = wait_for("the kube-proxy token", token, 60)
    return found


@pytest.fixture(scope="module")
def control_plane(loopback_control_plane: ControlPlane) -> ControlPlane:
    """The module's loopback control plane, with the RuntimeClasses hybridctl renders applied."""
    require_root("network namespaces for the Windows host and its pods")
    agent_binary()
    cp = loopback_control_plane
    for item in render_cluster(
        inventory(cp.endpoint, ["win1"]), RuntimeValues(windows_builds={"win1": BUILD})
    ):
        cp.kubectl("apply", "-f", "-", stdin=item.content.decode())
    return cp


@pytest.fixture
def windows_host() -> Iterator[str]:
    """The emulated Windows host's network namespace (its HNS network is made by the test)."""
    namespace = f"hwa{secrets.token_hex(3)}"
    ip("netns", "add", namespace)
    try:
        ip("link", "set", "lo", "up", namespace=namespace)
        yield namespace
    finally:
        ip("netns", "del", namespace, check=False)


def values(cp: ControlPlane, cluster: Cluster, token: str, proxy_token: str | None = None) -> RuntimeValues:
    """What hybridctl learns from the control plane before it renders a Windows node's files."""
    return RuntimeValues(
        bootstrap_token=SecretStr(token),
        ca_certificate=cp.ca_certificate,
        kube_proxy_token=SecretStr(proxy_token) if proxy_token else None,
        windows_builds={host.name: BUILD for host in cluster.windows_hosts},
    )


def node(cp: ControlPlane, name: str) -> dict[str, Any]:
    """The Node object, or {} while it does not exist."""
    found = json.loads(cp.kubectl("get", "nodes", "-o", "json"))["items"]
    return next((n for n in found if n["metadata"]["name"] == name), {})


def ready(item: dict[str, Any]) -> dict[str, Any]:
    """The Node's Ready condition."""
    return next(c for c in item["status"]["conditions"] if c["type"] == "Ready")


def test_windows_node_bootstraps_registers_heartbeats_and_is_ready_once_its_network_exists(
    control_plane: ControlPlane, windows_host: str
) -> None:
    """The CSR made with hybridctl's bootstrap token is approved by the real controller-manager and the
    client certificate lands where the kubelet keeps it; the Node carries the Windows labels and taints;
    its Lease is renewed; it is NotReady (network plugin not ready) until the HNS network exists."""
    cp = control_plane
    cluster = inventory(cp.endpoint, ["win1"])
    with EmulatedWindowsNode(cluster, "win1", values(cp, cluster, cp.create_token()), windows_host) as win:
        win.start()
        agent = win.agents["kubelet"]
        registered = wait_for("Node win1", lambda: node(cp, "win1") or (not agent.running() and agent.log()))
        assert agent.running(), agent.log()

        csrs = json.loads(cp.kubectl("get", "csr", "-o", "json"))["items"]
        mine = [c for c in csrs if c["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"]
        assert len(mine) == 1 and mine[0]["spec"]["username"].startswith("system:bootstrap:")
        assert [c["type"] for c in mine[0]["status"]["conditions"]] == ["Approved"]
        pem = win.path(r"C:\var\lib\kubelet\pki\kubelet-client-current.pem")
        subject = subprocess.run(
            ["openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", str(pem)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert subject.strip() == "subject=CN=system:node:win1,O=system:nodes"
        assert "kubelet-client-current.pem" in win.path(r"C:\etc\kubernetes\kubelet.conf").read_text()

        labels = registered["metadata"]["labels"]
        assert (
            labels.items()
            >= {
                "kubernetes.io/os": "windows",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "windows",
                "node.kubernetes.io/windows-build": BUILD,
                "lab.example/pool": "win",
                "kubernetes.io/hostname": "win1",
            }.items()
        )
        assert TAINT in registered["spec"]["taints"]
        assert ipaddress.ip_network(registered["spec"]["podCIDR"]).subnet_of(
            ipaddress.ip_network(cluster.spec.kubernetes.pod_subnet)
        )
        not_ready = ready(
            wait_for(
                "a Ready condition",
                lambda: node(cp, "win1").get("status", {}).get("conditions") and node(cp, "win1"),
            )
        )
        assert not_ready["status"] == "False" and "NetworkPluginNotReady" in not_ready["message"]

        lease = cp.get("lease", "win1", "-n", "kube-node-lease")
        assert lease["spec"]["holderIdentity"] == "win1"  # type: ignore[index]
        renewed = lease["spec"]["renewTime"]  # type: ignore[index]
        wait_for(
            "a renewed Lease",
            lambda: cp.get("lease", "win1", "-n", "kube-node-lease")["spec"]["renewTime"] != renewed,
            30,
        )  # type: ignore[index]

        cidr = registered["spec"]["podCIDR"]
        NamespaceRealiser(windows_host).create_network("cbr0", cidr, bridge_endpoint(cidr))
        wait_for("Ready", lambda: ready(node(cp, "win1"))["status"] == "True", 30)
    cp.kubectl("delete", "node", "win1", "--wait=false")


def pod(name: str, runtime_class: str | None = None) -> str:
    """A pod manifest (the image is never pulled: the emulated runtime runs no container)."""
    spec: dict[str, Any] = {"containers": [{"name": "web", "image": "registry.k8s.io/pause:3.10.2"}]}
    if runtime_class:
        spec["runtimeClassName"] = runtime_class
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": spec,
    }
    return json.dumps(manifest)


def connect(namespace: str, address: str, port: int) -> str:
    """What a TCP server at ``address:port`` answers a client in ``namespace``, or the error."""

    def attempt() -> str:
        try:
            with socket.create_connection((address, port), timeout=3) as client:
                return client.recv(200).decode()
        except OSError as exc:
            return f"error: {exc}"

    answer: str = in_namespace(namespace, attempt)
    return answer


def test_scheduler_binds_only_runtime_class_pods_which_run_with_an_address_and_kube_proxy_serves_them(
    control_plane: ControlPlane, windows_host: str
) -> None:
    """The real scheduler puts the pod with ``runtimeClassName: windows-2022`` (its RuntimeClass adds the
    Windows nodeSelector and toleration) on the Windows node and leaves a plain pod Pending; the pod runs
    with an address of the node's podCIDR; kube-proxy, with its own ServiceAccount token, sees the
    Service's EndpointSlice and the ClusterIP reaches the pod from the host."""
    cp = control_plane
    cluster = inventory(cp.endpoint, ["win2"])
    rendered = values(cp, cluster, cp.create_token(), kube_proxy_token(cp))
    with EmulatedWindowsNode(cluster, "win2", rendered, windows_host) as win:
        win.start(kube_proxy=True)
        cidr = wait_for("win2's podCIDR", lambda: node(cp, "win2").get("spec", {}).get("podCIDR"))
        NamespaceRealiser(windows_host).create_network("cbr0", cidr, bridge_endpoint(cidr))
        wait_for("Ready", lambda: ready(node(cp, "win2"))["status"] == "True", 30)
        cp.kubectl("apply", "-f", "-", stdin=pod("plain"))
        cp.kubectl("apply", "-f", "-", stdin=pod("win", "windows-2022"))

        running = wait_for(
            "pod win Running", lambda: (p := cp.get("pod", "win"))["status"].get("podIP") and p
        )  # type: ignore[index]
        assert running["spec"]["nodeName"] == "win2"
        assert running["spec"]["nodeSelector"]["node.kubernetes.io/windows-build"] == BUILD
        assert running["status"]["phase"] == "Running"
        assert ipaddress.ip_address(running["status"]["podIP"]) in ipaddress.ip_network(cidr)
        plain = cp.get("pod", "plain")
        scheduled = next(c for c in plain["status"]["conditions"] if c["type"] == "PodScheduled")  # type: ignore[index]
        assert plain["status"]["phase"] == "Pending" and not plain["spec"].get("nodeName")  # type: ignore[index]
        assert scheduled["reason"] == "Unschedulable" and "untolerated taint" in scheduled["message"]

        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "win"},
            "spec": {"selector": {"app": "win"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
        cp.kubectl("apply", "-f", "-", stdin=json.dumps(service))
        cluster_ip = cp.get("service", "win")["spec"]["clusterIP"]  # type: ignore[index]
        wanted = {
            "namespace": "default",
            "name": "win",
            "clusterIP": cluster_ip,
            "port": 80,
            "protocol": "TCP",
            "endpoints": [f"{running['status']['podIP']}:8080"],
        }
        wait_for("kube-proxy's map", lambda: wanted in win.proxy_map(), 30)
        # Windows sends service traffic through the host vNIC (the CNI config's SDNRoute policies).
        ip("route", "add", cluster.spec.kubernetes.service_subnet, "dev", "cbr0", namespace=windows_host)
        assert connect(windows_host, cluster_ip, 80).startswith("default/win ")

        cp.kubectl("delete", "pod", "win", "--wait=false")
        wait_for(
            "pod win gone", lambda: not cp.kubectl("get", "pod", "win", "--ignore-not-found").strip(), 30
        )
        assert not list((Path(win.hook_config.state) / "pods").glob("*.json"))
        cp.kubectl("delete", "pod/plain", "service/win", "--wait=false")
    cp.kubectl("delete", "node", "win2", "--wait=false")


def test_a_wrong_bootstrap_token_is_refused_and_the_node_never_registers(
    control_plane: ControlPlane, windows_host: str
) -> None:
    """A well-formed token the cluster does not know: the API server refuses the CSR, no Node appears."""
    cp = control_plane
    cluster = inventory(cp.endpoint, ["win3"])
    unknown = f"{secrets.token_hex(3)}.{secrets.token_hex(8)}"
    with EmulatedWindowsNode(cluster, "win3", values(cp, cluster, unknown), windows_host) as win:
        win.start()
        agent = win.agents["kubelet"]
        wait_for("the refusal in the kubelet's log", lambda: "Unauthorized" in agent.log(), 30)
        time.sleep(5)  # the certificate manager retries with its backoff; the answer stays the same
        assert agent.running() and agent.log().count("Unauthorized") >= 2
        assert not node(cp, "win3")
        assert not win.path(r"C:\var\lib\kubelet\pki\kubelet-client-current.pem").exists()
        csrs = json.loads(cp.kubectl("get", "csr", "-o", "json"))["items"]
        assert not [c for c in csrs if c["spec"]["username"] == f"system:bootstrap:{unknown[:6]}"]


def test_the_agent_refuses_what_the_kubelet_refuses(tmp_path: Path, windows_host: str) -> None:
    """The service's command line goes through the kubelet's own flag set: an unknown flag stops it with
    the kubelet's message, as the real kubelet.exe would not start. No API server is needed for that."""
    require_tool("go", "install Go 1.26 (/usr/local/go/bin) and reach the Go module proxy")
    cluster = inventory("127.0.0.1:6443", ["win1"])
    token = f"{secrets.token_hex(3)}.{secrets.token_hex(8)}"
    ca = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    rendered = RuntimeValues(
        bootstrap_token=SecretStr(token), ca_certificate=ca, windows_builds={"win1": BUILD}
    )
    with EmulatedWindowsNode(cluster, "win1", rendered, windows_host, workdir=tmp_path / "win") as win:
        argv = [*service_arguments(win.files, "kubelet-service"), "--nodeip=192.0.2.21"]
        agent = win.start(kubelet_argv=argv).agents["kubelet"]
        assert agent.process is not None and agent.process.wait(timeout=30) == 1
        assert "failed to parse kubelet flag: unknown flag: --nodeip" in agent.log()


def test_a_restarted_kubelet_keeps_its_identity_and_kube_proxy_needs_its_own_token(
    control_plane: ControlPlane, windows_host: str
) -> None:
    """A kubelet restarted with the kubeconfig it wrote uses its client certificate again (the bootstrap
    code's "still valid" path: no second CSR) and the Node comes back Ready; kube-proxy with a token the
    cluster did not issue is refused by the API server and never learns a Service."""
    cp = control_plane
    cluster = inventory(cp.endpoint, ["win4"])
    forged = "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl"  # a JWT the service-account signer never made
    with EmulatedWindowsNode(
        cluster, "win4", values(cp, cluster, cp.create_token(), forged), windows_host
    ) as win:
        win.start()
        cidr = wait_for("win4's podCIDR", lambda: node(cp, "win4").get("spec", {}).get("podCIDR"))
        NamespaceRealiser(windows_host).create_network("cbr0", cidr, bridge_endpoint(cidr))
        wait_for("Ready", lambda: ready(node(cp, "win4"))["status"] == "True", 30)

        def requests() -> list[str]:
            items = json.loads(cp.kubectl("get", "csr", "-o", "json"))["items"]
            return [
                c["metadata"]["name"] for c in items if c["spec"]["username"].startswith("system:bootstrap:")
            ]

        before = requests()
        win.agents["kubelet"].stop()
        restarted = win.start().agents["kubelet"]  # bootstrap-kubelet.conf is there too: it must be ignored
        wait_for(
            "the restarted kubelet's heartbeat", lambda: "Successfully registered node" in restarted.log(), 30
        )
        assert requests() == before

        proxy = win.start_kube_proxy()
        wait_for("kube-proxy's refusal", lambda: "Unauthorized" in proxy.log(), 30)
        assert win.proxy_map() == []
    cp.kubectl("delete", "node", "win4", "--wait=false")
