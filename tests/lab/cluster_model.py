"""The lab's simulated Kubernetes control plane: one JSON document under a file lock.

Shared by the simulated Linux toolchain (kubeadm/kubectl scripts running inside the Linux test hosts,
which see the lab directory at the same path) and the simulated Windows hosts (threads of the test
process). It keeps what a real control plane would: whether ``kubeadm init`` ran, bootstrap tokens with
expiry, ServiceAccount tokens, nodes with their pod CIDR allocated from the cluster CIDR by a
controller-manager-like allocator, and the handful of API objects hybridctl reads or writes.
Everything it is given is validated; anything it does not understand raises ``ModelError``.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
DEFAULT_TTL = 24 * 3600


class ModelError(Exception):
    """The simulated API server refuses a request."""


def _empty() -> dict[str, Any]:
    return {
        "initialized": False,
        "cluster": {},
        "tokens": {},
        "serviceAccountTokens": {},
        "nodes": {},
        "objects": {},
        "clock": 0.0,
        "log": [],
    }


class ClusterModel:
    """Access to the model file; every mutation happens inside ``edit()`` under an exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_suffix(".lock")

    @contextlib.contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        """Load, let the caller change, save atomically; serialised across processes."""
        with self._locked():
            doc = self._load()
            yield doc
            self._save(doc)

    def read(self) -> dict[str, Any]:
        """A snapshot of the model."""
        with self._locked():
            return self._load()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return _empty()

    def _save(self, doc: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".model.")
        with os.fdopen(fd, "w") as stream:
            json.dump(doc, stream, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    # --- control plane -------------------------------------------------------------------------

    def init(self, cluster: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
        """``kubeadm init``: record the cluster, create the CA and the default objects, register the node."""
        with self.edit() as doc:
            if doc["initialized"]:
                raise ModelError("the cluster is already initialised (kubeadm init ran before)")
            doc["initialized"] = True
            doc["cluster"] = {**cluster, **_ca_material()}
            doc["objects"] = _default_objects(cluster)
            _register(doc, node)
            return copy.deepcopy(doc["cluster"])

    def cluster(self) -> dict[str, Any]:
        """The cluster parameters; ModelError before init."""
        doc = self.read()
        if not doc["initialized"]:
            raise ModelError(
                "the connection to the server was refused - did you specify the right host or port?"
            )
        return doc["cluster"]  # type: ignore[no-any-return]

    # --- bootstrap tokens ----------------------------------------------------------------------

    def create_token(self, ttl: float = DEFAULT_TTL, description: str = "", token: str | None = None) -> str:
        """``kubeadm token create [TOKEN]``: a new bootstrap token (generated unless given)."""
        match = TOKEN_RE.match(token) if token else None
        if token and not match:
            raise ModelError(f"the bootstrap token {token!r} does not match [a-z0-9]{{6}}.[a-z0-9]{{16}}")
        token_id, secret = match.groups() if match else (secrets.token_hex(3), secrets.token_hex(8))
        with self.edit() as doc:
            _require_init(doc)
            if token_id in doc["tokens"]:
                raise ModelError(f'a token with id "{token_id}" already exists')
            doc["tokens"][token_id] = {
                "secret": secret,
                "expires": time.time() + ttl,
                "description": description,
            }
        return f"{token_id}.{secret}"

    def tokens(self) -> dict[str, dict[str, Any]]:
        """Unexpired bootstrap tokens by id (expired ones disappear, like the token cleaner does)."""
        now = time.time()
        return {k: v for k, v in self.read()["tokens"].items() if v["expires"] > now}

    def delete_token(self, token_id: str) -> None:
        """``kubeadm token delete``."""
        with self.edit() as doc:
            if token_id not in doc["tokens"]:
                raise ModelError(f'bootstrap token "{token_id}" not found')
            del doc["tokens"][token_id]

    def check_bootstrap_token(self, token: str) -> None:
        """Refuse a token that is malformed, unknown or expired."""
        match = TOKEN_RE.match(token)
        if not match:
            raise ModelError(f"the bootstrap token {token!r} does not match [a-z0-9]{{6}}.[a-z0-9]{{16}}")
        entry = self.tokens().get(match.group(1))
        if entry is None or entry["secret"] != match.group(2):
            raise ModelError("Unauthorized: the bootstrap token is unknown or expired")

    # --- service account tokens ----------------------------------------------------------------

    def create_sa_token(self, namespace: str, name: str, duration: float) -> str:
        """``kubectl create token``: a token for an existing ServiceAccount."""
        with self.edit() as doc:
            _require_init(doc)
            if f"{namespace}/{name}" not in doc["objects"].get("serviceaccounts", {}):
                raise ModelError(f'serviceaccounts "{name}" not found in namespace {namespace}')
            token = "eyJsaW1.ulated." + secrets.token_urlsafe(24)
            doc["serviceAccountTokens"][token] = {
                "namespace": namespace,
                "name": name,
                "expires": time.time() + duration,
            }
            return token

    def check_sa_token(self, token: str) -> str:
        """The ``namespace/name`` a valid ServiceAccount token belongs to."""
        entry = self.read()["serviceAccountTokens"].get(token)
        if entry is None or entry["expires"] < time.time():
            raise ModelError("Unauthorized: invalid or expired ServiceAccount token")
        return f"{entry['namespace']}/{entry['name']}"

    # --- nodes -----------------------------------------------------------------------------------

    def register(self, node: dict[str, Any]) -> dict[str, Any]:
        """A kubelet registers its Node; the allocator gives it a pod CIDR."""
        with self.edit() as doc:
            _require_init(doc)
            return copy.deepcopy(_register(doc, node))

    def nodes(self) -> dict[str, dict[str, Any]]:
        """Registered nodes by name."""
        return self.read()["nodes"]  # type: ignore[no-any-return]

    def set_ready(self, name: str, ready: bool) -> None:
        """Mark a node Ready (its kubelet and network came up) or NotReady."""
        with self.edit() as doc:
            _node(doc, name)["ready"] = ready

    def delete_node(self, name: str) -> None:
        """``kubectl delete node``: the pod CIDR goes back to the allocator."""
        with self.edit() as doc:
            _node(doc, name)
            del doc["nodes"][name]

    # --- other objects -----------------------------------------------------------------------------

    def objects(self, kind: str) -> dict[str, Any]:
        """API objects of one kind by ``namespace/name`` (or name for cluster-scoped kinds)."""
        return self.read()["objects"].get(kind, {})  # type: ignore[no-any-return]

    def put_object(self, kind: str, key: str, obj: dict[str, Any]) -> bool:
        """Create or replace an object; True when it changed."""
        with self.edit() as doc:
            _require_init(doc)
            store = doc["objects"].setdefault(kind, {})
            changed = store.get(key) != obj
            store[key] = obj
            return changed

    def revoke_sa_token(self, token: str) -> None:
        """The token is no longer valid (its Secret was deleted)."""
        with self.edit() as doc:
            doc["serviceAccountTokens"].pop(token, None)

    def delete_object(self, kind: str, key: str) -> bool:
        """Delete an object; True when it existed."""
        with self.edit() as doc:
            return doc["objects"].get(kind, {}).pop(key, None) is not None

    # --- additions for the simulated Linux toolchain (tests/lab/linux_sim) -------------------------

    def update_node(self, name: str, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into a registered node's entry (labels, taints, unschedulable, ready...)."""
        with self.edit() as doc:
            node = _node(doc, name)
            node.update(copy.deepcopy(fields))
            return copy.deepcopy(node)

    def reset(self) -> None:
        """The control plane's state is gone (``kubeadm reset`` on the node that ran ``kubeadm init``)."""
        with self.edit() as doc:
            doc.clear()
            doc.update(_empty())


def node_object(entry: dict[str, Any]) -> dict[str, Any]:
    """A registered node's entry as the v1 Node object ``kubectl get node -o json`` prints."""
    ready = bool(entry.get("ready"))
    spec: dict[str, Any] = {"taints": copy.deepcopy(entry.get("taints") or [])}
    if entry.get("podCIDR"):
        spec["podCIDR"] = entry["podCIDR"]
        spec["podCIDRs"] = [entry["podCIDR"]]
    if entry.get("unschedulable"):
        spec["unschedulable"] = True
    condition = {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "KubeletReady" if ready else "KubeletNotReady",
        "message": entry.get("readyMessage") or ("kubelet is posting ready status" if ready else "not ready"),
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": entry["name"],
            "labels": copy.deepcopy(entry.get("labels") or {}),
            "annotations": copy.deepcopy(entry.get("annotations") or {}),
        },
        "spec": spec,
        "status": {
            "conditions": [condition],
            "addresses": [{"type": "InternalIP", "address": entry.get("address", "")}],
            "nodeInfo": {
                "kubeletVersion": entry.get("kubeletVersion", ""),
                "operatingSystem": entry.get("os", ""),
            },
        },
    }


def _require_init(doc: dict[str, Any]) -> None:
    if not doc["initialized"]:
        raise ModelError("The connection to the server was refused - did you specify the right host or port?")


def _node(doc: dict[str, Any], name: str) -> dict[str, Any]:
    try:
        return doc["nodes"][name]  # type: ignore[no-any-return]
    except KeyError:
        raise ModelError(f'nodes "{name}" not found') from None


def _register(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    name = node["name"]
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name):
        raise ModelError(f"node name {name!r} is not a lowercase RFC 1123 name")
    existing = doc["nodes"].get(name)
    cidr = existing["podCIDR"] if existing else _allocate(doc)
    doc["nodes"][name] = {"ready": False, **node, "podCIDR": cidr, "registered": time.time()}
    return doc["nodes"][name]  # type: ignore[no-any-return]


def _allocate(doc: dict[str, Any]) -> str | None:
    cluster = doc["cluster"]
    if not cluster.get("podSubnet"):
        return None  # kube-controller-manager runs without --allocate-node-cidrs: nodes get no pod CIDR
    net = ipaddress.ip_network(cluster["podSubnet"])
    used = {n["podCIDR"] for n in doc["nodes"].values() if n.get("podCIDR")}
    for subnet in net.subnets(new_prefix=int(cluster.get("nodeCidrMaskSize", 24))):
        if str(subnet) not in used:
            return str(subnet)
    raise ModelError(f"CIDR allocation failed: no free /{cluster.get('nodeCidrMaskSize', 24)} left in {net}")


def _ca_material() -> dict[str, Any]:
    body = secrets.token_bytes(48)
    pem = "-----BEGIN CERTIFICATE-----\n" + body.hex() + "\n-----END CERTIFICATE-----\n"
    return {"caCert": pem, "caCertHash": "sha256:" + hashlib.sha256(body).hexdigest()}


def _default_objects(cluster: dict[str, Any]) -> dict[str, Any]:
    """What kubeadm init creates that hybridctl looks at."""
    linux = {"kubernetes.io/os": "linux"}
    return {
        "serviceaccounts": {"kube-system/kube-proxy": {}, "kube-system/coredns": {}},
        "daemonsets": {
            "kube-system/kube-proxy": {"spec": {"template": {"spec": {"nodeSelector": dict(linux)}}}},
        },
        "deployments": {
            "kube-system/coredns": {"spec": {"template": {"spec": {"nodeSelector": dict(linux)}}}},
        },
        "configmaps": {
            "kube-system/kubeadm-config": {"data": {"ClusterConfiguration": cluster}},
            "kube-public/cluster-info": {"data": {"kubeconfig": "(the lab's cluster CA and endpoint)"}},
        },
        "runtimeclasses": {},
    }
