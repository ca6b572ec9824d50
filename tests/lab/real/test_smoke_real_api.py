"""``hybridctl smoke`` through the CLI against a REAL control plane with an emulated Windows node.

Tier: lab, real Kubernetes (root: network namespaces). Real: etcd, kube-apiserver (with its RuntimeClass
admission, which merges a RuntimeClass's nodeSelector and tolerations into pods), kube-controller-manager
(here also running the DaemonSet, namespace and ServiceAccount controllers smoke needs), kube-scheduler
and kubectl, built from k8s.io/kubernetes v1.37.2 (``tests/lab/real/control_plane.py``); the RuntimeClasses
and smoke objects hybridctl renders; the Windows node's kubelet code (TLS bootstrap, Node, Lease, pod
status) in the node agent of ``tests/lab/real/winnode.py``.
Emulated: the SSH hop to the control plane (kubectl runs on this machine with the control plane's
admin.conf instead of on cp1 over SSH; the command line is hybridctl's), Windows itself and the Windows
container runtime (a pod is a network namespace in which each container runs the Linux build of agnhost
as the stand-in for its Windows build; the agent probes readiness with the kubelet's own HTTP prober and
serves ``kubectl exec``). The loopback control plane has no Linux node, kube-proxy or CoreDNS.

So this proves the checks that need only the API, the scheduler and the node: nodes and versions, the
Windows taint, RuntimeClasses, the Windows DaemonSet's placement (ready pods) through its RuntimeClass
alone, localhost between the two containers of each Windows pod, the evidence of a failure (the DaemonSet
controller's events), JUnit and the exit code. The checks that need Linux pods, kube-proxy or CoreDNS fail
here, and the test asserts exactly which.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from junitparser import Failure, JUnitXml
from pydantic import SecretStr

import tests.lab.real.control_plane as control_plane_module
from hybridctl.cli import run
from hybridctl.commands import Command, PosixCommand
from hybridctl.inventory.models import Cluster
from hybridctl.render import RuntimeValues, render_cluster
from hybridctl.session import Session
from hybridctl.smoke.workloads import NAMESPACE, smoke_image
from hybridctl.steps.kube import ADMIN_CONF
from hybridctl.testing import FakeHost, FakeTransport
from hybridctl.transport.base import CommandTimeoutError
from tests.lab.real.control_plane import ControlPlane, control_plane_binaries
from tests.lab.real.winnode import EmulatedWindowsNode, agent_binary, bridge_endpoint
from tests.lab.windows_sim.netns import NamespaceRealiser, ip
from tests.support.ci import require_root, require_tool
from tests.support.inventory import STAND_IN_KEY, kubernetes_spec, write_inventory
from tests.upstream.build import agnhost, ensure

pytestmark = [pytest.mark.root, pytest.mark.lab, pytest.mark.slow]
BUILD = "10.0.20348"
WINDOWS = {"isolation": ["process", "hyperv"]}  # windows-2022 and windows-hyperv-2022 RuntimeClasses
SMOKE_CONTROLLERS = ("daemonset", "namespace", "serviceaccount")
PASSING = {
    ("nodes", "win1"),
    ("windows-taint", "win1"),
    ("runtimeclass", "windows-2022"),
    ("workloads", "deploy"),
    ("placement", "smoke-windows-2022"),
    ("runtimeclass", "windows-hyperv-2022"),
    ("placement", "smoke-windows-hyperv-2022"),
    ("localhost", "win1 windows-2022"),
    ("localhost", "win1 windows-hyperv-2022"),
    ("workloads", "remove"),
}


def _hosts(win1_address: str) -> list[dict[str, Any]]:
    ssh = {"user": "root", "privateKeyFile": str(STAND_IN_KEY)}
    winrm = {"user": "Administrator", "password": "unused", "auth": "basic"}
    cp1 = {"name": "cp1", "address": "192.0.2.1", "role": "control-plane", "os": "linux", "ssh": ssh}
    win1 = {"name": "win1", "address": win1_address, "role": "worker", "os": "windows", "winrm": winrm}
    return [cp1, {**win1, "windowsVersion": 2022}]


def _node_cluster(endpoint: str) -> Cluster:
    """The cluster the node agent renders its files from: node IP 127.0.0.1, where the agent serves the
    kubelet API (exec and logs), so the API server reaches it on loopback."""
    spec = {
        "kubernetes": kubernetes_spec(controlPlaneEndpoint=endpoint),
        "windows": WINDOWS,
        "hosts": _hosts("127.0.0.1"),
    }
    document = {"apiVersion": "hybridctl.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "lab"}}
    return Cluster.model_validate({**document, "spec": spec})


def _wait(what: str, probe: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (answer := probe()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)
    return answer


@pytest.fixture(scope="module")
def cluster() -> Iterator[ControlPlane]:
    """A loopback control plane with hybridctl's RuntimeClasses and a Ready emulated node win1."""
    require_root("network namespaces for the Windows host and its pods")
    require_tool("go", "install Go 1.26 (/usr/local/go/bin) and reach the Go module proxy")
    agent_binary()
    patch = pytest.MonkeyPatch()
    wanted = tuple(dict.fromkeys(control_plane_module.CONTROLLERS + SMOKE_CONTROLLERS))
    patch.setattr(control_plane_module, "CONTROLLERS", wanted)
    namespace = f"hsm{time.monotonic_ns() % 100000}"
    ip("netns", "add", namespace)
    try:
        with ControlPlane(control_plane_binaries()) as cp:
            yield from _with_node(cp, namespace)
    finally:
        ip("netns", "del", namespace, check=False)
        patch.undo()


