"""Which upstream check judges which rendered file or command line.

Tier: render + upstream validators. Real: the rendered files; this module only routes them (the judging
is done by upstream code, see tests/support/upstream.py). Emulated: nothing.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from ruamel.yaml import YAML

from hybridctl.inventory import Cluster
from hybridctl.render import RenderedFile
from hybridctl.render.registries import config_path, host_directory
from hybridctl.versions import ContainerdVersion, KubeVersion
from tests.support.upstream import Check, Validators, Verdict

UTF8_BOM = b"\xef\xbb\xbf"


def versions(cluster: Cluster) -> tuple[str, int]:
    """The Kubernetes minor (``"1.37"``) and containerd major that choose the validators."""
    kube = KubeVersion.parse(cluster.spec.kubernetes.version)
    containerd = ContainerdVersion.parse(cluster.containerd_version)
    return f"{kube.major}.{kube.minor}", containerd.major


def _text(item: RenderedFile) -> str:
    data = item.content[3:] if item.content.startswith(UTF8_BOM) else item.content
    return data.decode("utf-8")


def _yaml_docs(text: str) -> list[Any]:
    return [doc for doc in YAML(typ="safe", pure=True).load_all(io.StringIO(text)) if doc is not None]


def _dump(doc: Any) -> str:
    """One document of a multi-document file, as JSON (which the Kubernetes YAML decoders read)."""
    return json.dumps(doc)


def _flags(pairs: Any) -> tuple[str, ...]:
    """kubeletExtraArgs as command-line flags (v1beta4 name/value list or v1beta3 map)."""
    items = (
        [(p["name"], p["value"]) for p in pairs] if isinstance(pairs, list) else list((pairs or {}).items())
    )
    return tuple(f"--{name}={value}" for name, value in items)


def _kubeadm(item: RenderedFile, text: str) -> Iterator[Check]:
    host, path = item.host, item.relpath
    yield Check("kubeadm", host, path, "linux", text)
    for doc in _yaml_docs(text):
        kind = doc.get("kind")
        if kind in ("InitConfiguration", "JoinConfiguration"):
            args = _flags(doc.get("nodeRegistration", {}).get("kubeletExtraArgs"))
            yield Check("kubelet-args", host, f"{path} (kubeletExtraArgs)", "linux", args=args)
        elif kind == "KubeletConfiguration":
            yield Check("kubelet-config", host, f"{path} (KubeletConfiguration)", "linux", _dump(doc))
        elif kind == "KubeProxyConfiguration":
            yield Check("kube-proxy-config", host, f"{path} (KubeProxyConfiguration)", "linux", _dump(doc))


def _flannel_configmap(item: RenderedFile, text: str) -> Iterator[Check]:
    data = _yaml_docs(text)[0]["data"]
    yield Check("cni-conflist", item.host, f"{item.relpath} (cni-conf.json)", "linux", data["cni-conf.json"])
    yield Check(
        "flannel-net-conf", item.host, f"{item.relpath} (net-conf.json)", "linux", data["net-conf.json"]
    )


SIMPLE = {
    "kubelet-config": "kubelet-config",
    "kube-proxy-config": "kube-proxy-config",
    "containerd-config": "containerd-config",
    "flannel-net-conf": "flannel-net-conf",
}
SERVICES = {"kubelet-service": "kubelet-args", "kube-proxy-service": "kube-proxy-args"}


def file_checks(item: RenderedFile, os_name: str) -> list[Check]:
    """The upstream checks of one rendered file (none for formats no upstream component reads)."""
    text, host, path, purpose = _text(item), item.host, item.relpath, item.purpose
    if purpose in ("kubeadm-init", "kubeadm-join"):
        return list(_kubeadm(item, text))
    if purpose == "flannel-config":
        return list(_flannel_configmap(item, text))
    if purpose in SERVICES:
        return [Check(SERVICES[purpose], host, path, os_name, args=tuple(json.loads(text)["arguments"]))]
    if purpose == "cni-config":
        kind = "cni-conflist" if path.endswith(".conflist") else "cni-conf"
        return [Check(kind, host, path, os_name, text)]
    return [Check(SIMPLE[purpose], host, path, os_name, text)] if purpose in SIMPLE else []


def all_checks(cluster: Cluster, files: list[RenderedFile]) -> list[Check]:
    """The upstream checks of every rendered file of ``cluster``."""
    os_of = {host.name: str(host.os) for host in cluster.spec.hosts}
    checks = [check for item in files for check in file_checks(item, os_of.get(item.host or "", "linux"))]
    return checks + registry_checks(cluster, files)


def registry_checks(cluster: Cluster, files: list[RenderedFile]) -> list[Check]:
    """One ``containerd-hosts`` check per rendered registry directory: hosts.toml with its CA files."""
    checks = []
    for host in cluster.hosts:
        kind = PureWindowsPath if host.is_windows else PurePosixPath
        mine = [kind(f.target) for f in files if f.host == host.name and f.purpose == "registry-hosts"]
        texts = {path: _text(f) for path, f in zip(mine, _registry_files(files, host.name), strict=True)}
        for registry in cluster.spec.containerd.registries:
            directory = kind(config_path(host), host_directory(registry.host))
            found = {path.name: text for path, text in texts.items() if path.parent == directory}
            data = json.dumps({"host": registry.host, "dir": directory.name, "files": found})
            checks.append(Check("containerd-hosts", host.name, str(directory), str(host.os), data))
    return checks


def _registry_files(files: list[RenderedFile], host: str) -> list[RenderedFile]:
    return [f for f in files if f.host == host and f.purpose == "registry-hosts"]


def judge_files(validators: Validators, cluster: Cluster, files: list[RenderedFile]) -> list[Verdict]:
    """Every rendered file and command line of ``cluster`` judged by the upstream code of its versions."""
    minor, containerd_major = versions(cluster)
    return validators.judge(all_checks(cluster, files), minor, containerd_major)
