"""Cluster objects: RuntimeClasses per Windows build and for Hyper-V, and flannel's objects (vxlan).

Tier: render. Real: Jinja2 and the templates, ruamel.yaml, kubernetes-validate (strict), and flannel's own
``Documentation/kube-flannel.yml`` of the pinned release, read from the Go module cache (the module the
upstream validators build). Simulated: nothing; the objects are not applied to an API server here.
"""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from hybridctl.errors import PlaceholderError, RenderError
from hybridctl.render import RuntimeValues, render_cluster
from hybridctl.versions import FLANNEL_VERSION
from tests.render import helpers
from tests.support.upstream import module_source

TOLERATION = {"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}


def _objects(
    name: str, values: RuntimeValues | None = None, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    cluster = helpers.build(data) if data else helpers.inventory(name)
    files = render_cluster(cluster, values or RuntimeValues())
    return {f.relpath: helpers.yaml_doc(f) for f in files if f.purpose != "flannel"}


def _flannel_objects(name: str) -> list[Any]:
    """The documents of the multi-document kube-flannel file (empty when not rendered)."""
    files = render_cluster(helpers.inventory(name), RuntimeValues())
    return [doc for f in files if f.purpose == "flannel" for doc in helpers.yaml_docs(f)]


def test_one_runtime_class_per_windows_version_and_hyperv() -> None:
    objects = _objects("ha-vxlan")
    classes = {doc["metadata"]["name"]: doc for doc in objects.values() if doc["kind"] == "RuntimeClass"}
    assert list(classes) == [
        "windows-2019",
        "windows-2022",
        "windows-2025",
        "windows-hyperv-2019",
        "windows-hyperv-2022",
        "windows-hyperv-2025",
    ]
    for version, build in (("2019", "10.0.17763"), ("2022", "10.0.20348"), ("2025", "10.0.26100")):
        for name, handler in (
            (f"windows-{version}", "runhcs-wcow-process"),
            (f"windows-hyperv-{version}", "runhcs-wcow-hypervisor"),
        ):
            doc = classes[name]
            assert doc["handler"] == handler
            # Issue 14 defect 9: Hyper-V classes pin the build too, so a 2022 image never lands on 2019.
            assert doc["scheduling"]["nodeSelector"] == {
                "kubernetes.io/os": "windows",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/windows-build": build,
            }
            assert doc["scheduling"]["tolerations"] == [TOLERATION]
            kubernetes_validate.validate(doc, "1.37.0", strict=True)


def test_two_hosts_of_one_version_share_a_class_and_no_hyperv_class_unless_offered() -> None:
    objects = _objects("example")
    assert list(objects) == ["cluster/runtimeclass-windows-2022.yaml"]


def test_build_from_runtime_values_or_placeholder() -> None:
    data = helpers.cluster_data("example")
    for host in data["spec"]["hosts"][2:]:
        del host["windowsVersion"]
    cluster = helpers.build(data)
    files = render_cluster(cluster, RuntimeValues(windows_builds={"win1": "10.0.26100"}))
    names = [f.relpath for f in files]
    assert names == [
        "cluster/runtimeclass-windows-2025.yaml",
        "cluster/runtimeclass-windows-build-of-win2.yaml",
    ]
    assert files[0].placeholders == ()
    assert files[1].placeholders == ("windows-build/win2",)
    with pytest.raises(PlaceholderError, match="windows-build/win2"):
        files[1].installable()


def test_unknown_or_conflicting_builds_are_refused() -> None:
    data = helpers.cluster_data("example")
    del data["spec"]["hosts"][2]["windowsVersion"]
    cluster = helpers.build(data)
    with pytest.raises(RenderError, match=r"build 10\.0\.19041"):
        render_cluster(cluster, RuntimeValues(windows_builds={"win1": "10.0.19041"}))
    with pytest.raises(RenderError, match="windowsVersion 2022"):
        render_cluster(helpers.inventory("example"), RuntimeValues(windows_builds={"win1": "10.0.17763"}))


def test_flannel_configmap_in_vxlan_mode_only() -> None:
    doc = _objects("ha-vxlan")["cluster/kube-flannel-cfg.yaml"]
    assert (doc["kind"], doc["metadata"]["name"], doc["metadata"]["namespace"]) == (
        "ConfigMap",
        "kube-flannel-cfg",
        "kube-flannel",
    )
    net_conf = json.loads(doc["data"]["net-conf.json"])
    assert net_conf == {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 4096, "Port": 4789}}
    assert "DirectRouting" not in doc["data"]["net-conf.json"] and "GBP" not in doc["data"]["net-conf.json"]
    assert json.loads(doc["data"]["cni-conf.json"])["plugins"][0]["type"] == "flannel"
    assert not [k for k in _objects("example") if "flannel" in k]


def test_linux_only_cluster_has_no_runtime_classes() -> None:
    data = helpers.cluster_data("example")
    data["spec"]["hosts"] = data["spec"]["hosts"][:2]
    assert _objects("", data=data) == {}


def _upstream_flannel_manifest() -> dict[tuple[str, str], Any]:
    """flannel's own kube-flannel.yml of the release hybridctl pins, by (kind, name)."""
    source = module_source("github.com/flannel-io/flannel", FLANNEL_VERSION)
    path = source / "Documentation" / "kube-flannel.yml"
    docs = YAML(typ="safe", pure=True).load_all(path.read_text())
    return {(d["kind"], d["metadata"]["name"]): d for d in docs if d}


def test_flannel_objects_are_upstreams_with_a_linux_node_selector() -> None:
    """The namespace, RBAC, ServiceAccount and DaemonSet are flannel's own manifest of the pinned release
    (same rules, images, commands, arguments, capabilities, probes and volumes); the one intended
    difference is the ``kubernetes.io/os: linux`` nodeSelector in place of upstream's equivalent node
    affinity. Every object is valid for the Kubernetes API (strict schema)."""
    ours = {(d["kind"], d["metadata"]["name"]): d for d in _flannel_objects("ha-vxlan")}
    upstream = _upstream_flannel_manifest()
    assert set(ours) == set(upstream) - {("ConfigMap", "kube-flannel-cfg")}
    for key, doc in ours.items():
        kubernetes_validate.validate(doc, "1.37.0", strict=True)
        theirs = upstream[key]
        labels = {k: v for k, v in doc["metadata"]["labels"].items() if k != "app.kubernetes.io/managed-by"}
        assert labels == theirs["metadata"]["labels"], key
        for field in ("rules", "roleRef", "subjects"):
            assert doc.get(field) == theirs.get(field), (key, field)
    pod, theirs_pod = (
        ours[("DaemonSet", "kube-flannel-ds")]["spec"]["template"]["spec"],
        upstream[("DaemonSet", "kube-flannel-ds")]["spec"]["template"]["spec"],
    )
    assert pod.pop("nodeSelector") == {"kubernetes.io/os": "linux"}
    affinity = theirs_pod.pop("affinity")["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert affinity["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}
    ]
    assert pod == theirs_pod


def test_flannel_objects_in_vxlan_mode_only() -> None:
    """A routes-mode cluster gets no flannel object at all."""
    assert not [k for k in _objects("example") if "flannel" in k] and not _flannel_objects("example")
    assert _flannel_objects("ha-vxlan")
