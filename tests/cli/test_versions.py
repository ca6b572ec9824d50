"""The version table: one source (``hybridctl/versions.py``) for validation, defaults, ``hybridctl version``
and the README, and the defaults an inventory gets from it.

Tier: unit. Real: the CLI in process, the inventory loader, the renderer, the README file. Simulated:
nothing; nothing here connects to a host. Upstream facts behind the table are cited in versions.py.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from hybridctl.cli import run
from hybridctl.inventory import load_inventory
from hybridctl.render import RuntimeValues, render_host
from hybridctl.versions import DEFAULT_VERSION, RELEASES, markdown_table
from tests.support.inventory import EXAMPLE_PINS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- versions:begin[^\n]*-->\n)(.*?)(<!-- versions:end -->)", re.DOTALL)


def test_the_readme_table_is_generated_from_the_version_table() -> None:
    text = README.read_text()
    match = BLOCK.search(text)
    assert match, "README.md has no versions:begin/versions:end block"
    if os.environ.get("HYBRIDCTL_UPDATE_README") == "1":
        README.write_text(text[: match.start(2)] + markdown_table() + text[match.end(2) :])
        return
    assert match.group(2) == markdown_table(), (
        "run HYBRIDCTL_UPDATE_README=1 pytest tests/cli/test_versions.py"
    )


def test_version_json_lists_every_minor_with_its_components(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["version", "--output", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    kubernetes = document["kubernetes"]
    assert kubernetes["default"] == DEFAULT_VERSION == "1.37.2"
    assert [m["minor"] for m in kubernetes["minors"]] == ["1.37", "1.36", "1.35"]
    newest = kubernetes["minors"][0]
    assert newest["containerd"] == {"recommended": ["2.4.0+", "2.3.0+"], "default": "2.4.2"}
    assert newest["pause"] == "3.10.2" and newest["status"] == "in upstream support"
    assert document["windowsServer"] == {"2019": "10.0.17763", "2022": "10.0.20348", "2025": "10.0.26100"}


def test_version_text_names_the_support_status_of_each_minor(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["version"]) == 0
    out = capsys.readouterr().out
    for release in RELEASES:
        assert f"{release.series}: newest {release.newest}, in upstream support" in out
    assert "Kubernetes: 1.35.0 to 1.37.x" in out


def _without_versions(tmp_path: Path) -> Path:
    yaml = YAML()
    data = yaml.load((ROOT / "inventories" / "example.yaml").read_text())
    del data["spec"]["kubernetes"]["version"]
    del data["spec"]["containerd"]["version"]
    path = tmp_path / "inventory.yaml"
    with path.open("w") as stream:
        yaml.dump(data, stream)
    return path


def test_an_inventory_without_versions_gets_the_newest_release_and_its_containerd(tmp_path: Path) -> None:
    env = {"WINRM_PASSWORD": "x", **EXAMPLE_PINS}
    cluster = load_inventory(_without_versions(tmp_path), env=env).require()
    assert cluster.spec.kubernetes.version == "1.37.2"
    assert cluster.containerd_version == "2.4.2" and cluster.crictl_version == "1.36.0"
    files = render_host(cluster, cluster.host("cp1"), RuntimeValues())
    (init,) = [f for f in files if f.purpose == "kubeadm-init"]
    assert b'kubernetesVersion: "v1.37.2"' in init.content


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: r.series)
def test_every_supported_minor_defaults_to_a_containerd_its_matrix_recommends(release: object) -> None:
    from hybridctl.versions import ContainerdVersion, Release

    assert isinstance(release, Release)
    assert release.containerd_supported(ContainerdVersion.parse(release.containerd_default))
