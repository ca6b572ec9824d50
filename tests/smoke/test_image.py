"""Unit tier: which image the smoke pods run, and the name the nodes pull it under.

Real: the inventory models, the rendered DaemonSets, and containerd 2.4's CRI naming (distribution/
reference ``ParseDockerRef``, run by the containerd-2 upstream validator, built from its Go module)."""

from __future__ import annotations

from typing import Any

import yaml

from hybridctl.inventory.models import Cluster
from hybridctl.render import RuntimeValues
from hybridctl.smoke.workloads import render_smoke, smoke_image
from hybridctl.steps.smoke_image import pull_ref
from tests.support.upstream import Check, Validators


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
    """Pinned by the digest Kubernetes' promoter published for agnhost 2.63.0 (kubernetes/k8s.io images.yaml);
    a mirror under imageRepository keeps the path and the digest."""
    promoted = "2.63.0@sha256:a62f40481e05709988fe44e5035b2e0f553cd52bf0ae4e83614928255b00e8c1"
    assert _images(_cluster()) == {f"registry.k8s.io/e2e-test-images/agnhost:{promoted}"}
    mirrored = _cluster(kubernetes={"imageRepository": "mirror.example:5000/k8s"})
    assert _images(mirrored) == {f"mirror.example:5000/k8s/e2e-test-images/agnhost:{promoted}"}


def test_inventory_image_then_command_line_win() -> None:
    pinned = "registry.k8s.io/e2e-test-images/agnhost:2.66.1@sha256:" + "0" * 64
    cluster = _cluster(kubernetes={"imageRepository": "mirror.example:5000/k8s"}, smoke={"image": pinned})
    assert _images(cluster) == {pinned}
    assert _images(cluster, "other.example/agnhost:2.66.1") == {"other.example/agnhost:2.66.1"}


REFS = (
    "agnhost",
    "agnhost:2.63.0",
    "e2e/agnhost",
    "docker.io/agnhost",
    "index.docker.io/e2e/agnhost:1",
    "localhost/agnhost",
    "localhost:5000/e2e/agnhost:2.63.0",
    "Mirror/agnhost:1",
    "mirror.example:5000/k8s/e2e-test-images/agnhost",
    f"registry.k8s.io/e2e-test-images/agnhost:2.63.0@sha256:{'a' * 64}",
    f"mirror.example/agnhost@sha256:{'b' * 64}",
)


def test_nodes_pull_the_smoke_image_under_the_name_the_cri_gives_it(upstream_validators: Validators) -> None:
    """The pre-pull (ctr on Linux, crictl on Windows) stores the image under ``pull_ref``; the kubelet finds
    it only if that is the CRI's own name for the pod's image. Judged by containerd's code for every shape
    of reference (Docker Hub short names, a registry port, localhost, no tag, tag and digest)."""
    checks = [Check("cri-image-ref", None, "spec.smoke.image", data=ref) for ref in REFS]
    verdicts = upstream_validators.judge(checks, "1.37", 2)
    assert all(v.ok for v in verdicts), [v.describe() for v in verdicts if not v.ok]
    ours = {ref: pull_ref(_cluster(smoke={"image": ref})) for ref in REFS}
    assert ours == {v.check.data: v.detail for v in verdicts}
