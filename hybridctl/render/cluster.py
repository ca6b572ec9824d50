"""Cluster objects: RuntimeClasses for the Windows builds present, and the flannel ConfigMap in vxlan mode."""

from __future__ import annotations

from dataclasses import dataclass

from hybridctl.errors import RenderError
from hybridctl.inventory import Cluster
from hybridctl.render.context import windows_build
from hybridctl.render.placeholders import is_placeholder
from hybridctl.render.values import RuntimeValues
from hybridctl.versions import WINDOWS_BUILDS

PROCESS_HANDLER = "runhcs-wcow-process"
HYPERV_HANDLER = "runhcs-wcow-hypervisor"
_VERSION_OF_BUILD = {build: version for version, build in WINDOWS_BUILDS.items()}


@dataclass(frozen=True)
class RuntimeClassSpec:
    """One RuntimeClass: its name, containerd handler and the Windows build it pins (if any)."""

    name: str
    handler: str
    build: str | None
    file: str


def runtime_classes(cluster: Cluster, values: RuntimeValues) -> list[RuntimeClassSpec]:
    """One process-isolation class per Windows build present, then one ``windows-hyperv-<version>`` per
    build when Hyper-V isolation is offered."""
    if not cluster.windows_hosts:
        return []
    found: dict[str, RuntimeClassSpec] = {}
    for host in cluster.windows_hosts:
        spec = _process_class(windows_build(host, values), host.name)
        found.setdefault(spec.name, spec)
    specs = sorted(found.values(), key=lambda s: s.name)
    if "hyperv" in cluster.spec.windows.isolation:
        specs += [_hyperv_class(spec) for spec in specs]
    return specs


def _hyperv_class(process: RuntimeClassSpec) -> RuntimeClassSpec:
    """Hyper-V isolation pinned to one build too: without the build selector a pod whose image was built
    for 2022 could land on a 2019 host, where no isolation mode runs it (an image must not be newer than
    the host; reference section 7.3, kubernetes.io "Windows container version compatibility")."""
    name = process.name.replace("windows-", "windows-hyperv-", 1)
    return RuntimeClassSpec(
        name, HYPERV_HANDLER, process.build, process.file.replace("windows-", "windows-hyperv-", 1)
    )


def _process_class(build: str, host: str) -> RuntimeClassSpec:
    if is_placeholder(build):
        # The class name follows from the build, so it stays unknown (and uninstallable) with it.
        return RuntimeClassSpec(
            f"windows-{build}", PROCESS_HANDLER, build, f"runtimeclass-windows-build-of-{host}"
        )
    version = _VERSION_OF_BUILD.get(build)
    if version is None:
        known = ", ".join(sorted(_VERSION_OF_BUILD))
        raise RenderError(f"host {host!r} runs Windows build {build}; hybridctl supports {known}")
    name = f"windows-{version}"
    return RuntimeClassSpec(name, PROCESS_HANDLER, build, f"runtimeclass-{name}")
