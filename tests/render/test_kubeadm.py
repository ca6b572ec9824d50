"""kubeadm configuration of the Linux nodes: API version per Kubernetes minor, init, joins, labels, taints.

Tier: render. Real: Jinja2 and the templates, ruamel.yaml. Simulated: nothing (kubeadm itself does not
run here; field names follow kubeadm's v1beta4 types).
"""

from __future__ import annotations

from typing import Any

import pytest

from hybridctl.render import RuntimeValues, render_host
from hybridctl.render.labels import kubelet_may_set, split_labels
from tests.render import helpers

CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"


def _docs(
    name: str, host: str, values: RuntimeValues | None = None, data: dict[str, Any] | None = None
) -> list[Any]:
    cluster = helpers.build(data) if data else helpers.inventory(name)
    files = render_host(cluster, cluster.host(host), values or RuntimeValues())
    return helpers.yaml_docs(helpers.one(files, host, ".yaml"))


def _with_version(name: str, version: str) -> dict[str, Any]:
    data = helpers.cluster_data(name)
    data["spec"]["kubernetes"]["version"] = version
    return data


def _args(section: dict[str, Any], key: str) -> dict[str, str]:
    raw = section[key]
    return {a["name"]: a["value"] for a in raw} if isinstance(raw, list) else dict(raw)


@pytest.mark.parametrize("version", ["1.35.10", "1.36.6", "1.37.2"])
def test_api_version_and_extra_args_shape(version: str) -> None:
    """v1beta4 with name/value lists for every supported minor: kubeadm 1.37 refuses v1beta3 (#136016)."""
    api, as_list = "kubeadm.k8s.io/v1beta4", True
    data = _with_version("example", version)
    data["spec"]["kubernetes"]["nodeCidrMaskSize"] = 25
    init, cluster, kubelet = _docs("", "cp1", data=data)
    assert init["apiVersion"] == cluster["apiVersion"] == api
    assert kubelet["apiVersion"] == "kubelet.config.k8s.io/v1beta1"
    kubelet_args = init["nodeRegistration"]["kubeletExtraArgs"]
    manager_args = cluster["controllerManager"]["extraArgs"]
    assert isinstance(kubelet_args, list) is as_list
    assert isinstance(manager_args, list) is as_list
    assert _args(init["nodeRegistration"], "kubeletExtraArgs")["node-ip"] == "192.168.10.10"
    assert _args(cluster["controllerManager"], "extraArgs") == {"node-cidr-mask-size": "25"}
    (join,) = _docs("", "lin1", data=data)
    assert join["apiVersion"] == api
    assert isinstance(join["nodeRegistration"]["kubeletExtraArgs"], list) is as_list


def test_init_configuration_of_the_example() -> None:
    init, cluster, kubelet = _docs("example", "cp1")
    assert init["kind"] == "InitConfiguration"
    assert init["localAPIEndpoint"] == {"advertiseAddress": "192.168.10.10", "bindPort": 6443}
    assert init["nodeRegistration"]["name"] == "cp1"
    assert init["nodeRegistration"]["criSocket"] == CRI_SOCKET
    assert "taints" not in init["nodeRegistration"]  # kubeadm's default control-plane taint stays
    assert "certificateKey" not in init  # a single control plane uploads no certificates
    assert cluster["networking"] == {
        "podSubnet": "10.244.0.0/16",
        "serviceSubnet": "10.96.0.0/12",
        "dnsDomain": "cluster.local",
    }
    assert cluster["controlPlaneEndpoint"] == "192.168.10.10:6443"
    assert cluster["kubernetesVersion"] == "v1.37.2"
    assert cluster["apiServer"]["certSANs"] == ["192.168.10.10"]
    assert "controllerManager" not in cluster  # node-cidr-mask-size only when not 24
    assert kubelet == {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
    }


