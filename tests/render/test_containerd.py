"""containerd config.toml on Linux and Windows: both layouts, runtime handlers, one pause image everywhere.

Tier: render. Real: Jinja2 and the templates, tomllib; for ``restrictOomScoreAdj`` also containerd's own
config loader of each line (tests/support/upstream.py). Simulated: nothing (containerd itself does not run;
section and key names follow containerd's docs/cri/config.md and its Windows defaults).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hybridctl.render import RuntimeValues, render_all, render_host
from tests.render import helpers
from tests.support.upstream import Validators, refused
from tests.support.upstream_checks import judge_files

V3_RUNTIME = "io.containerd.cri.v1.runtime"
V3_IMAGES = "io.containerd.cri.v1.images"
V2_CRI = "io.containerd.grpc.v1.cri"


def _configs(containerd: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Linux, Windows) containerd config of the example with another containerd release."""
    data = helpers.cluster_data("example")
    data["spec"]["containerd"]["version"] = containerd
    cluster = helpers.build(data)
    linux = helpers.one(render_host(cluster, cluster.host("cp1"), RuntimeValues()), "cp1", "config.toml")
    win = helpers.one(render_host(cluster, cluster.host("win1"), RuntimeValues()), "win1", "config.toml")
    return helpers.toml_doc(linux), helpers.toml_doc(win)


def _runtimes_v3(doc: dict[str, Any]) -> dict[str, Any]:
    runtimes: dict[str, Any] = doc["plugins"][V3_RUNTIME]["containerd"]["runtimes"]
    return runtimes


@pytest.mark.parametrize(("version", "bin_key"), [("2.1.4", "bin_dirs"), ("2.0.6", "bin_dir")])
def test_containerd_2_layout(version: str, bin_key: str) -> None:
    linux, win = _configs(version)
    for doc in (linux, win):
        assert doc["version"] == 3
        assert doc["plugins"][V3_IMAGES]["pinned_images"]["sandbox"] == "registry.k8s.io/pause:3.10.2"
        assert V2_CRI not in doc["plugins"]
    assert linux["plugins"][V3_RUNTIME]["cni"] == {
        bin_key: _dirs(bin_key, "/opt/cni/bin"),
        "conf_dir": "/etc/cni/net.d",
    }
    assert win["plugins"][V3_RUNTIME]["cni"] == {
        bin_key: _dirs(bin_key, "c:/opt/cni/bin"),
        "conf_dir": "c:/etc/cni/net.d",
    }
    runc = _runtimes_v3(linux)["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"]["SystemdCgroup"] is True
    _check_windows_handlers(win["plugins"][V3_RUNTIME]["containerd"])


def _dirs(key: str, path: str) -> str | list[str]:
    return [path] if key == "bin_dirs" else path


def test_containerd_1_7_layout() -> None:
    linux, win = _configs("1.7.28")
    for doc in (linux, win):
        assert doc["version"] == 2
        assert doc["plugins"][V2_CRI]["sandbox_image"] == "registry.k8s.io/pause:3.10.2"
        assert V3_RUNTIME not in doc["plugins"]
    assert linux["plugins"][V2_CRI]["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert linux["plugins"][V2_CRI]["cni"] == {"bin_dir": "/opt/cni/bin", "conf_dir": "/etc/cni/net.d"}
    assert win["plugins"][V2_CRI]["cni"] == {"bin_dir": "c:/opt/cni/bin", "conf_dir": "c:/etc/cni/net.d"}
    _check_windows_handlers(win["plugins"][V2_CRI]["containerd"])


def _check_windows_handlers(section: dict[str, Any]) -> None:
    assert section["default_runtime_name"] == "runhcs-wcow-process"
    process = section["runtimes"]["runhcs-wcow-process"]
    hyperv = section["runtimes"]["runhcs-wcow-hypervisor"]
    assert process["runtime_type"] == hyperv["runtime_type"] == "io.containerd.runhcs.v1"
    assert "SandboxIsolation" not in process.get("options", {})
    assert hyperv["options"]["SandboxIsolation"] == 1
    assert hyperv["options"]["ScaleCpuLimitsToSandbox"] is True
    assert hyperv["pod_annotations"] == ["io.microsoft.virtualmachine.*"]


@pytest.mark.parametrize("name", helpers.INVENTORIES)
def test_pause_image_is_the_same_everywhere(name: str) -> None:
    cluster = helpers.inventory(name)
    pause = cluster.spec.containerd.pause_image
    seen = []
    for item in render_all(cluster, helpers.assume(name)):
        if item.purpose == "containerd-config":
            doc = helpers.toml_doc(item)
            images = doc["plugins"].get(V3_IMAGES, {}).get("pinned_images", {}).get("sandbox")
            seen.append(images or doc["plugins"][V2_CRI]["sandbox_image"])
        elif item.host is not None:
            # No other file may carry a pause image of its own (e.g. --pod-infra-container-image).
            assert "pause" not in helpers.text(item).lower(), item.relpath
    assert seen and set(seen) == {pause}
    assert len(seen) == len(cluster.hosts)


@pytest.mark.parametrize(("containerd", "version"), [("2.4.2", "1.37.2"), ("1.7.28", "1.35.10")])
def test_restrict_oom_score_adj_reaches_the_cri_runtime_config(
    containerd: str, version: str, upstream_validators: Validators
) -> None:
    """``containerd.restrictOomScoreAdj: true`` sets the CRI runtime's ``restrict_oom_score_adj`` on Linux
    (v3: io.containerd.cri.v1.runtime, v2: io.containerd.grpc.v1.cri), accepted by containerd's own config
    loader of that line; off by default; Windows configs never carry it."""
    data = helpers.cluster_data("example")
    data["spec"]["kubernetes"]["version"] = version
    data["spec"]["containerd"] = {"version": containerd, "restrictOomScoreAdj": True}
    cluster = helpers.build(data)
    files = render_all(cluster, helpers.assume("example"))
    assert refused(judge_files(upstream_validators, cluster, files)) == []
    linux = helpers.toml_doc(helpers.one(files, "cp1", "config.toml"))
    table = V3_RUNTIME if containerd.startswith("2.") else V2_CRI
    assert linux["plugins"][table]["restrict_oom_score_adj"] is True
    assert "restrict_oom_score_adj" not in helpers.one(files, "win1", "config.toml").content.decode()
    default, _ = _configs(containerd)
    assert "restrict_oom_score_adj" not in json.dumps(default)
