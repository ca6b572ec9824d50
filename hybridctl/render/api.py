"""Render the files of a host, of the cluster, or of everything, and write them with a manifest."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hybridctl.errors import RenderError
from hybridctl.inventory import Cluster, Host
from hybridctl.render.cluster import RuntimeClassSpec, runtime_classes
from hybridctl.render.context import build_context
from hybridctl.render.engine import FileSpec, encode, render_text
from hybridctl.render.files import RenderedFile, host_relpath
from hybridctl.render.linux import linux_specs
from hybridctl.render.network import check_values
from hybridctl.render.registries import registry_specs
from hybridctl.render.values import RuntimeValues
from hybridctl.render.windows import windows_specs
from hybridctl.resources import templates_dir

MANIFEST = "manifest.json"


def render_host(cluster: Cluster, host: Host, values: RuntimeValues) -> list[RenderedFile]:
    """Every file ``host`` needs, rendered from the inventory and the runtime values."""
    check_values(cluster, values)
    context = build_context(cluster, values, host)
    specs = windows_specs(cluster) if host.is_windows else linux_specs(cluster, host)
    files = [_render(spec, context, host.name) for spec in specs]
    return files + [
        _render(spec, {**context, **extra}, host.name) for spec, extra in registry_specs(cluster, host)
    ]


def _render(spec: FileSpec, context: dict[str, Any], host: str) -> RenderedFile:
    content = encode(render_text(spec.template, context), spec.target)
    relpath = host_relpath(host, spec.target)
    return RenderedFile(host, spec.target, spec.purpose, content, spec.mode, relpath, spec.secret)


def render_cluster(cluster: Cluster, values: RuntimeValues) -> list[RenderedFile]:
    """The cluster objects: RuntimeClasses, and in vxlan mode flannel (DaemonSet, RBAC) and its ConfigMap."""
    check_values(cluster, values)
    context = build_context(cluster, values)
    files = [_runtime_class(spec, context) for spec in runtime_classes(cluster, values)]
    if cluster.spec.network.mode == "vxlan":
        files.append(_cluster_file("cluster/kube-flannel.yaml.j2", "kube-flannel", "flannel", context))
        files.append(
            _cluster_file("cluster/kube-flannel-cfg.yaml.j2", "kube-flannel-cfg", "flannel-config", context)
        )
    return files


def _runtime_class(spec: RuntimeClassSpec, context: dict[str, Any]) -> RenderedFile:
    return _cluster_file(
        "cluster/runtimeclass.yaml.j2", spec.file, "runtimeclass", {**context, "runtime_class": spec}
    )


def _cluster_file(template: str, name: str, purpose: str, context: dict[str, Any]) -> RenderedFile:
    content = render_text(template, context).encode("utf-8")
    return RenderedFile(None, None, purpose, content, 0o644, f"cluster/{name}.yaml", False)


def constant_scripts() -> list[RenderedFile]:
    """Every ``templates/windows/scripts/**/*.ps1``, as shipped (others write them)."""
    root = templates_dir() / "windows" / "scripts"
    files = []
    for path in sorted(root.rglob("*.ps1")):
        relpath = "scripts/windows/" + path.relative_to(root).as_posix()
        files.append(RenderedFile(None, None, "script", path.read_bytes(), 0o644, relpath, False))
    return files


def render_all(cluster: Cluster, values: RuntimeValues) -> list[RenderedFile]:
    """Hosts in inventory order, then the cluster objects, the smoke workloads, the constant scripts."""
    from hybridctl.smoke.workloads import render_smoke, smoke_image  # smoke builds on render: import late

    files = [f for host in cluster.hosts for f in render_host(cluster, host, values)]
    files += render_cluster(cluster, values)
    files += render_smoke(cluster, values, smoke_image(cluster))
    files += constant_scripts()
    _check_unique(files)
    return files


def _check_unique(files: Sequence[RenderedFile]) -> None:
    seen: set[str] = set()
    for item in files:
        key = item.relpath.lower()  # two hosts whose names differ only in case would collide on Windows
        if key in seen:
            raise RenderError(f"two rendered files would both be written to {item.relpath}")
        seen.add(key)


def manifest(files: Sequence[RenderedFile]) -> dict[str, Any]:
    """The manifest document: every file with where it goes, why, its hash and what it still needs."""
    entries = [
        {
            "relpath": f.relpath,
            "host": f.host,
            "target": f.target,
            "purpose": f.purpose,
            "mode": f"{f.mode:04o}",
            "sha256": f.sha256,
            "placeholders": list(f.placeholders),
            "secret": f.secret,
        }
        for f in files
    ]
    return {"apiVersion": "hybridctl.io/v1alpha1", "kind": "RenderManifest", "files": entries}


def write_output(files: Sequence[RenderedFile], out_dir: Path) -> Path:
    """Write ``files`` and ``manifest.json`` under ``out_dir``; drop files an earlier render wrote there."""
    _check_unique(files)
    out_dir.mkdir(parents=True, exist_ok=True)
    root = out_dir.resolve()
    previous = _previous_relpaths(out_dir / MANIFEST)
    for item in files:
        _write(root, item)
    for stale in sorted(previous - {f.relpath for f in files}):
        _remove(root, _inside(root, stale))
    path = out_dir / MANIFEST
    path.write_text(json.dumps(manifest(files), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def _inside(root: Path, relpath: str) -> Path:
    path = (root / relpath).resolve()
    if not path.is_relative_to(root):
        raise RenderError(f"{relpath!r} would be written outside {root}")
    return path


def _remove(root: Path, path: Path) -> None:
    """Delete ``path`` and the directories it leaves empty, up to ``root``."""
    path.unlink(missing_ok=True)
    parent = path.parent
    while parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def _write(root: Path, item: RenderedFile) -> None:
    path = _inside(root, item.relpath)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(item.content)
    os.chmod(path, item.mode)


def _previous_relpaths(path: Path) -> set[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(entry["relpath"]) for entry in data["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return set()