def test_several_control_planes() -> None:
    values = helpers.assume("ha-vxlan")
    init, cluster, _ = _docs("ha-vxlan", "cp1", values)
    assert cluster["controlPlaneEndpoint"] == "k8s-api.example.internal:6443"
    assert cluster["apiServer"]["certSANs"] == [
        "172.20.1.11",
        "172.20.1.12",
        "172.20.1.13",
        "k8s-api.example.internal",
        "172.20.0.100",
    ]
    assert init["certificateKey"] == values.secret("certificate_key")
    (join,) = _docs("ha-vxlan", "cp2", values)
    assert join["controlPlane"] == {
        "localAPIEndpoint": {"advertiseAddress": "172.20.1.12", "bindPort": 6443},
        "certificateKey": values.secret("certificate_key"),
    }
    assert join["discovery"]["bootstrapToken"] == {
        "apiServerEndpoint": "k8s-api.example.internal:6443",
        "token": values.secret("bootstrap_token"),
        "caCertHashes": [values.ca_cert_hash],
    }


def test_worker_join_has_no_control_plane_section() -> None:
    (join,) = _docs("ha-vxlan", "lin1", helpers.assume("ha-vxlan"))
    assert "controlPlane" not in join
    assert join["nodeRegistration"]["name"] == "lin1"
    assert join["nodeRegistration"]["criSocket"] == CRI_SOCKET


def test_join_files_are_secret_and_init_is_private() -> None:
    cluster = helpers.inventory("example")
    init = helpers.one(render_host(cluster, cluster.host("cp1"), RuntimeValues()), "cp1", "kubeadm-init.yaml")
    join = helpers.one(
        render_host(cluster, cluster.host("lin1"), RuntimeValues()), "lin1", "kubeadm-join.yaml"
    )
    assert (init.mode, init.secret) == (0o600, False)
    assert (join.mode, join.secret) == (0o600, True)


def test_taints_and_labels() -> None:
    data = helpers.cluster_data("example")
    cp1, lin1 = data["spec"]["hosts"][0], data["spec"]["hosts"][1]
    cp1["taints"] = [{"key": "dedicated", "value": "infra", "effect": "NoExecute"}]
    lin1["labels"] = {"example.com/pool": "general", "node-role.kubernetes.io/worker": "", "zone": "a"}
    lin1["taints"] = [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]
    init = _docs("", "cp1", data=data)[0]
    assert init["nodeRegistration"]["taints"] == [
        {"key": "node-role.kubernetes.io/control-plane", "value": "", "effect": "NoSchedule"},
        {"key": "dedicated", "value": "infra", "effect": "NoExecute"},
    ]
    (join,) = _docs("", "lin1", data=data)
    assert join["nodeRegistration"]["taints"] == [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]
    # NodeRestriction refuses node-role.kubernetes.io from the kubelet: it must be set through the API.
    assert (
        _args(join["nodeRegistration"], "kubeletExtraArgs")["node-labels"]
        == "example.com/pool=general,zone=a"
    )


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        ("example.com/pool", True),
        ("zone", True),
        ("kubernetes.io/hostname", True),
        ("node.kubernetes.io/instance-type", True),
        ("team.node.kubernetes.io/x", True),
        ("kubelet.kubernetes.io/x", True),
        ("node-role.kubernetes.io/worker", False),
        ("kubernetes.io/role", False),
        ("foo.k8s.io/bar", False),
        ("node-restriction.kubernetes.io/pool", False),
    ],
)
def test_node_restriction_labels(key: str, allowed: bool) -> None:
    assert kubelet_may_set(key) is allowed


def test_split_labels_sorts_and_partitions() -> None:
    own, api = split_labels({"z": "1", "node-role.kubernetes.io/x": "", "a.example/b": "2"})
    assert list(own) == ["a.example/b", "z"]
    assert api == {"node-role.kubernetes.io/x": ""}


@pytest.mark.parametrize("allow", [False, True])
def test_cgroup_v1_is_an_explicit_choice(allow: bool) -> None:
    """allowCgroupV1 renders failCgroupV1: false (the kubelet refuses cgroup v1 by default since 1.35) and
    skips kubeadm's SystemVerification, whose cgroup validator fails for kubelet 1.35+ on cgroup v1
    (k8s.io/system-validators v1.12.1); by default neither appears."""
    data = _with_version("example", "1.37.2")
    data["spec"]["kubernetes"]["allowCgroupV1"] = allow
    init, _, kubelet = _docs("", "cp1", data=data)
    (join,) = _docs("", "lin1", data=data)
    assert ("failCgroupV1" in kubelet) is allow
    if allow:
        assert kubelet["failCgroupV1"] is False
    for doc in (init, join):
        assert doc["nodeRegistration"].get("ignorePreflightErrors") == (
            ["SystemVerification"] if allow else None
        )
