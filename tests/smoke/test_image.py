"""Unit tier: which image the smoke pods run (real: the inventory models and the rendered DaemonSets)."""

from __future__ import annotations

from typing import Any

import yaml

from hybridctl.inventory.models import Cluster
from hybridctl.render import RuntimeValues
from hybridctl.smoke.workloads import render_smoke, smoke_image


def _cluster(**spec: Any) -> Cluster:
    hosts = [{"name": "cp1", "address": "192.0.2.10", "role": "control-plane", "os": "linux"}]
    document = {"apiVersion": "hybridctl.io/v1alpha1", "kind": "Cluster", "metadata": {"name": "c"}}
    return Cluster.model_validate({**document, "spec": {"kubernetes": {}, "hosts": hosts, **spec}})


def _images(cluster: Cluster, override: str | None = None) -> set[str]:
    files = render_smoke(cluster, RuntimeValues(), smoke_image(cluster, override))
    docs = [d for f in files for d in yaml.safe_load_all(f.content)]
    return {
        c["image"]
        for d in docs
        if d["kind"] == "DaemonSet"
        for c in d["spec"]["template"]["spec"]["containers"]
    }


def test_default_is_upstream_agnhost_and_follows_image_repository() -> None:
    assert _images(_cluster()) == {"registry.k8s.io/e2e-test-images/agnhost:2.66.1"}
    mirrored = _cluster(kubernetes={"imageRepository": "mirror.example:5000/k8s"})
    assert _images(mirrored) == {"mirror.example:5000/k8s/e2e-test-images/agnhost:2.66.1"}


def test_inventory_image_then_command_line_win() -> None:
    pinned = "registry.k8s.io/e2e-test-images/agnhost:2.66.1@sha256:" + "0" * 64
    cluster = _cluster(kubernetes={"imageRepository": "mirror.example:5000/k8s"}, smoke={"image": pinned})
    assert _images(cluster) == {pinned}
    assert _images(cluster, "other.example/agnhost:2.66.1") == {"other.example/agnhost:2.66.1"}
