"""Every rendered file of every example inventory parses in its format, with and without runtime values.

Tier: render. Real: Jinja2 and the templates, ruamel.yaml, tomllib, json, tree-sitter-powershell,
``sh -n``/``bash -n`` and shellcheck (required in CI), configparser for systemd units,
kubernetes-validate (strict, the inventory's Kubernetes minor) for Kubernetes objects, cryptography for
the CA certificate. Simulated: nothing.
"""

from __future__ import annotations

import shutil
import subprocess

import kubernetes_validate
import pytest
from cryptography import x509

from hybridctl.render import PURPOSES, RenderedFile, RuntimeValues, render_all
from hybridctl.render.placeholders import is_placeholder
from hybridctl.versions import RELEASES, KubeVersion, Release
from tests.render import helpers
from tests.support.ci import in_ci, require_tool

CASES = [(name, assumed) for name in helpers.INVENTORIES for assumed in (False, True)]


def _rendered(name: str, assumed: bool) -> list[RenderedFile]:
    values = helpers.assume(name) if assumed else RuntimeValues()
    return render_all(helpers.inventory(name), values)


def _kube_version(name: str) -> str:
    version = KubeVersion.parse(helpers.inventory(name).spec.kubernetes.version)
    return f"{version.major}.{version.minor}.0"


def check_format(item: RenderedFile, kube_version: str) -> None:
    """Parse ``item`` with the real parser of its format; fail on anything that does not parse."""
    suffix = item.relpath.rsplit(".", 1)[-1]
    if suffix == "ps1":
        helpers.powershell_ok(item)
    elif suffix == "sh":
        helpers.shell_syntax(item)
        _shellcheck(item)
    elif suffix == "service":
        assert set(helpers.unit(item).sections()) == {"Unit", "Service", "Install"}
    elif item.purpose in helpers.YAML_PURPOSES:
        _yaml(item, kube_version)
    elif item.purpose in helpers.JSON_PURPOSES:
        assert isinstance(helpers.json_doc(item), dict)
    elif item.purpose == "containerd-config":
        assert helpers.toml_doc(item)["version"] in (2, 3)
    elif item.purpose == "ca-certificate":
        _pem(item)
    elif item.purpose == "kernel-modules":
        assert _lines(item) == ["overlay", "br_netfilter"]
    elif item.purpose == "sysctl":
        assert all(" = " in line for line in _lines(item))
    else:
        pytest.fail(f"no parser for {item.relpath} ({item.purpose})")


def _lines(item: RenderedFile) -> list[str]:
    return [line for line in helpers.text(item).splitlines() if line and not line.startswith("#")]


def _yaml(item: RenderedFile, kube_version: str) -> None:
    docs = helpers.yaml_docs(item)
    assert docs and all(isinstance(doc, dict) and doc.get("kind") for doc in docs), item.relpath
    if item.host is None:
        for doc in docs:
            kubernetes_validate.validate(doc, kube_version, strict=True)


def _pem(item: RenderedFile) -> None:
    if is_placeholder(helpers.text(item)):
        assert helpers.text(item).strip() == "@@HYBRIDCTL-PLACEHOLDER:ca-certificate@@"
        return
    cert = x509.load_pem_x509_certificate(item.content)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def _shellcheck(item: RenderedFile) -> None:
    if shutil.which("shellcheck") is None and not in_ci():
        return  # a developer machine without it; CI installs it and fails here when it is missing
    tool = require_tool("shellcheck", "apt-get install -y shellcheck")
    result = subprocess.run([tool, "-s", "sh", "-"], input=item.content, capture_output=True, check=False)
    assert result.returncode == 0, result.stdout.decode()


@pytest.mark.parametrize(("name", "assumed"), CASES)
def test_every_file_parses(name: str, assumed: bool) -> None:
    files = _rendered(name, assumed)
    assert files
    for item in files:
        assert item.purpose in PURPOSES
        check_format(item, _kube_version(name))


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: r.series)
@pytest.mark.parametrize("name", helpers.INVENTORIES)
def test_every_file_parses_at_every_supported_minor(name: str, release: Release) -> None:
    """Each example rendered for the newest patch of each supported minor (with that minor's default
    containerd) parses, and its cluster objects validate against that minor's OpenAPI schema."""
    data = helpers.cluster_data(name)
    data["spec"]["kubernetes"]["version"] = release.newest
    data["spec"]["containerd"].pop("version", None)
    files = render_all(helpers.build(data), helpers.assume(name))
    for item in files:
        check_format(item, f"1.{release.minor}.0")


@pytest.mark.parametrize("name", helpers.INVENTORIES)
def test_placeholders_only_without_values(name: str) -> None:
    without = _rendered(name, False)
    assert any(f.placeholders for f in without)
    if name != "ci-smoke":  # its sample assume file leaves the credentials out on purpose
        assert [f.relpath for f in _rendered(name, True) if f.placeholders] == []


def test_windows_containerd_config_is_ascii() -> None:
    for name in helpers.INVENTORIES:
        for item in _rendered(name, True):
            if item.purpose == "containerd-config" and item.relpath.split("/")[1] == "C":
                assert item.content.isascii(), item.relpath
