"""Runtime values (pod CIDRs, join credentials, tokens) as the run has learned them, for rendering.

Keys of ``RunState`` that steps share (documented here, the one place they are defined):

* ``pod-cidrs``: ``dict[node name, CIDR]`` read from the Node objects (``node.spec.podCIDR``).
* ``join``: ``JoinCredentials`` created once per run on the first control plane (see ``steps/kube.py``).
* ``certificate-key``: ``SecretStr``, the key of the control-plane certificates uploaded once per run on the
  first control plane when another control plane joins (HA; see ``steps/kube.py``).
* ``kube-proxy-token``: ``SecretStr``, the kube-system/kube-proxy ServiceAccount token of Windows nodes.
* ``flannel-token``: ``SecretStr``, the kube-flannel/flannel ServiceAccount token of Windows flanneld (vxlan).
* ``source-vips``: ``dict[node name, IP]`` kube-proxy's source VIP per Windows node, read from the node's
  host-local IPAM store (vxlan).
* ``windows-builds``: ``dict[node name, "10.0.NNNNN"]`` probed by the Windows preflight.
* ``facts/<host>``: ``dict`` of facts a host's preflight probed (OS family, build, ...).
* ``departing``: ``frozenset`` of host names ``down`` removes (see ``StepContext.members``).
* ``joining``: ``frozenset`` of host names ``add-node`` joins (empty for ``down NAME``), ``None`` for ``up``.
* ``absent``: ``frozenset`` of inventory hosts that are not nodes and not joined by this run (``pod-cidrs``).
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from hybridctl.render import RuntimeValues
from hybridctl.steps.context import StepContext

POD_CIDRS = "pod-cidrs"
JOIN = "join"
CERTIFICATE_KEY = "certificate-key"
KUBE_PROXY_TOKEN = "kube-proxy-token"  # noqa: S105 - a RunState key
WINDOWS_BUILDS = "windows-builds"
FLANNEL_TOKEN = "flannel-token"  # noqa: S105 - a RunState key
SOURCE_VIPS = "source-vips"


def facts_key(host: str) -> str:
    """RunState key of a host's probed facts."""
    return f"facts/{host}"


def runtime_values(ctx: StepContext) -> RuntimeValues:
    """RuntimeValues from RunState; what is not known yet stays a placeholder."""
    join: Any = ctx.state.get(JOIN)
    token: SecretStr | None = ctx.state.get(KUBE_PROXY_TOKEN)
    flannel: SecretStr | None = ctx.state.get(FLANNEL_TOKEN)
    return RuntimeValues(
        pod_cidrs=dict(ctx.state.get(POD_CIDRS, {})),
        bootstrap_token=join.token if join else None,
        ca_cert_hash=join.ca_cert_hash if join else None,
        ca_certificate=join.ca_certificate if join else None,
        kube_proxy_token=token,
        certificate_key=ctx.state.get(CERTIFICATE_KEY),
        windows_builds=dict(ctx.state.get(WINDOWS_BUILDS, {})),
        flannel_token=flannel,
        source_vips=dict(ctx.state.get(SOURCE_VIPS, {})),
    )
