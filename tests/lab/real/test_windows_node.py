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
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from hybridctl.inventory.models import Cluster
from hybridctl.render import RuntimeValues, render_cluster
from hybridctl.steps import kube
from tests.lab.real.control_plane import ControlPlane, control_plane_binaries
from tests.lab.real.winnode import EmulatedWindowsNode, agent_binary, bridge_endpoint
from tests.lab.windows_sim.netns import NamespaceRealiser, ip
from tests.support.ci import require_root, require_tool
from tests.support.inventory import kubernetes_spec

pytestmark = [pytest.mark.root, pytest.mark.lab, pytest.mark.slow]
BUILD = "10.0.20348"
TAINT = {"key": "os", "value": "windows", "effect": "NoSchedule"}


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0, every: float = 0.5) -> Any:
    """``probe()``'s first truthy answer; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


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
    cp.kubectl("apply", "-f", "-", stdin=kube._secret_manifest())

    def token() -> str | None:
        data = cp.get("secret", kube.KUBE_PROXY_SECRET, "-n", "kube-system").get("data") or {}
        encoded = data.get("token") if isinstance(data, dict) else None
        return base64.b64decode(encoded).decode() if encoded else None

    found: str = wait_for("the kube-proxy token", token, 60)
    return found


@pytest.fixture(scope="module")
def control_plane() -> Iterator[ControlPlane]:
    """A loopback control plane for the module, with hybridctl's RuntimeClasses applied."""
    require_root("network namespaces for the Windows host and its pods")
    require_tool("go", "install Go 1.26 (/usr/local/go/bin) and reach the Go module proxy")
    agent_binary()
    spec = inventory("127.0.0.1:6443", ["win1"]).spec.kubernetes
    with ControlPlane(
        control_plane_binaries(), pod_subnet=spec.pod_subnet, service_subnet=spec.service_subnet
    ) as cp:
        for item in render_cluster(
            inventory(cp.endpoint, ["win1"]), RuntimeValues(windows_builds={"win1": BUILD})
        ):
            cp.kubectl("apply", "-f", "-", stdin=item.content.decode())
        yield cp


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
