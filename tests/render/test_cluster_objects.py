"""Cluster objects: RuntimeClasses per Windows build and for Hyper-V, and the flannel ConfigMap.

Tier: render. Real: Jinja2 and the templates, ruamel.yaml, kubernetes-validate (strict). Simulated:
nothing; the objects are not applied to an API server here.
"""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest

from hybridctl.errors import PlaceholderError, RenderError
from hybridctl.render import RuntimeValues, render_cluster
from tests.render import helpers

TOLERATION = {"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"}


def _objects(
    name: str, values: RuntimeValues | None = None, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    cluster = helpers.build(data) if data else helpers.inventory(name)
    files = render_cluster(cluster, values or RuntimeValues())
    return {f.relpath: helpers.yaml_doc(f) for f in files}


def test_one_runtime_class_per_windows_version_and_hyperv() -> None:
    objects = _objects("ha-vxlan")
    classes = {doc["metadata"]["name"]: doc for doc in objects.values() if doc["kind"] == "RuntimeClass"}
    assert list(classes) == ["windows-2019", "windows-2022", "windows-2025", "windows-hyperv"]
    for name, build in (
        ("windows-2019", "10.0.17763"),
        ("windows-2022", "10.0.20348"),
        ("windows-2025", "10.0.26100"),
    ):
        doc = classes[name]
        assert doc["handler"] == "runhcs-wcow-process"
        assert doc["scheduling"]["nodeSelector"] == {
            "kubernetes.io/os": "windows",
            "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/windows-build": build,
        }
        assert doc["scheduling"]["tolerations"] == [TOLERATION]
        kubernetes_validate.validate(doc, "1.37.0", strict=True)
    hyperv = classes["windows-hyperv"]
    assert hyperv["handler"] == "runhcs-wcow-hypervisor"
    assert "node.kubernetes.io/windows-build" not in hyperv["scheduling"]["nodeSelector"]
    assert hyperv["scheduling"]["tolerations"] == [TOLERATION]


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
