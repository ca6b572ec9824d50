"""``cluster-objects``: RuntimeClasses, inventory labels and taints on nodes, Linux-only system workloads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from ruamel.yaml import YAML

from hybridctl.render import RenderedFile, render_cluster
from hybridctl.render.context import WINDOWS_TAINT
from hybridctl.steps import kube
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.cluster import placement
from hybridctl.steps.cluster.common import ClusterStep
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.values import runtime_values

COREDNS = ("kube-system", "coredns")


@dataclass(frozen=True)
class Fix:
    """A difference in the cluster and the kubectl arguments (and stdin) that remove it."""

    change: Change
    args: tuple[str, ...]
    stdin: bytes | None = None


class ClusterObjects(ClusterStep):
    """Apply only what differs: RuntimeClasses, node labels and taints, Linux-only placement."""

    name: ClassVar[str] = "cluster-objects"
    title: ClassVar[str] = "create RuntimeClasses, label and taint nodes, keep Linux workloads off Windows"
    requires: ClassVar[tuple[str, ...]] = ("linux-pod-network", "windows-pod-network")

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """What differs in the cluster."""
        return [fix.change for fix in fixes(host, ctx)]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Apply the fixes found now."""
        for fix in fixes(host, ctx):
            if not fix.args:  # a difference that needs something the run does not know yet
                raise StepError(f"{host.name}: cannot {fix.change.summary}")
            kube.kubectl(host, *fix.args, stdin=fix.stdin)


def fixes(host: HostView, ctx: StepContext) -> list[Fix]:
    """Every difference between the cluster and what hybridctl wants (empty before ``kubeadm init``)."""
    if not kube.initialised(host):
        return [Fix(Change("create RuntimeClasses, labels and taints once the cluster exists"), ())]
    nodes = kube.nodes(ctx)
    found = [*_runtime_classes(host, ctx), *_labels(ctx, nodes), *_taints(ctx, nodes)]
    if ctx.cluster.windows_hosts:
        found += _placement(host)
    return found


def _runtime_classes(host: HostView, ctx: StepContext) -> list[Fix]:
    files = [f for f in render_cluster(ctx.cluster, runtime_values(ctx)) if f.purpose == "runtimeclass"]
    found = [fix for item in files if (fix := _runtime_class(host, item)) is not None]
    if any(item.placeholders for item in files):
        return found  # a wanted class whose name is not known yet: nothing can be judged stale
    wanted = {YAML(typ="safe").load(item.installable().decode())["metadata"]["name"] for item in files}
    return found + _stale_runtime_classes(host, wanted)


OWNER_LABEL = ("app.kubernetes.io/managed-by", "hybridctl")
"""The label every RuntimeClass hybridctl renders carries (templates/cluster/runtimeclass.yaml.j2)."""
OLD_HYPERV_CLASS = "windows-hyperv"
"""The one Hyper-V RuntimeClass for every Windows build that hybridctl made before it pinned one per build
(issue 14 item 9): a pod using it could land on a host of another build."""


def _stale_runtime_classes(host: HostView, wanted: set[str]) -> list[Fix]:
    """RuntimeClasses labelled as hybridctl's that the inventory no longer renders (the old
    ``windows-hyperv``, a build no Windows host runs any more, Hyper-V isolation switched off) are
    deleted; a RuntimeClass without hybridctl's label is someone else's and is left alone."""
    found = []
    key, owner = OWNER_LABEL
    for item in kube.kubectl_json(host, "get", "runtimeclasses")["items"]:
        name = item["metadata"]["name"]
        if name in wanted or (item["metadata"].get("labels") or {}).get(key) != owner:
            continue
        why = "no longer wanted by the inventory"
        if name == OLD_HYPERV_CLASS:
            why = "one Hyper-V class for every Windows build, replaced by windows-hyperv-<version>"
        change = Change(f"delete RuntimeClass {name} ({why})", impact="delete")
        found.append(Fix(change, ("delete", "runtimeclass", name, "--ignore-not-found")))
    return found


def _runtime_class(host: HostView, item: RenderedFile) -> Fix | None:
    if item.placeholders:
        return Fix(Change(f"create a RuntimeClass once {', '.join(item.placeholders)} is known"), ())
    wanted: dict[str, Any] = YAML(typ="safe").load(item.installable().decode())
    name = wanted["metadata"]["name"]
    out = kube.kubectl(host, "get", "runtimeclass", name, "--ignore-not-found", "-o", "json").stdout.strip()
    live = json.loads(out) if out else None
    if live is not None and _same_runtime_class(live, wanted):
        return None
    verb = "create" if live is None else "update"
    return Fix(Change(f"{verb} RuntimeClass {name}"), ("apply", "-f", "-"), json.dumps(wanted).encode())


