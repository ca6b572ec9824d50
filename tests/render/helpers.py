"""Shared helpers of the render tests: example inventories, sample --assume files, format parsers.

Tier: render. Real: Jinja2, ruamel.yaml, tomllib, json, tree-sitter-powershell, sh/bash -n,
configparser, kubernetes-validate, cryptography. Simulated: nothing.
"""

from __future__ import annotations

import configparser
import copy
import io
import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from hybridctl.inventory import Cluster, load_inventory
from hybridctl.render import RenderedFile, RuntimeValues
from tests.support.inventory import EXAMPLE_PINS, STAND_IN_KEY
from tests.support.powershell import problems

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
INVENTORIES = ("example", "ha-vxlan", "ci-smoke")
ENV = {"WINRM_PASSWORD": "not-a-real-password", "CI_SSH_KEY": str(STAND_IN_KEY), **EXAMPLE_PINS}
UTF8_BOM = b"\xef\xbb\xbf"

# The format of each rendered file, by purpose; a few purposes depend on the operating system.
YAML_PURPOSES = {
    "kubeadm-init",
    "smoke-workload",
    "kubeadm-join",
    "kubelet-config",
    "kubelet-bootstrap-kubeconfig",
    "kube-proxy-config",
    "kube-proxy-kubeconfig",
    "flanneld-kubeconfig",
    "runtimeclass",
    "flannel-config",
    "flannel",
}
JSON_PURPOSES = {
    "cni-config",
    "kubelet-service",
    "kube-proxy-service",
    "flanneld-service",
    "hns-network",
    "flannel-net-conf",
}


def inventory(name: str) -> Cluster:
    """An example inventory, loaded and validated like the CLI does."""
    return load_inventory(ROOT / "inventories" / f"{name}.yaml", env=ENV).require()


def assume(name: str) -> RuntimeValues:
    """The sample --assume file for an example inventory."""
    return RuntimeValues.load(HERE / "assume" / f"{name}.yaml")


def cluster_data(name: str) -> dict[str, Any]:
    """An example inventory as plain data, to change before ``Cluster.model_validate``."""
    return copy.deepcopy(inventory(name).model_dump(mode="json", by_alias=True, exclude_none=True))


def build(data: dict[str, Any]) -> Cluster:
    """A cluster from data, bypassing the file-level semantic checks (to prove rendering itself is safe)."""
    for host in data["spec"]["hosts"]:
        for conn in ("ssh", "winrm"):
            if conn in host and "password" in host[conn] and host[conn]["password"] == "**********":
                host[conn]["password"] = "x"
    return Cluster.model_validate(data)


def text(item: RenderedFile) -> str:
    """The file as text (a PowerShell BOM removed)."""
    data = item.content[3:] if item.content.startswith(UTF8_BOM) else item.content
    return data.decode("utf-8")


def yaml_docs(item: RenderedFile) -> list[Any]:
    """Every YAML document of the file (ruamel, YAML 1.2, duplicate keys refused)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.allow_duplicate_keys = False
    return [doc for doc in yaml.load_all(io.StringIO(text(item))) if doc is not None]


def yaml_doc(item: RenderedFile) -> Any:
    """The single YAML document of the file."""
    docs = yaml_docs(item)
    assert len(docs) == 1, item.relpath
    return docs[0]


def toml_doc(item: RenderedFile) -> dict[str, Any]:
    """The file parsed by tomllib."""
    return tomllib.loads(text(item))


def json_doc(item: RenderedFile) -> Any:
    """The file parsed by json."""
    return json.loads(text(item))


def unit(item: RenderedFile) -> configparser.ConfigParser:
    """A systemd unit parsed as INI (strict: no duplicate sections or keys)."""
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text(item))
    return parser


def shell_syntax(item: RenderedFile) -> None:
    """``sh -n`` (dash) and ``bash -n`` accept the script."""
    for shell in ("sh", "bash"):
        result = subprocess.run([shell, "-n"], input=item.content, capture_output=True, check=False)
        assert result.returncode == 0, f"{shell} -n {item.relpath}: {result.stderr.decode()}"


def powershell_ok(item: RenderedFile) -> None:
    """tree-sitter-powershell finds no syntax error and nothing that needs PowerShell 7."""
    assert problems(text(item)) == [], item.relpath


def by_relpath(files: list[RenderedFile]) -> dict[str, RenderedFile]:
    """Files keyed by their output path."""
    return {f.relpath: f for f in files}


def one(files: list[RenderedFile], host: str | None, suffix: str) -> RenderedFile:
    """The file of ``host`` whose relpath ends with ``suffix``."""
    found = [f for f in files if f.host == host and f.relpath.endswith(suffix)]
    assert len(found) == 1, (host, suffix, [f.relpath for f in files])
    return found[0]
