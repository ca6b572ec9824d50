"""windows-kube-proxy: kube-proxy (winkernel) as an nssm service with a kube-proxy ServiceAccount token."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from hybridctl.platforms.windows import strings
from hybridctl.steps import kube
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.context import StepContext
from hybridctl.steps.files import file_changes, install
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.values import runtime_values
from hybridctl.steps.windows import services
from hybridctl.steps.windows.common import (
    KUBE_PROXY_HEALTH,
    PLATFORM,
    KnownHashes,
    WindowsStep,
    host_files,
    one_file,
    targets,
)

FILES = ("kube-proxy-config", "kube-proxy-kubeconfig", "kube-proxy-service")
HEALTH_WAIT = 60.0


class WindowsKubeProxy(WindowsStep):
    """Install kube-proxy's files and service and wait until /healthz answers.

    The service does not depend on the kubelet: ``Restart-Service -Force kubelet`` would stop it and leave
    it stopped (winsw/winsw#400; Azure/AgentBaker#4882 discussion: fix the dependency, not the stop).
    kube-proxy waits for the HNS network instead (boot.ps1 starts it after the network is back).
    """

    name: ClassVar[str] = "windows-kube-proxy"
    title: ClassVar[str] = "kube-proxy (Windows)"
    requires: ClassVar[tuple[str, ...]] = ("kubeadm-init",)

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Files, the nssm service and kube-proxy's health endpoint."""
        if not kube.initialised(kube.control_plane_view(ctx)):
            return [Change("install kube-proxy once the control plane runs")]
        try:
            kube.kube_proxy_token(ctx)
        except StepError:
            return [Change("create kube-proxy's ServiceAccount token, then install kube-proxy")]
        if _source_vip_missing(ctx, host):
            return [Change("install kube-proxy once its source VIP is reserved (vxlan)")]
        files = host_files(ctx, host.host, FILES)
        state = _state(host, files)
        changes = file_changes(KnownHashes(state["files"]), host, files) + _service_changes(files, state)
        changes = services.restart_marked(changes, state["services"].get("kube-proxy"))
        if ctx.options.get("rotate_kube_proxy_token") and ctx.read_only:
            changes.append(Change("rotate kube-proxy's ServiceAccount token (--rotate-kube-proxy-token)"))
        return changes

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Write the files, (re)start the service when anything it reads changed, wait for health."""
        kube.kube_proxy_token(ctx)
        if _source_vip_missing(ctx, host):
            raise StepError(f"{host.name}: kube-proxy's source VIP is not reserved (windows-source-vip)")
        files = host_files(ctx, host.host, FILES)
        written = install(PLATFORM, host, files)
        service = services.definition(one_file(files, "kube-proxy-service"))
        state = _state(host, files)
        if written or services.differences(service, state["services"].get("kube-proxy")) or _unhealthy(state):
            services.install_service(host, service, start=True)
        _wait_healthy(host, files)


def _source_vip_missing(ctx: StepContext, host: HostView) -> bool:
    """vxlan mode: kube-proxy on an Overlay network refuses to start without ``sourceVip``."""
    return ctx.cluster.spec.network.mode == "vxlan" and host.name not in runtime_values(ctx).source_vips


def _state(host: HostView, files: list[Any]) -> dict[str, Any]:
    state = PLATFORM.state(
        host, Paths=strings(targets(files)), Services=["kube-proxy"], HealthUrls=[KUBE_PROXY_HEALTH]
    )
    state.setdefault("services", {})
    state.setdefault("files", {})
    return state


def _unhealthy(state: dict[str, Any]) -> bool:
    return (state.get("health") or {}).get(KUBE_PROXY_HEALTH) != 200


def _service_changes(files: list[Any], state: dict[str, Any]) -> list[Change]:
    service = services.definition(one_file(files, "kube-proxy-service"))
    differences = services.differences(service, state["services"].get("kube-proxy"))
    changes = [Change(text) for text in differences]
    if not changes and _unhealthy(state):
        changes.append(Change(f"kube-proxy runs but {KUBE_PROXY_HEALTH} does not answer 200: restart it"))
    return changes


def _wait_healthy(host: HostView, files: list[Any]) -> None:
    deadline = time.monotonic() + HEALTH_WAIT
    while _unhealthy(_state(host, files)):
        if time.monotonic() > deadline:
            raise StepError(
                f"{host.name}: kube-proxy did not become healthy within {HEALTH_WAIT:g}s; "
                "see C:\\var\\log\\kube-proxy\\kube-proxy.err.log on the host"
            )
        time.sleep(2.0)
