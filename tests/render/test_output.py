"""Rendered files as values and on disk: relpaths, manifest, determinism, placeholders, secrets.

Tier: render. Real: Jinja2 and the templates, the file system (a pytest tmp_path), json. Simulated: nothing.
"""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from hybridctl.errors import PlaceholderError, RenderError
from hybridctl.render import PURPOSES, RenderedFile, RuntimeValues, render_all, write_output
from hybridctl.render.files import host_relpath
from hybridctl.resources import templates_dir
from tests.render import helpers


@pytest.mark.parametrize(
    ("host", "target", "relpath"),
    [
        ("win1", r"C:\Program Files\containerd\config.toml", "win1/C/Program Files/containerd/config.toml"),
        ("win1", r"C:\k\hybridctl\boot.ps1", "win1/C/k/hybridctl/boot.ps1"),
        ("cp1", "/etc/containerd/config.toml", "cp1/etc/containerd/config.toml"),
    ],
)
def test_relpath(host: str, target: str, relpath: str) -> None:
    assert host_relpath(host, target) == relpath


@pytest.mark.parametrize(
    ("host", "target"),
    [("..", "/etc/x"), ("a/b", "/etc/x"), ("a\\b", "/etc/x"), ("cp1", "etc/x"), ("cp1", "/etc/../../x")],
)
def test_relpath_refuses_escapes(host: str, target: str) -> None:
    with pytest.raises(RenderError):
        host_relpath(host, target)


def test_render_all_order_and_scripts() -> None:
    cluster = helpers.inventory("example")
    files = render_all(cluster, helpers.assume("example"))
    hosts = [f.host for f in files if f.host is not None]
    assert list(dict.fromkeys(hosts)) == [h.name for h in cluster.hosts]
    kinds = ["host" if f.host else "script" if f.purpose == "script" else "cluster" for f in files]
    assert kinds == sorted(kinds, key=["host", "cluster", "script"].index)
    scripts = [f for f in files if f.purpose == "script"]
    shipped = sorted((templates_dir() / "windows" / "scripts").rglob("*.ps1"))
    assert len(scripts) == len(shipped)
    for item, path in zip(scripts, shipped, strict=True):
        assert (
            item.relpath
            == "scripts/windows/" + path.relative_to(templates_dir() / "windows" / "scripts").as_posix()
        )
        assert (item.host, item.target, item.content) == (None, None, path.read_bytes())
    for item in files:
        if item.host is None and item.purpose != "script":
            assert (
                item.target is None and item.relpath.startswith("cluster/") and item.relpath.endswith(".yaml")
            )


@pytest.mark.parametrize("name", helpers.INVENTORIES)
def test_rendering_is_deterministic(name: str, tmp_path: Path) -> None:
    first = write_output(render_all(helpers.inventory(name), helpers.assume(name)), tmp_path / "a")
    second = write_output(render_all(helpers.inventory(name), helpers.assume(name)), tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    for entry in json.loads(first.read_text())["files"]:
        a = (tmp_path / "a" / entry["relpath"]).read_bytes()
        assert a == (tmp_path / "b" / entry["relpath"]).read_bytes()
        assert hashlib.sha256(a).hexdigest() == entry["sha256"]


def test_manifest_lists_every_file(tmp_path: Path) -> None:
    files = render_all(helpers.inventory("ha-vxlan"), RuntimeValues())
    manifest = json.loads(write_output(files, tmp_path).read_text())
    assert manifest["kind"] == "RenderManifest"
    assert [e["relpath"] for e in manifest["files"]] == [f.relpath for f in files]
    for entry, item in zip(manifest["files"], files, strict=True):
        assert entry == {
            "relpath": item.relpath,
            "host": item.host,
            "target": item.target,
            "purpose": item.purpose,
            "mode": f"{item.mode:04o}",
            "sha256": item.sha256,
            "placeholders": list(item.placeholders),
            "secret": item.secret,
        }
        assert entry["purpose"] in PURPOSES
        assert stat.S_IMODE((tmp_path / item.relpath).stat().st_mode) == item.mode


def test_files_with_credentials_are_secret() -> None:
    files = render_all(helpers.inventory("ha-vxlan"), helpers.assume("ha-vxlan"))
    values = helpers.assume("ha-vxlan")
    tokens = [
        values.secret(n) for n in ("bootstrap_token", "kube_proxy_token", "flannel_token", "certificate_key")
    ]
    for item in files:
        holds = any(str(token) in item.content.decode() for token in tokens)
        assert holds == item.secret, item.relpath
        if item.secret:
            assert item.mode == 0o600


def test_placeholders_make_installable_refuse() -> None:
    files = render_all(helpers.inventory("example"), RuntimeValues())
    pending = helpers.one(files, "win1", "bootstrap-kubelet.conf")
    with pytest.raises(PlaceholderError) as caught:
        pending.installable()
    assert "bootstrap-token" in caught.value.message and "ca-certificate" in caught.value.message
    ready = helpers.one(files, "win1", "firewall.ps1")
    assert ready.installable() == ready.content


def test_a_mangled_placeholder_is_still_refused() -> None:
    item = RenderedFile("h", "/x", "sysctl", b"value=@@HYBRIDCTL-PLACEHOLDER:broken", 0o644, "h/x", False)
    assert item.placeholders == ()
    with pytest.raises(PlaceholderError):
        item.installable()


def test_unknown_purpose_is_refused() -> None:
    with pytest.raises(RenderError):
        RenderedFile(None, None, "nope", b"", 0o644, "cluster/x.yaml", False)


def test_write_output_removes_files_of_an_earlier_render(tmp_path: Path) -> None:
    write_output(render_all(helpers.inventory("example"), RuntimeValues()), tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    write_output(render_all(helpers.inventory("ci-smoke"), RuntimeValues()), tmp_path)
    assert not (tmp_path / "lin1").exists()
    assert not (tmp_path / "win2").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "win1" / "C" / "k" / "hybridctl" / "boot.ps1").exists()


def test_write_output_refuses_colliding_paths(tmp_path: Path) -> None:
    item = RenderedFile(None, None, "runtimeclass", b"", 0o644, "cluster/a.yaml", False)
    with pytest.raises(RenderError, match="both"):
        write_output([item, item], tmp_path)
