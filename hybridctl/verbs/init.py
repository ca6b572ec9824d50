"""``init``: write a commented starter inventory that validates once its environment variables are set.

Nothing connects anywhere. The file carries the YAML language server's schema modeline, reads every
secret and local path from ``${env:NAME}``, and ends its header with the commands to run next. An
existing file is never overwritten.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jinja2

from hybridctl import __version__, versions
from hybridctl.appenv import AppEnv
from hybridctl.errors import ExitCode, UsageError
from hybridctl.inventory.models import (
    API_VERSION,
    KIND,
    Cluster,
    ClusterSpec,
    KubernetesSpec,
    Metadata,
)
from hybridctl.resources import templates_dir

TEMPLATE = "init/inventory.yaml.j2"
SCHEMA_FILE = "hybridctl.schema.json"
MAX_WORKERS = 50
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

SSH_ENV = ("HYBRIDCTL_SSH_KEY", "path of the SSH private key that logs in to the Linux hosts")
WINDOWS_ENV = (
    ("WINRM_PASSWORD", "the Windows hosts' Administrator password"),
    ("WINRM_CA_BUNDLE", "path of the PEM file of the CA that signed the hosts' WinRM HTTPS certificates"),
    ("NSSM_SHA256", "sha256 of nssm-<version>.zip (no checksum is published upstream)"),
    ("WINDOWS_CNI_SHA256", "sha256 of the windows-container-networking CNI zip (none published)"),
)


def default_kubernetes_version() -> str:
    """The version table's default release for new clusters (``hybridctl.versions``)."""
    return versions.DEFAULT_VERSION


@dataclass(frozen=True)
class StarterNode:
    """A host of the starter inventory."""

    name: str
    address: str


@dataclass(frozen=True)
class Starter:
    """What ``init`` writes: the cluster's shape and the values the template needs."""

    path: Path
    cluster_name: str
    linux_workers: list[StarterNode]
    windows_workers: list[StarterNode]
    kubernetes_version: str = field(default_factory=default_kubernetes_version)

    @property
    def env_vars(self) -> list[tuple[str, str]]:
        """The environment variables the inventory reads, with what each holds."""
        return [SSH_ENV, *(WINDOWS_ENV if self.windows_workers else ())]

    @property
    def next_commands(self) -> list[str]:
        """What to run after editing the file, in order."""
        i = f"-i {self.path}"
        return [
            f"hybridctl schema > {self.path.parent / SCHEMA_FILE}",
            f"hybridctl validate {i}",
            f"hybridctl ping {i} --accept-new-host-keys",
            f"hybridctl plan {i}",
            f"hybridctl up {i}",
        ]

    def host_names(self) -> list[str]:
        """Every host name, control plane first."""
        return ["cp1", *(n.name for n in self.linux_workers), *(n.name for n in self.windows_workers)]


def starter(path: Path, name: str, linux: int, windows: int) -> Starter:
    """The starter inventory's shape: ``linux`` Linux and ``windows`` Windows workers beside ``cp1``."""
    if not _NAME_RE.fullmatch(name):
        raise UsageError(f"--name {name!r} is not a lowercase RFC 1123 label", hint="e.g. --name lab1")
    for option, count in (("--linux-workers", linux), ("--windows-workers", windows)):
        if not 0 <= count <= MAX_WORKERS:
            raise UsageError(f"{option} must be between 0 and {MAX_WORKERS}, not {count}")
    lin = [StarterNode(f"lin{n}", f"192.168.10.{10 + n}") for n in range(1, linux + 1)]
    win = [StarterNode(f"win{n}", f"192.168.10.{100 + n}") for n in range(1, windows + 1)]
    return Starter(path, name, lin, win)


def render_starter(plan: Starter) -> str:
    """The inventory text."""
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            schema_ref=SCHEMA_FILE,
            hybridctl_version=__version__,
            env_vars=plan.env_vars,
            next_commands=plan.next_commands,
            cluster_name=plan.cluster_name,
            kubernetes_version=plan.kubernetes_version,
            containerd_version=versions.KubeVersion.parse(plan.kubernetes_version).release.containerd_default,
            control_plane_address="192.168.10.10",
            linux_workers=plan.linux_workers,
            windows_workers=plan.windows_workers,
            unpublished_checksums=_unpublished_checksum_urls(plan.kubernetes_version),
        )
    )


def _unpublished_checksum_urls(version: str) -> list[str]:
    """Download URLs of the Windows artifacts whose sha256 the inventory must pin (default versions)."""
    from hybridctl.artifacts import Catalog

    spec = ClusterSpec(kubernetes=KubernetesSpec(version=version), hosts=[])
    cluster = Cluster(api_version=API_VERSION, kind=KIND, metadata=Metadata(name="starter"), spec=spec)
    catalog = Catalog(cluster)
    return [catalog.nssm().url, catalog.windows_cni().url]


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # Every value is hybridctl's own (checked names, versions, addresses): no quoting filter is needed.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - YAML, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def write_new(path: Path, text: str) -> None:
    """Create ``path`` with ``text``; UsageError when it exists (never overwrite)."""
    try:
        with path.open("x", encoding="utf-8") as stream:
            stream.write(text)
    except FileExistsError:
        raise UsageError(
            f"{path} exists; init never overwrites a file", hint="choose another name with -o FILE"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}", hint="choose a writable -o FILE") from None


def run_init(env: AppEnv, out: Path | None, name: str, linux: int, windows: int) -> int:
    """Write the starter inventory; print what to do next (or a JSON document)."""
    path = out if out is not None else env.inventory_path()
    plan = starter(path, name, linux, windows)
    write_new(path, render_starter(plan))
    if env.json:
        env.stdout.write(json.dumps(_document(plan), indent=2) + "\n")
    else:
        _print_next(env, plan)
    return ExitCode.OK


def _document(plan: Starter) -> dict[str, object]:
    return {
        "file": str(plan.path),
        "cluster": plan.cluster_name,
        "kubernetesVersion": plan.kubernetes_version,
        "hosts": plan.host_names(),
        "environment": [name for name, _ in plan.env_vars],
        "next": plan.next_commands,
    }


def _print_next(env: AppEnv, plan: Starter) -> None:
    hosts = plan.host_names()
    env.stdout.write(f"wrote {plan.path} ({len(hosts)} hosts: {', '.join(hosts)})\n\n")
    env.stdout.write("edit the addresses, then set:\n")
    for variable, purpose in plan.env_vars:
        env.stdout.write(f"  export {variable}=...   # {purpose}\n")
    env.stdout.write("\nnext:\n")
    for command in plan.next_commands:
        env.stdout.write(f"  {command}\n")
