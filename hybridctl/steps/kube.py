"""The cluster seen from the first control plane: kubectl and kubeadm there, join credentials, tokens.

Every command runs on the first control-plane host over its connection (``kubectl --kubeconfig
/etc/kubernetes/admin.conf``), so the admin's machine needs neither kubectl nor a route to the API.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from hybridctl.commands import posix
from hybridctl.inventory.models import Cluster
from hybridctl.steps.base import StepError
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.values import CERTIFICATE_KEY, FLANNEL_TOKEN, JOIN, KUBE_PROXY_TOKEN
from hybridctl.transport.base import Result
from hybridctl.versions import KubeVersion

ADMIN_CONF = "/etc/kubernetes/admin.conf"
CA_CERT = "/etc/kubernetes/pki/ca.crt"
TOKEN_DESCRIPTION = "hybridctl join token"  # noqa: S105 - a label, not a secret
TOKEN_TTL = "1h"  # noqa: S105
KUBE_PROXY_SECRET = "hybridctl-kube-proxy"  # noqa: S105 - an object name
FLANNEL_SECRET = "hybridctl-flannel"  # noqa: S105 - an object name
KUBE_PROXY_ROTATED = "kube-proxy-token-rotated"  # a RunState key
_JOIN_RE = re.compile(
    r"kubeadm join (\S+) --token (\S+) --discovery-token-ca-cert-hash (sha256:[0-9a-f]{64})"
)
_READ_VERBS = {"get", "version", "api-resources", "auth"}


def api_endpoint(cluster: Cluster) -> str:
    """host:port of the API server as nodes reach it."""
    endpoint = cluster.spec.kubernetes.control_plane_endpoint
    return endpoint if endpoint else f"{cluster.first_control_plane.address}:6443"


def control_plane_view(ctx: StepContext) -> HostView:
    """Read-only access to the first control plane."""
    return ctx.view(ctx.cluster.first_control_plane.name)


def control_plane_handle(ctx: StepContext) -> HostHandle:
    """Full access to the first control plane (refused while planning)."""
    return ctx.handle(ctx.cluster.first_control_plane.name)


def kubectl(
    host: HostView,
    *args: str,
    stdin: bytes | None = None,
    check: bool = True,
    sensitive: bool = False,
    timeout: float | None = None,
) -> Result:
    """``kubectl --kubeconfig admin.conf ARGS`` on a control-plane host; reads are probes.

    ``sensitive``: the output holds credentials (a Secret), so the logs must not keep it.
    """
    probe = bool(args) and args[0] in _READ_VERBS and stdin is None
    command = posix(
        "kubectl", "--kubeconfig", ADMIN_CONF, *args, probe=probe, stdin=stdin, sensitive=sensitive
    )
    return host.run(command, check=check, timeout=timeout)


def kubectl_json(host: HostView, *args: str) -> Any:
    """Parsed ``kubectl ... -o json``."""
    return json.loads(kubectl(host, *args, "-o", "json").stdout)


def server_version(host: HostView) -> KubeVersion:
    """The API server's release, from its ``/version`` endpoint."""
    document = json.loads(kubectl(host, "get", "--raw", "/version").stdout)
    return KubeVersion.parse(str(document["gitVersion"]).split("+", 1)[0].split("-", 1)[0])


def initialised(host: HostView) -> bool:
    """Whether ``kubeadm init`` has run on this host (its admin kubeconfig exists)."""
    return host.run(posix("test", "-s", ADMIN_CONF, probe=True), check=False).ok


def nodes(ctx: StepContext) -> dict[str, dict[str, Any]]:
    """Registered Node objects by name; empty before ``kubeadm init``."""
    view = control_plane_view(ctx)
    if not initialised(view):
        return {}
    return {item["metadata"]["name"]: item for item in kubectl_json(view, "get", "nodes")["items"]}


def is_ready(node: dict[str, Any]) -> bool:
    """The Node's Ready condition is True."""
    conditions = node.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@dataclass(frozen=True)
class JoinCredentials:
    """What a node needs to join: a short-lived bootstrap token and the CA (a control plane joining an HA
    cluster also needs the key from ``certificate_key(ctx)``)."""

    endpoint: str
    token: SecretStr
    token_id: str
    ca_cert_hash: str
    ca_certificate: str


def join_credentials(ctx: StepContext) -> JoinCredentials:
    """This run's join credentials, created once on the first control plane by whichever step asks first."""
    credentials: JoinCredentials = ctx.state.setdefault(JOIN, lambda: _create_credentials(ctx))
    return credentials


def _create_credentials(ctx: StepContext) -> JoinCredentials:
    host = control_plane_handle(ctx)
    # Generated here and registered with the masker before kubeadm prints it: the transport logs a
    # command's output as soon as it ends, so a token learned from that output would reach the log.
    token = f"{secrets.token_hex(3)}.{secrets.token_hex(8)}"
    ctx.masker.add(token)
    create = ("kubeadm", "token", "create", token, "--ttl", TOKEN_TTL, "--description", TOKEN_DESCRIPTION)
    match = _JOIN_RE.search(host.run(posix(*create, "--print-join-command")).stdout)
    if not match or match.group(2) != token:
        raise StepError(f"{host.name}: kubeadm token create printed no join command for the token")
    ca = host.get(CA_CERT)
    if ca is None:
        raise StepError(f"{host.name}: {CA_CERT} is missing although kubeadm init ran")
    return JoinCredentials(
        api_endpoint(ctx.cluster),
        SecretStr(token),
        token.split(".", maxsplit=1)[0],
        match.group(3),
        ca.decode(),
    )


