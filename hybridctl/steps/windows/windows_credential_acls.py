"""windows-credential-acls: only SYSTEM and Administrators may read the node's credentials.

Directories created under ``C:\\`` inherit read access for ``BUILTIN\\Users``, so without an explicit ACL
the kubelet's client key (``C:\\var\\lib\\kubelet\\pki``), its kubeconfig, the bootstrap kubeconfig while it
exists and kube-proxy's never-expiring ServiceAccount token (``C:\\k\\kube-proxy.kubeconfig``) are readable
by anyone who can log on. The Kubernetes documentation's Windows security notes tell administrators to
protect such files with ACLs. The directories that hold credentials get SYSTEM + Administrators only,
inheritance off, right after they are created (so files written later inherit it); every credential file
is checked like any other drift.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hybridctl.platforms.windows import apply_json, strings
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.windows.common import (
    BOOTSTRAP_CONF,
    K_DIR,
    KUBELET_CONF,
    KUBELET_PKI,
    PLATFORM,
    WindowsStep,
)

PROTECTED_DIRECTORIES = (K_DIR, "C:\\etc\\kubernetes", "C:\\var\\lib\\kubelet")
CREDENTIALS = (
    KUBELET_PKI,
    KUBELET_CONF,
    BOOTSTRAP_CONF,
    "C:\\k\\kube-proxy.kubeconfig",
    "C:\\k\\flanneld.kubeconfig",
)
ALLOWED_SIDS = {"S-1-5-18", "S-1-5-32-544"}  # NT AUTHORITY\SYSTEM, BUILTIN\Administrators


class WindowsCredentialAcls(WindowsStep):
    """Explicit ACLs on the directories holding credentials; nobody else may read a credential file."""

    name: ClassVar[str] = "windows-credential-acls"
    title: ClassVar[str] = "protect credentials with ACLs (Windows)"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """Directories not protected, credentials readable by anyone but SYSTEM and Administrators."""
        return [Change(text) for text in acl_problems(_acls(host))]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Protect the directories, then any credential file that still lets others in."""
        acls = _acls(host)
        paths = [p for p in (*PROTECTED_DIRECTORIES, *CREDENTIALS) if _problem(p, acls.get(p) or {})]
        if not paths:
            return
        apply_json(host, "protect-paths", {"Paths": strings(paths)})


def _acls(host: HostView) -> dict[str, Any]:
    state = PLATFORM.state(host, Acls=strings((*PROTECTED_DIRECTORIES, *CREDENTIALS)))
    return dict(state.get("acls") or {})


def acl_problems(acls: dict[str, Any]) -> list[str]:
    """Every path whose ACL is not SYSTEM + Administrators only (directories: inheritance off too)."""
    return [
        f"{problem}: {path}"
        for path in (*PROTECTED_DIRECTORIES, *CREDENTIALS)
        if (problem := _problem(path, acls.get(path) or {}))
    ]


def _problem(path: str, acl: dict[str, Any]) -> str | None:
    if not acl.get("exists"):
        # windows-directories creates it first; it must be protected before any credential lands in it.
        return "protect once created" if path in PROTECTED_DIRECTORIES else None
    others = sorted({str(r).split(":", 1)[0] for r in acl.get("rules") or []} - ALLOWED_SIDS)
    if others:
        return f"restrict the ACL (also readable by {', '.join(others)})"
    if path in PROTECTED_DIRECTORIES and not acl.get("protected"):
        return "turn off ACL inheritance"
    return None