def _with_node(cp: ControlPlane, namespace: str) -> Iterator[ControlPlane]:
    ip("link", "set", "lo", "up", namespace=namespace)
    node_cluster = _node_cluster(cp.endpoint)
    for item in render_cluster(node_cluster, RuntimeValues(windows_builds={"win1": BUILD})):
        cp.kubectl("apply", "-f", "-", stdin=item.content.decode())
    values = RuntimeValues(
        bootstrap_token=SecretStr(cp.create_token()),
        ca_certificate=cp.ca_certificate,
        windows_builds={"win1": BUILD},
    )
    stand_in = {smoke_image(node_cluster): str(ensure(agnhost()) / "agnhost")}
    with EmulatedWindowsNode(node_cluster, "win1", values, namespace, images=stand_in) as win:
        win.start()
        cidr = _wait("win1's pod CIDR", lambda: _node(cp).get("spec", {}).get("podCIDR"))
        NamespaceRealiser(namespace).create_network("cbr0", cidr, bridge_endpoint(cidr))
        _route_pods(namespace, cidr)
        _wait("win1 Ready", lambda: _ready(_node(cp)))
        yield cp


def _route_pods(namespace: str, cidr: str) -> None:
    """The agent runs in this machine's namespace (the API server reaches its kubelet API on 127.0.0.1),
    the pods in the Windows host's: a veth (10.231.8.0/30, outside the labs' slots) and a route to the pod
    CIDR let the agent's readiness probes reach the pods, as a Windows host reaches its own. Both go with
    the host's namespace."""
    veth = f"{namespace}v"
    ip("link", "add", veth, "type", "veth", "peer", "name", "agent0", "netns", namespace)
    ip("addr", "add", "10.231.8.1/30", "dev", veth)
    ip("link", "set", veth, "up")
    ip("addr", "add", "10.231.8.2/30", "dev", "agent0", namespace=namespace)
    ip("link", "set", "agent0", "up", namespace=namespace)
    subprocess.run(["ip", "netns", "exec", namespace, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
    ip("route", "add", cidr, "via", "10.231.8.2")


def _node(cp: ControlPlane) -> dict[str, Any]:
    items: list[dict[str, Any]] = cp.get("nodes")["items"]  # type: ignore[assignment]
    return next((n for n in items if n["metadata"]["name"] == "win1"), {})


def _ready(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _local_kubectl(cp: ControlPlane) -> Callable[[Command, float | None], tuple[int, str, str]]:
    """cp1's kubectl, run here: hybridctl's argv with the control plane's admin.conf for /etc/kubernetes's."""

    def respond(command: Command, timeout: float | None) -> tuple[int, str, str]:
        assert isinstance(command, PosixCommand)
        argv = [str(cp.binaries.kubernetes / "kubectl"), *command.argv[1:]]
        argv[argv.index(ADMIN_CONF)] = str(cp.admin_conf)
        try:
            done = subprocess.run(
                argv, input=command.stdin, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise CommandTimeoutError("cp1", " ".join(argv), timeout or 0) from None
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    return respond


@pytest.fixture
def smoke(cluster: ControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    host = FakeHost("cp1")
    host.on("kubectl", _local_kubectl(cluster))
    host.on("test", lambda command, timeout: (0 if cluster.admin_conf.exists() else 1, "", ""))
    monkeypatch.setattr(Session, "_default_factory", lambda self: lambda h: FakeTransport(host))
    pins = {"checksums": {"nssm": "a" * 64, "windows-cni": "b" * 64}}
    inventory = write_inventory(tmp_path / "inv.yaml", _hosts("192.0.2.21"), artifacts=pins, windows=WINDOWS)

    def invoke(timeout: str = "90") -> int:
        args = ["smoke", "-i", str(inventory), "--state-dir", str(tmp_path / "state"), "--timeout", timeout]
        return run([*args, "--junit", str(tmp_path / "smoke.xml")])

    return invoke


def _verdicts(path: Path) -> dict[tuple[str, str], Any]:
    return {(c.classname, c.name): c for suite in JUnitXml.fromfile(str(path)) for c in suite}


def _passed(cases: dict[tuple[str, str], Any]) -> set[tuple[str, str]]:
    return {key for key, case in cases.items() if not case.result}


def test_smoke_against_a_real_api_server_and_scheduler(
    cluster: ControlPlane, smoke: Callable[..., int], tmp_path: Path
) -> None:
    """Both Windows DaemonSets (process and Hyper-V RuntimeClass) with only runtimeClassName are placed on
    win1 by the real admission plugin and scheduler and become ready; nodes, taint, RuntimeClasses and
    localhost pass; what needs Linux pods or cluster DNS fails."""
    assert smoke() == 1
    cases = _verdicts(tmp_path / "smoke.xml")
    assert _passed(cases) == PASSING
    assert "cp1 is not a node" in cases[("nodes", "cp1")].result[0].message
    assert "no pod on cp1" in cases[("placement", "smoke-linux")].result[0].message
    # the API server's exec reached the node's kubelet API and agnhost ran in the pod: it resolved nothing
    # (this control plane has no CoreDNS), as its own error line says
    dns = cases[("dns", "win1 resolves smoke-linux.hybridctl-smoke.svc.cluster.local")].result[0]
    assert "DNS:" in dns.message, dns.message
    _wait("the smoke namespace gone", lambda: "hybridctl-smoke" not in cluster.kubectl("get", "namespaces"))


def test_a_missing_runtime_class_fails_its_checks_with_the_controllers_events(
    cluster: ControlPlane, smoke: Callable[..., int], tmp_path: Path
) -> None:
    """Planted fault: RuntimeClass windows-2022 deleted. Its check fails, and the placement check shows
    why from the real DaemonSet controller's events (the API server's RuntimeClass admission refused)."""
    saved = cluster.kubectl("get", "runtimeclass", "windows-2022", "-o", "yaml")
    cluster.kubectl("delete", "runtimeclass", "windows-2022")
    try:
        assert smoke() == 1
    finally:
        cluster.kubectl("apply", "-f", "-", stdin=saved)
    cases = _verdicts(tmp_path / "smoke.xml")
    missing = {("runtimeclass", "windows-2022"), ("placement", "smoke-windows-2022")}
    assert _passed(cases) == PASSING - missing - {("localhost", "win1 windows-2022")}  # no such pod
    assert (
        "RuntimeClass windows-2022 does not exist"
        in cases[("runtimeclass", "windows-2022")].result[0].message
    )
    placement = cases[("placement", "smoke-windows-2022")].result[0]
    assert isinstance(placement, Failure) and "no pod on win1" in placement.message
    assert 'RuntimeClass "windows-2022" not found' in placement.text


HOLD = "hybridctl.test/hold"


def _hold_smoke_namespace(cluster: ControlPlane) -> None:
    """An earlier run's namespace being deleted but held: a ConfigMap in it keeps a finalizer (standing for
    a pod of a node that no longer exists, which goes only when the pod garbage collector removes it)."""
    held = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "held", "namespace": NAMESPACE, "finalizers": [HOLD]},
    }
    _wait(
        "the previous test's smoke namespace gone",
        lambda: NAMESPACE not in cluster.kubectl("get", "namespaces"),
    )
    cluster.kubectl("create", "namespace", NAMESPACE)
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(held))
    cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false")


def _release(cluster: ControlPlane) -> None:
    patch = json.dumps({"metadata": {"finalizers": None}})
    with contextlib.suppress(RuntimeError):  # already released, or the namespace already gone
        cluster.kubectl("patch", "configmap", "held", "-n", NAMESPACE, "--type=merge", "-p", patch)


def test_a_namespace_still_being_deleted_is_waited_for_and_named_if_it_outlasts_the_wait(
    cluster: ControlPlane, smoke: Callable[..., int], tmp_path: Path
) -> None:
    """Real: the namespace controller keeps an earlier run's namespace Terminating while an object in it
    has a finalizer. With ``--timeout 20`` smoke stops waiting after its share of it: the deploy check
    fails naming the namespace, with the controller's own condition (the finalizer remaining) as
    evidence. When the finalizer goes during the next run, that run waits for the namespace and then
    passes what a fresh run passes."""
    _hold_smoke_namespace(cluster)
    release = threading.Timer(8.0, _release, (cluster,))
    try:
        assert smoke("20") == 1
        deploy = _verdicts(tmp_path / "smoke.xml")[("workloads", "deploy")].result[0]
        assert f"namespace {NAMESPACE} of an earlier smoke run is still being deleted" in deploy.message
        assert "NamespaceFinalizersRemaining" in deploy.text and HOLD in deploy.text, deploy.text
        release.start()
        assert smoke() == 1
        assert _passed(_verdicts(tmp_path / "smoke.xml")) == PASSING
    finally:
        release.cancel()
        _release(cluster)
    _wait("the smoke namespace gone", lambda: NAMESPACE not in cluster.kubectl("get", "namespaces"))