def certificate_key(ctx: StepContext) -> SecretStr:
    """This run's certificate key, for control planes joining: the control-plane certificates are uploaded
    once per run, and only when one joins (kubeadm deletes them after 2 h)."""
    key: SecretStr = ctx.state.setdefault(CERTIFICATE_KEY, lambda: _upload_certificates(ctx))
    return key


def _upload_certificates(ctx: StepContext) -> SecretStr:
    host = control_plane_handle(ctx)
    key = secrets.token_hex(32)  # what kubeadm certs certificate-key prints; masked before kubeadm echoes it
    ctx.masker.add(key)
    host.run(posix("kubeadm", "init", "phase", "upload-certs", "--upload-certs", "--certificate-key", key))
    return SecretStr(key)


def hybridctl_tokens(host: HostView) -> list[str]:
    """Ids of bootstrap tokens hybridctl created (by their description), expired or not."""
    # the listing holds whole tokens, kubeadm init's own among them, which hybridctl cannot mask
    out = host.run(posix("kubeadm", "token", "list", "-o", "json", probe=True, sensitive=True)).stdout
    ids = []
    for document in _json_stream(out):
        if document.get("description") == TOKEN_DESCRIPTION:
            ids.append(str(document["token"]).split(".")[0])
    return ids


def _json_stream(text: str) -> list[dict[str, Any]]:
    """kubeadm prints one JSON document per token, back to back."""
    decoder, position, found = json.JSONDecoder(), 0, []
    text = text.strip()
    while position < len(text):
        document, end = decoder.raw_decode(text, position)
        found.append(document)
        position = end
        while position < len(text) and text[position].isspace():
            position += 1
    return found


@dataclass(frozen=True)
class TokenSecret:
    """A legacy ``kubernetes.io/service-account-token`` Secret hybridctl keeps for a ServiceAccount whose
    agent runs outside a pod (Windows kube-proxy and flanneld): the token lives as long as the Secret."""

    namespace: str
    account: str
    name: str

    def manifest(self) -> str:
        """The Secret object, as JSON (the token controller fills in the token)."""
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/service-account-token",
                "metadata": {
                    "name": self.name,
                    "namespace": self.namespace,
                    "annotations": {"kubernetes.io/service-account.name": self.account},
                    "labels": {"app.kubernetes.io/managed-by": "hybridctl"},
                },
            }
        )


KUBE_PROXY = TokenSecret("kube-system", "kube-proxy", KUBE_PROXY_SECRET)
FLANNEL = TokenSecret("kube-flannel", "flannel", FLANNEL_SECRET)
"""kube-flannel/flannel: the ServiceAccount of flannel's own manifest (the kube-flannel objects)."""


def kube_proxy_token(ctx: StepContext) -> SecretStr:
    """A long-lived kube-system/kube-proxy token for Windows kube-proxy (a service-account-token Secret).

    With ``--rotate-kube-proxy-token`` the first apply that needs it replaces the Secret once per run (the
    plan phase may already have read the old token) and every later step renders the new one.
    """
    if ctx.options.get("rotate_kube_proxy_token") and not ctx.read_only:
        token: SecretStr = ctx.state.setdefault(
            KUBE_PROXY_ROTATED, lambda: _token(ctx, KUBE_PROXY, rotate=True)
        )
        ctx.state.set(KUBE_PROXY_TOKEN, token)
        return token
    token = ctx.state.setdefault(KUBE_PROXY_TOKEN, lambda: _token(ctx, KUBE_PROXY))
    return token


def flannel_token(ctx: StepContext) -> SecretStr:
    """A long-lived kube-flannel/flannel token for Windows flanneld (vxlan mode)."""
    token: SecretStr = ctx.state.setdefault(FLANNEL_TOKEN, lambda: _token(ctx, FLANNEL))
    return token


def _token(ctx: StepContext, secret: TokenSecret, *, rotate: bool = False) -> SecretStr:
    host = control_plane_handle(ctx) if not ctx.read_only else control_plane_view(ctx)
    if rotate and isinstance(host, HostHandle):
        # Rotation: the legacy token Secret is deleted (its token stops being valid) and created again;
        # the token controller issues a new one, which every Windows node of this run then gets. Running
        # kube-proxies keep their HNS load balancers, so Services keep working while they restart.
        old = _read_secret_token(host, secret)
        if old is not None:
            ctx.masker.add(old)
        kubectl(host, "delete", "secret", secret.name, "-n", secret.namespace, "--ignore-not-found")
    token = _read_secret_token(host, secret)
    if token is None and isinstance(host, HostHandle):
        kubectl(host, "apply", "-f", "-", stdin=secret.manifest().encode())
        token = _wait_for_secret_token(host, secret)
    if token is None:
        raise StepError(f"the Secret {secret.namespace}/{secret.name} has no token yet")
    ctx.masker.add(token)
    return SecretStr(token)


def _read_secret_token(host: HostView, secret: TokenSecret) -> str | None:
    args = ("get", "secret", secret.name, "-n", secret.namespace, "--ignore-not-found", "-o", "json")
    out = kubectl(host, *args, sensitive=True).stdout.strip()
    if not out:
        return None
    data = json.loads(out).get("data", {}).get("token")
    return base64.b64decode(data).decode() if data else None


def _wait_for_secret_token(host: HostView, secret: TokenSecret, attempts: int = 20) -> str | None:
    for _ in range(attempts):
        token = _read_secret_token(host, secret)
        if token:
            return token
        time.sleep(0.5)  # the token controller fills the Secret asynchronously
    return None
