"""windows-kubelet: TLS bootstrap of the kubelet as an nssm service (reference section 4.5).

The node is registered when ``C:\\etc\\kubernetes\\kubelet.conf`` exists and the Node object exists. The
bootstrap kubeconfig (with a short-lived token from ``join_credentials``) is written only while the node
is not registered, and removed once it is.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from hybridctl.steps import kube
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.context import StepContext
from hybridctl.steps.files import file_changes, install
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.windows import services
from hybridctl.steps.windows.common import (
    BOOTSTRAP_CONF,
    KUBELET_CONF,
    KUBELET_PKI,
    PLATFORM,
    KnownHashes,
    WindowsStep,
    host_files,
    one_file,
    targets,
)

FILES = ("kubelet-config", "ca-certificate", "kubelet-service")
REGISTER_POLL = 2.0


class WindowsKubelet(WindowsStep):
    """Install the kubelet's files and service, start it, and wait until its Node is registered."""

    name: ClassVar[str] = "windows-kubelet"
    title: ClassVar[str] = "join the kubelet (Windows, TLS bootstrap)"
    requires: ClassVar[tuple[str, ...]] = ("kubeadm-init",)

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Files, the nssm service, kubelet.conf and the Node object."""
        files = host_files(ctx, host.host, FILES)
        state = _state(host, files)
        changes = file_changes(KnownHashes(state["files"]), host, files)
        service = services.definition(one_file(files, "kubelet-service"))
        live = state["services"].get("kubelet")
        changes += [Change(text) for text in services.differences(service, live)]
        return services.restart_marked(changes, live) + _registration_changes(
            host.name, state, kube.nodes(ctx)
        )

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Bootstrap when not registered; (re)start the service when anything it reads changed."""
        known = host.name in kube.nodes(ctx)
        has_conf = _state(host, host_files(ctx, host.host, FILES))["files"].get(KUBELET_CONF) is not None
        registered = known and has_conf
        if has_conf and not known:
            _forget_old_identity(host)
        if not registered:
            kube.join_credentials(ctx)  # the bootstrap kubeconfig renders with this run's token
        files = host_files(ctx, host.host, FILES + (() if registered else ("kubelet-bootstrap-kubeconfig",)))
        written = install(PLATFORM, host, files)
        service = services.definition(one_file(files, "kubelet-service"))
        live = _state(host, files)["services"].get("kubelet")
        if written or not registered or services.differences(service, live):
            services.install_service(host, service, start=True)
        if not registered:
            _wait_registered(ctx, host.name, float(ctx.options.get("node_register_timeout", 300.0)))
        PLATFORM.remove_paths(host, [BOOTSTRAP_CONF])


def _state(host: HostView, files: list[Any]) -> dict[str, Any]:
    paths = [*targets(files), KUBELET_CONF, BOOTSTRAP_CONF]
    state = PLATFORM.state(host, Paths=list(dict.fromkeys(paths)), Services=["kubelet"])
    state.setdefault("services", {})
    return state


def _registration_changes(name: str, state: dict[str, Any], nodes: dict[str, Any]) -> list[Change]:
    has_conf = state["files"].get(KUBELET_CONF) is not None
    if name not in nodes:
        why = " (kubelet.conf exists but the Node is gone: its state is reset first)" if has_conf else ""
        return [Change(f"bootstrap the kubelet and register Node {name}{why}")]
    if not has_conf:
        return [Change(f"bootstrap the kubelet again: Node {name} exists but {KUBELET_CONF} is missing")]
    if state["files"].get(BOOTSTRAP_CONF) is not None:
        return [Change(f"remove {BOOTSTRAP_CONF} (the node is registered)")]
    return []


def _forget_old_identity(host: HostHandle) -> None:
    """The Node was deleted: the old client certificate must not be reused, so bootstrap starts afresh."""
    from hybridctl.platforms.windows import apply_json

    apply_json(host, "service-control", {"Name": "kubelet", "Action": "stop"})
    PLATFORM.remove_paths(host, [KUBELET_CONF, KUBELET_PKI])


def _wait_registered(ctx: StepContext, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if name in kube.nodes(ctx):
            return
        time.sleep(REGISTER_POLL)
    raise StepError(
        f"{name}: the kubelet did not register Node {name} within {timeout:g}s; "
        "see C:\\var\\log\\kubelet\\kubelet.err.log on the host"
    )
