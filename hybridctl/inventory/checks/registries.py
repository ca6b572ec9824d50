"""containerd registry hosts (``spec.containerd.registries``): names, URLs, capabilities, CA certificates."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from hybridctl.inventory.checks.common import REGISTRY_HOST
from hybridctl.inventory.models import Cluster, Registry, RegistryMirror
from hybridctl.inventory.problems import Path, Problem, error, warning

REGISTRIES: Path = ("spec", "containerd", "registries")
# A host namespace is a registry host (no path), or containerd's catch-all directory _default.
_NAMESPACE = re.compile(r"_default|" + REGISTRY_HOST.pattern, re.ASCII)
_PEM = re.compile(r"\s*(-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*)+")
_URL_HINT = "e.g. http://10.0.0.5:5000 (plain HTTP) or https://mirror.example"


def check_registries(cluster: Cluster) -> Iterator[Problem]:
    """Each registry: a valid, unique host; http(s) URLs; capabilities; PEM CA certificates."""
    seen: set[str] = set()
    for index, registry in enumerate(cluster.spec.containerd.registries):
        path = (*REGISTRIES, index)
        if not _NAMESPACE.fullmatch(registry.host) or len(registry.host) > 255:
            message = f"{registry.host!r} is not a registry host[:port] or _default"
            yield error((*path, "host"), message, "write the host as image names spell it, e.g. docker.io")
        elif registry.host in seen:
            yield error((*path, "host"), f"registry {registry.host} is listed twice", "merge the entries")
        seen.add(registry.host)
        yield from _check_endpoint(path, registry)
        for number, mirror in enumerate(registry.mirrors):
            yield from _check_endpoint((*path, "mirrors", number), mirror)
        if registry.server is None and (registry.skip_verify or registry.ca_certificate):
            hint = f"server: https://{registry.host}"
            yield error((*path, "server"), "skipVerify and caCertificate of the server need server", hint)
        elif not registry.mirrors and registry.server is None:
            yield warning(path, f"registry {registry.host} changes nothing", "give a server or mirrors")


def _check_endpoint(path: Path, entry: Registry | RegistryMirror) -> Iterator[Problem]:
    key = "url" if isinstance(entry, RegistryMirror) else "server"
    url = entry.url if isinstance(entry, RegistryMirror) else entry.server
    if url is not None:
        yield from _check_url((*path, key), url)
    if not entry.capabilities:
        yield error((*path, "capabilities"), "no capabilities: containerd would never use it", "e.g. [pull]")
    elif len(set(entry.capabilities)) != len(entry.capabilities):
        yield error((*path, "capabilities"), "a capability is listed twice", "list each once")
    if entry.ca_certificate is not None and not _PEM.fullmatch(entry.ca_certificate):
        hint = "paste the PEM text (-----BEGIN CERTIFICATE----- ...) or use ${env:NAME}"
        yield error((*path, "caCertificate"), "is not a PEM certificate", hint)
    if url is not None and url.startswith("http://") and (entry.skip_verify or entry.ca_certificate):
        yield warning(path, f"{url} is plain HTTP: skipVerify and caCertificate do nothing", "use https://")


def _check_url(path: Path, url: str) -> Iterator[Problem]:
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        parts, port_ok = urlsplit(""), False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        yield error(path, f"{url!r} is not an http(s) URL of a registry", _URL_HINT)
    elif parts.query or parts.fragment or parts.username or parts.password:
        yield error(path, f"{url!r} has a query, fragment or credentials", "give scheme://host[:port][/path]")
    elif not _NAMESPACE.fullmatch(parts.netloc) or any(c.isspace() or c in "\"'\\" for c in parts.path):
        yield error(path, f"{url!r} is not an http(s) URL of a registry", _URL_HINT)