def _same_runtime_class(live: dict[str, Any], wanted: dict[str, Any]) -> bool:
    labels = live.get("metadata", {}).get("labels") or {}
    same_labels = all(labels.get(k) == v for k, v in wanted["metadata"].get("labels", {}).items())
    return same_labels and all(live.get(k) == wanted.get(k) for k in ("handler", "scheduling", "overhead"))


LABELS_ANNOTATION = "hybridctl.io/inventory-labels"
"""The inventory label keys hybridctl last applied to a node, comma-separated: a key removed from the
inventory is then taken off the node by the next ``up`` (and labels set by others are left alone)."""


def _labels(ctx: StepContext, nodes: dict[str, dict[str, Any]]) -> list[Fix]:
    found = []
    for host in ctx.cluster.hosts:
        if host.name in nodes:
            found += _label_fixes(host.name, dict(host.labels), nodes[host.name].get("metadata", {}))
    return found


def _label_fixes(name: str, wanted: dict[str, str], metadata: dict[str, Any]) -> list[Fix]:
    live = metadata.get("labels") or {}
    owned = [k for k in str((metadata.get("annotations") or {}).get(LABELS_ANNOTATION, "")).split(",") if k]
    wrong = {k: v for k, v in sorted(wanted.items()) if live.get(k) != v}
    stale = sorted(k for k in owned if k not in wanted and k in live)
    found = []
    if wrong or stale:
        pairs = [f"{k}={v}" for k, v in wrong.items()] + [f"{k}-" for k in stale]
        args = ("label", "node", name, *pairs, "--overwrite")
        found.append(Fix(Change(f"label node {name}: {', '.join(pairs)}"), args))
    keys = ",".join(sorted(wanted))
    if sorted(owned) != sorted(wanted):
        value = f"{LABELS_ANNOTATION}={keys}" if keys else f"{LABELS_ANNOTATION}-"
        args = ("annotate", "node", name, value, "--overwrite")
        found.append(Fix(Change(f"record the inventory labels of node {name}: {keys or '(none)'}"), args))
    return found


def _taints(ctx: StepContext, nodes: dict[str, dict[str, Any]]) -> list[Fix]:
    found = []
    for host in ctx.cluster.hosts:
        wanted = [{"key": t.key, "value": t.value, "effect": t.effect} for t in host.taints]
        wanted = [*([dict(WINDOWS_TAINT)] if host.is_windows else []), *wanted]
        live = nodes.get(host.name, {}).get("spec", {}).get("taints") or []
        have = {(t.get("key"), t.get("value", ""), t.get("effect")) for t in live}
        missing = [t for t in wanted if (t["key"], t["value"], t["effect"]) not in have]
        if host.name in nodes and missing:
            specs = [
                f"{t['key']}={t['value']}:{t['effect']}" if t["value"] else f"{t['key']}:{t['effect']}"
                for t in missing
            ]
            args = ("taint", "node", host.name, *specs, "--overwrite")
            found.append(Fix(Change(f"taint node {host.name}: {', '.join(specs)}"), args))
    return found


def _placement(host: HostView) -> list[Fix]:
    found = []
    for item in kube.kubectl_json(host, "get", "daemonsets", "--all-namespaces")["items"]:
        if placement.needs_linux_only(item):
            found.append(_linux_only_fix("daemonset", item))
    out = kube.kubectl(
        host, "get", "deployment", COREDNS[1], "-n", COREDNS[0], "--ignore-not-found", "-o", "json"
    )
    if out.stdout.strip():
        coredns = json.loads(out.stdout)
        if placement.needs_linux_only(coredns, check_tolerations=False):
            found.append(_linux_only_fix("deployment", coredns))
    return found


def _linux_only_fix(kind: str, item: dict[str, Any]) -> Fix:
    namespace, name = item["metadata"]["namespace"], item["metadata"]["name"]
    args = ("patch", kind, name, "-n", namespace, "--type", "merge", "-p", placement.LINUX_ONLY_PATCH)
    return Fix(
        Change(f"restrict {kind} {namespace}/{name} to Linux nodes ({placement.OS_LABEL}: linux)"), args
    )
