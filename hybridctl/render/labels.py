"""Which node labels a kubelet may set on itself under the NodeRestriction admission plugin.

Mirrors ``IsKubeletLabel`` (k8s.io/kubelet/pkg/apis/well_known_labels.go) and NodeRestriction's rule that
a node may not set other labels in the ``kubernetes.io``/``k8s.io`` namespaces nor any
``node-restriction.kubernetes.io`` label. The rest must be applied through the API after the node joined.
"""

from __future__ import annotations

_KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
    }
)
_KUBELET_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
_RESTRICTED_NAMESPACES = ("kubernetes.io", "k8s.io")


def _namespace(key: str) -> str:
    return key.split("/", 1)[0] if "/" in key else ""


def _within(namespace: str, domain: str) -> bool:
    return namespace == domain or namespace.endswith("." + domain)


def kubelet_may_set(key: str) -> bool:
    """True when a kubelet may register with label ``key`` (``--node-labels``)."""
    namespace = _namespace(key)
    if _within(namespace, "node-restriction.kubernetes.io"):
        return False
    if key in _KUBELET_LABELS or any(_within(namespace, d) for d in _KUBELET_NAMESPACES):
        return True
    return not any(_within(namespace, d) for d in _RESTRICTED_NAMESPACES)


def split_labels(labels: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(labels the kubelet sets at registration, labels to apply through the API), keys sorted."""
    own = {k: labels[k] for k in sorted(labels) if kubelet_may_set(k)}
    api = {k: labels[k] for k in sorted(labels) if not kubelet_may_set(k)}
    return own, api
