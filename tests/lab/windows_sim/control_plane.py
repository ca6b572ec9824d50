"""A first control plane as a ``FakeTransport`` answering from the shared ``ClusterModel``.

Stands in for the Linux side's simulated toolchain until it lands: ``test -s admin.conf``, ``kubeadm token
create --print-join-command``, ``kubeadm token list -o json``, ``kubectl get nodes -o json``, ``kubectl get
secret``, ``kubectl apply -f -`` (the kube-proxy and flanneld token Secrets), and the CA file. Anything else
exits 127.
Also the Linux-side steps the Windows steps name in ``requires`` (``kubeadm-init``, ``pod-cidrs``, and in
vxlan mode ``flannel``).
"""

from __future__ import annotations

import base64
import json
import shlex
from typing import Any, ClassVar

from hybridctl.commands import Command, PosixCommand
from hybridctl.inventory.models import Cluster, Host
from hybridctl.steps.base import Change, Step
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.kube import ADMIN_CONF, CA_CERT, nodes
from hybridctl.steps.values import POD_CIDRS
from hybridctl.testing import FakeHost, Reply
from tests.lab.cluster_model import ClusterModel, ModelError

FLANNEL_ACCOUNT = "kube-flannel/flannel"


def _argv(command: Command) -> list[str]:
    assert isinstance(command, PosixCommand)
    return shlex.split(command.render())[3:] if command.sudo else list(command.argv)


def node_object(name: str, node: dict[str, Any]) -> dict[str, Any]:
    """The model's node as ``kubectl get node -o json`` shows it."""
    ready = "True" if node.get("ready") else "False"
    return {
        "metadata": {"name": name, "labels": dict(node.get("labels", {}))},
        "spec": {"podCIDR": node["podCIDR"], "taints": list(node.get("taints", []))},
        "status": {"conditions": [{"type": "Ready", "status": ready}]},
    }


class FakeControlPlane:
    """Responders for a FakeHost playing the first control plane."""

    def __init__(self, model: ClusterModel, name: str = "cp1") -> None:
        self.model = model
        self.fake = FakeHost(name)
        self.fake.on("test", self._test)
        self.fake.on("kubeadm", self._kubeadm)
        self.fake.on("kubectl", self._kubectl)

    def initialise(self, cluster: Cluster) -> None:
        """``kubeadm init``: the model records the cluster, the CA lands in the fake file system."""
        spec = cluster.spec.kubernetes
        params = {
            "podSubnet": spec.pod_subnet,
            "serviceSubnet": spec.service_subnet,
            "nodeCidrMaskSize": spec.node_cidr_mask_size,
        }
        host = cluster.first_control_plane
        made = self.model.init(params, {"name": host.name, "labels": {"kubernetes.io/os": "linux"}})
        self.model.set_ready(host.name, True)
        self.fake.files[CA_CERT] = made["caCert"].encode()

    def _test(self, command: Command, _timeout: float | None) -> Reply:
        argv = _argv(command)
        if argv[1:] == ["-s", ADMIN_CONF]:
            return 0 if self.model.read()["initialized"] else 1, "", ""
        return 1, "", ""

    def _kubeadm(self, command: Command, _timeout: float | None) -> Reply:
        argv = _argv(command)
        try:
            if argv[1:3] == ["token", "create"] and "--print-join-command" in argv:
                description = argv[argv.index("--description") + 1] if "--description" in argv else ""
                given = argv[3] if len(argv) > 3 and not argv[3].startswith("-") else None
                token = self.model.create_token(3600, description, given)
                cluster = self.model.cluster()
                endpoint = f"{self.fake.name}:6443"
                digest = cluster["caCertHash"]
                return f"kubeadm join {endpoint} --token {token} --discovery-token-ca-cert-hash {digest}\n"
            if argv[1:3] == ["token", "list"]:
                items = [
                    {"token": f"{k}.{v['secret']}", "description": v["description"]}
                    for k, v in self.model.tokens().items()
                ]
                return "".join(json.dumps(item) for item in items)
            if argv[1:4] == ["init", "phase", "upload-certs"]:  # an HA cluster's joins (kube.py)
                self.model.put_object("secrets", "kube-system/kubeadm-certs", {"uploaded": True})
                return '[upload-certs] Storing the certificates in Secret "kubeadm-certs"\n'
            if argv[1:3] == ["token", "delete"]:
                self.model.delete_token(argv[3].split(".")[0])
                return f"bootstrap token {argv[3]!r} deleted\n"
        except ModelError as exc:
            return 1, "", str(exc)
        return 127, "", f"kubeadm {' '.join(argv[1:])}: not simulated"

    def _kubectl(self, command: Command, _timeout: float | None) -> Reply:
        argv = _argv(command)[3:]  # drop kubectl --kubeconfig admin.conf
        try:
            if argv[:2] == ["get", "nodes"]:
                items = [node_object(n, v) for n, v in sorted(self.model.nodes().items())]
                return json.dumps({"kind": "List", "items": items})
            if argv[:2] == ["get", "secret"]:
                namespace = argv[argv.index("-n") + 1] if "-n" in argv else "default"
                found = self.model.objects("secrets").get(f"{namespace}/{argv[2]}")
                return json.dumps(found) if found else ""
            if argv[:3] == ["apply", "-f", "-"]:
                return self._apply(command)
        except ModelError as exc:
            return 1, "", str(exc)
        return 127, "", f"kubectl {' '.join(argv)}: not simulated"

    def _apply(self, command: Command) -> Reply:
        assert isinstance(command, PosixCommand) and command.stdin is not None
        manifest = json.loads(command.stdin)
        if manifest.get("type") != "kubernetes.io/service-account-token":
            return 1, "", "only service-account-token Secrets are simulated"
        account = manifest["metadata"]["annotations"]["kubernetes.io/service-account.name"]
        namespace = manifest["metadata"].get("namespace", "default")
        token = self.model.create_sa_token(namespace, account, 10 * 365 * 86400)
        secret = {**manifest, "data": {"token": base64.b64encode(token.encode()).decode()}}
        self.model.put_object("secrets", f"{namespace}/{manifest['metadata']['name']}", secret)
        return f"secret/{manifest['metadata']['name']} created\n"


