"""containerd registry hosts: a ``hosts.toml`` (and its CA files) per ``spec.containerd.registries`` entry.

Where containerd looks (containerd v2.4.2 ``core/remotes/docker/config``, ``hostPaths`` in
``config_unix.go`` and ``config_windows.go``; docs/hosts.md "Port Handling in Registry Host"): under each
directory of the CRI registry ``config_path``, first ``<host>_<port>_`` (``hostDirectory``), then the host
as spelt (``:`` dropped on Windows, which has no ``:`` in file names), then ``_default``. hybridctl writes
the ``hostDirectory`` form, the first one looked up on both systems.

When containerd reads them: the CRI image service builds ``config.ConfigureHosts`` for each pull
(``registryHosts`` in ``internal/cri/server/images/image_pull.go``), and the function it returns calls
``loadHostDir`` on every resolve (``core/remotes/docker/config/hosts.go``). So a changed hosts.toml takes
effect on the next pull without a restart; ``config_path`` itself is read when containerd starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from hybridctl.inventory import Cluster, Host
from hybridctl.inventory.models import Registry, RegistryMirror
from hybridctl.render.engine import FileSpec

PURPOSE = "registry-hosts"
LINUX_CONFIG_PATH = "/etc/containerd/certs.d"
WINDOWS_CONFIG_PATH = "C:\\Program Files\\containerd\\certs.d"
_HOSTS_TEMPLATE = "common/containerd/hosts.toml.j2"
_CA_TEMPLATE = "common/containerd/ca.crt.j2"


@dataclass(frozen=True)
class Endpoint:
    """A server or mirror as hosts.toml writes it; ``ca`` is a file name in the host's directory."""

    url: str | None
    capabilities: tuple[str, ...]
    skip_verify: bool
    ca: str | None


@dataclass(frozen=True)
class RegistryView:
    """One registry's hosts.toml."""

    host: str
    server: str | None
    capabilities: tuple[str, ...]
    skip_verify: bool
    ca: str | None
    mirrors: tuple[Endpoint, ...]


def host_directory(host: str) -> str:
    """containerd's ``hostDirectory``: ``10.0.0.5:5000`` -> ``10.0.0.5_5000_``; no port: unchanged."""
    name, colon, port = host.rpartition(":")
    return f"{name}_{port}_" if colon and name else host


def config_path(host: Host) -> str:
    """The CRI registry ``config_path`` of ``host``'s containerd."""
    return WINDOWS_CONFIG_PATH if host.is_windows else LINUX_CONFIG_PATH


def directories(cluster: Cluster, host: Host) -> list[str]:
    """The registry directories hybridctl owns on ``host`` (absolute paths)."""
    return [
        _join(host, config_path(host), host_directory(r.host)) for r in cluster.spec.containerd.registries
    ]


def registry_specs(cluster: Cluster, host: Host) -> list[tuple[FileSpec, dict[str, Any]]]:
    """(file, extra template context) of every hosts.toml and CA file ``host`` gets."""
    specs: list[tuple[FileSpec, dict[str, Any]]] = []
    for registry, directory in zip(
        cluster.spec.containerd.registries, directories(cluster, host), strict=True
    ):
        view = _view(registry)
        target = _join(host, directory, "hosts.toml")
        specs.append((FileSpec(_HOSTS_TEMPLATE, target, PURPOSE), {"registry": view}))
        for endpoint, certificate in _certificates(registry, view):
            ca_target = _join(host, directory, endpoint)
            specs.append((FileSpec(_CA_TEMPLATE, ca_target, PURPOSE), {"certificate": certificate}))
    return specs


def _view(registry: Registry) -> RegistryView:
    mirrors = tuple(_endpoint(m, f"mirror-{n}-ca.crt") for n, m in enumerate(registry.mirrors, 1))
    return RegistryView(
        host=registry.host,
        server=registry.server,
        capabilities=tuple(registry.capabilities),
        skip_verify=registry.skip_verify,
        ca="ca.crt" if registry.ca_certificate else None,
        mirrors=mirrors,
    )


def _endpoint(mirror: RegistryMirror, ca_name: str) -> Endpoint:
    ca = ca_name if mirror.ca_certificate else None
    return Endpoint(mirror.url, tuple(mirror.capabilities), mirror.skip_verify, ca)


def _certificates(registry: Registry, view: RegistryView) -> list[tuple[str, str]]:
    found = [(view.ca, registry.ca_certificate)]
    found += [(e.ca, m.ca_certificate) for e, m in zip(view.mirrors, registry.mirrors, strict=True)]
    return [(name, pem) for name, pem in found if name is not None and pem is not None]


def _join(host: Host, *parts: str) -> str:
    return str(PureWindowsPath(*parts)) if host.is_windows else str(PurePosixPath(*parts))
