"""``spec.kubernetes.imageRepository``: kubeadm's ClusterConfiguration and every image hybridctl names.

Tier: render (+ upstream). Real: Jinja2 and the templates, ruamel.yaml, tomllib; for the image list, the
real ``kubeadm config images list`` built from the pinned k8s.io/kubernetes module of each minor (see
tests/support/upstream.py). Simulated: nothing. Without the key every rendered file stays as before (the
golden files in tests/golden are rendered without it and still match).
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from hybridctl.render import RuntimeValues, render_all, render_host
from hybridctl.versions import PAUSE_TAG, RELEASES, KubeVersion, kubeadm_images
from tests.render import helpers
from tests.support.upstream import Validators

REPO = "10.231.5.1:5000/k8s"


def _data(containerd: str = "2.4.2", version: str = "1.37.2", **containerd_keys: str) -> dict[str, Any]:
    data = helpers.cluster_data("example")
    data["spec"]["kubernetes"]["imageRepository"] = REPO
    data["spec"]["kubernetes"]["version"] = version
    data["spec"]["containerd"] = {"version": containerd, **containerd_keys}
    return data


def _sandbox(doc: dict[str, Any]) -> str:
    plugins = doc["plugins"]
    if "io.containerd.grpc.v1.cri" in plugins:
        image: str = plugins["io.containerd.grpc.v1.cri"]["sandbox_image"]
    else:
        image = plugins["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"]
    return image


@pytest.mark.parametrize(("containerd", "version"), [("2.4.2", "1.37.2"), ("1.7.28", "1.35.10")])
def test_kubeadm_and_both_sandboxes_use_the_repository(containerd: str, version: str) -> None:
    """init's ClusterConfiguration names the repository; join has no such field (kubeadm reads the cluster's
    kubeadm-config ConfigMap); Linux and Windows containerd pin <repo>/pause:<PAUSE_TAG>."""
    cluster = helpers.build(_data(containerd, version))
    values = RuntimeValues()
    init = helpers.yaml_docs(helpers.one(render_host(cluster, cluster.host("cp1"), values), "cp1", ".yaml"))
    assert init[1]["kind"] == "ClusterConfiguration"
    assert init[1]["imageRepository"] == REPO
    worker = render_host(cluster, cluster.host("lin1"), values)
    (join,) = helpers.yaml_docs(helpers.one(worker, "lin1", ".yaml"))
    assert "imageRepository" not in join
    for host in ("cp1", "win1"):
        config = helpers.one(render_host(cluster, cluster.host(host), values), host, "config.toml")
        assert _sandbox(helpers.toml_doc(config)) == f"{REPO}/pause:{PAUSE_TAG}"


def test_an_explicit_pause_image_wins() -> None:
    cluster = helpers.build(_data(pauseImage="mirror.example/sandbox/pause:3.10.2"))
    config = helpers.one(render_host(cluster, cluster.host("win1"), RuntimeValues()), "win1", "config.toml")
    assert _sandbox(helpers.toml_doc(config)) == "mirror.example/sandbox/pause:3.10.2"


def test_without_the_key_nothing_changes() -> None:
    """Leaving imageRepository out renders byte for byte what an inventory without it rendered before."""
    plain = helpers.inventory("example")
    data = helpers.cluster_data("example")
    data["spec"]["containerd"].pop("pauseImage")
    defaulted = helpers.build(data)
    before = {f.relpath: f.content for f in render_all(plain, RuntimeValues())}
    after = {f.relpath: f.content for f in render_all(defaulted, RuntimeValues())}
    assert before == after
    raw = [c if isinstance(c, bytes) else c.encode() for c in before.values()]
    assert not any(b"imageRepository" in content for content in raw)


@pytest.mark.parametrize("minor", [r.minor for r in RELEASES])
@pytest.mark.parametrize("repository", [REPO, None])
def test_kubeadm_asks_for_the_images_hybridctl_documents(
    minor: int, repository: str | None, upstream_validators: Validators, tmp_path: Any
) -> None:
    """The real kubeadm of each minor lists, for the rendered init config, exactly ``kubeadm_images``
    (CoreDNS is <repo>/coredns with a custom repository, registry.k8s.io/coredns/coredns without)."""
    release = next(r for r in RELEASES if r.minor == minor)
    data = _data(release.containerd_default, release.newest)
    if repository is None:
        del data["spec"]["kubernetes"]["imageRepository"]
    cluster = helpers.build(data)
    init = helpers.one(render_all(cluster, helpers.assume("example")), "cp1", ".yaml")
    path = tmp_path / "init.yaml"
    path.write_text(helpers.text(init), encoding="utf-8")
    kubeadm = upstream_validators.kube(f"1.{minor}") / "kubeadm"
    result = subprocess.run(
        [str(kubeadm), "config", "images", "list", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed = set(result.stdout.split())
    assert listed == set(kubeadm_images(KubeVersion.parse(release.newest), repository).values())