class KubeadmInit(Step):
    """Stand-in for the Linux side's ``kubeadm-init``: initialises the model on the first control plane."""

    name: ClassVar[str] = "kubeadm-init"
    title: ClassVar[str] = "kubeadm init (simulated)"

    def __init__(self, control_plane: FakeControlPlane) -> None:
        self.control_plane = control_plane

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """The first control plane."""
        return host.name == cluster.first_control_plane.name

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Whether the model is initialised."""
        return [] if self.control_plane.model.read()["initialized"] else [Change("kubeadm init")]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Initialise."""
        self.control_plane.initialise(ctx.cluster)


class PodCidrs(Step):
    """Stand-in for the Linux side's ``pod-cidrs``: every node's podCIDR into the run state."""

    name: ClassVar[str] = "pod-cidrs"
    title: ClassVar[str] = "read pod CIDRs (simulated)"
    barrier: ClassVar[bool] = True

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """The first control plane."""
        return host.name == cluster.first_control_plane.name

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Read the Node objects (read-only)."""
        ctx.state.set(POD_CIDRS, {n: o["spec"]["podCIDR"] for n, o in nodes(ctx).items()})
        return []

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Nothing."""


class FlannelManifest(Step):
    """Stand-in for the Linux side's ``flannel`` (vxlan mode): what applying kube-flannel's manifest
    creates that the Windows side uses, the ServiceAccount ``kube-flannel/flannel``."""

    name: ClassVar[str] = "flannel"
    title: ClassVar[str] = "kube-flannel manifest (simulated)"

    def __init__(self, control_plane: FakeControlPlane) -> None:
        self.control_plane = control_plane

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """The first control plane of a vxlan-mode cluster."""
        return host.name == cluster.first_control_plane.name and cluster.spec.network.mode == "vxlan"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Whether the ServiceAccount exists."""
        found = FLANNEL_ACCOUNT in self.control_plane.model.objects("serviceaccounts")
        return [] if found else [Change("apply kube-flannel")]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Create it."""
        self.control_plane.model.put_object("serviceaccounts", FLANNEL_ACCOUNT, {})
