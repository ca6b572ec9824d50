"""A real Kubernetes cluster built by the unmodified ``hybridctl`` CLI on the real lab's systemd hosts.

:class:`RealCluster` holds everything a test (or a later Windows-node test joining the same cluster) needs:
the booted Linux hosts and their roles, the mirror and registry they install from (``sources.py``), the
inventory the CLI reads, the state directory where hybridctl keeps the admin kubeconfig it fetched, and
the real ``kubectl`` built in ``tests/upstream/.bin``. ``write_inventory(extra_hosts=...)`` takes more
inventory host entries (e.g. Windows nodes) so another test can add them to the same cluster before (or
after, with ``add-node``) ``up``; ``extra_env`` carries what their ``${env:...}`` secrets name.

The inventory is what an air-gapped operator writes: ``artifacts.source: mirror`` at the lab mirror,
``kubernetes.imageRepository`` at the lab registry, that registry declared plain HTTP for containerd,
``allowCgroupV1`` where this machine's kernel has cgroup v1 (hybrid) mounts, ``restrictOomScoreAdj`` where
this machine's processes cannot lower OOM scores (no ``CAP_SYS_RESOURCE`` in its bounding set: this one
has none, so runc failed every pod with "failed to update /proc/self/oom_score_adj: Permission denied").
Nothing in it is lab-only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.lab.real.hosts import SystemdHost
from tests.lab.real.sources import LabSources
from tests.support.inventory import kubernetes_spec

CLUSTER_NAME = "real"


def _can_lower_oom_score() -> bool:
    """Whether a process here may lower its OOM score (what runc does for the kubelet's -998 sandboxes)."""
    done = subprocess.run(
        ["sh", "-c", "echo -1 > /proc/self/oom_score_adj"], capture_output=True, check=False
    )
    return done.returncode == 0


CAN_LOWER_OOM_SCORE = _can_lower_oom_score()
CLI_TIMEOUT = 1800.0
KUBECTL_TIMEOUT = 120.0


@dataclass
class RealCluster:
    """The real cluster's hosts, sources, inventory, state and tools; see the module docstring."""

    workdir: Path
    members: list[tuple[SystemdHost, str]]  # (host, role)
    sources: LabSources
    kubectl_binary: Path
    extra_hosts: list[dict[str, Any]] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. the WinRM password ${env:...} names
    checksums: dict[str, str] = field(default_factory=dict)  # artifacts.checksums (e.g. Windows pins)
    network_mode: str = "routes"  # vxlan: flannel's images come through a ghcr.io mirror at the lab registry
    name: str = CLUSTER_NAME  # metadata.name, also the state directory's name
    smoke: dict[str, Any] = field(default_factory=dict)  # spec.smoke (e.g. prePull)

    @property
    def inventory(self) -> Path:
        """The inventory file the CLI reads."""
        return self.workdir / "cluster.yaml"

    @property
    def state_dir(self) -> Path:
        """hybridctl's state directory for this cluster (the CLI runs with ``workdir`` as its cwd)."""
        return self.workdir / ".hybridctl" / self.name

    @property
    def admin_kubeconfig(self) -> Path:
        """The admin kubeconfig ``up`` fetched from the first control plane."""
        return self.state_dir / "admin.conf"

    @property
    def hosts(self) -> list[SystemdHost]:
        """The Linux hosts, control planes first."""
        return [host for host, _ in self.members]

    def host(self, role: str) -> SystemdHost:
        """The first Linux host with ``role``."""
        return next(host for host, r in self.members if r == role)

    def document(self) -> dict[str, Any]:
        """The inventory: the Linux members, then ``extra_hosts``."""
        linux = [_linux_entry(host, role) for host, role in self.members]
        return {
            "apiVersion": "hybridctl.io/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": self.name},
            "spec": {
                "kubernetes": kubernetes_spec(imageRepository=self.sources.image_repository),
                "network": {"mode": self.network_mode},
                "containerd": self.lab_containerd(),
                "artifacts": {
                    "source": "mirror",
                    "mirrorUrl": self.sources.mirror_url,
                    **({"checksums": self.checksums} if self.checksums else {}),
                },
                "smoke": self.smoke_spec(),
                "hosts": [*linux, *self.extra_hosts],
            },
        }

    def smoke_spec(self) -> dict[str, Any]:
        """``spec.smoke``: the lab's agnhost by its digest (as an operator whose mirror does not hold
        upstream's bytes names the image), plus ``smoke`` (e.g. prePull)."""
        return {"image": self.sources.agnhost, **self.smoke}

    def lab_containerd(self, mirrored: Sequence[str] = ()) -> dict[str, Any]:
        """``spec.containerd``'s lab settings: the lab registry (plain HTTP) and the registries whose images
        it mirrors (``mirrored``, plus ghcr.io in vxlan mode: kube-flannel's images are
        ghcr.io/flannel-io/...), and ``restrictOomScoreAdj`` where this machine needs it."""
        registry = self.sources.registry
        found: list[dict[str, Any]] = [{"host": registry, "server": f"http://{registry}"}]
        hosts = [*mirrored, *(["ghcr.io"] if self.network_mode == "vxlan" else [])]
        found.extend({"host": host, "mirrors": [{"url": f"http://{registry}"}]} for host in hosts)
        return {"registries": found, "restrictOomScoreAdj": not CAN_LOWER_OOM_SCORE}

    def write_inventory(self, extra_hosts: Sequence[dict[str, Any]] = ()) -> Path:
        """Write the inventory (with ``extra_hosts`` added to the Linux members) and the known_hosts file."""
        self.extra_hosts = list(extra_hosts)
        self.inventory.write_text(yaml.safe_dump(self.document(), sort_keys=False))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        known = self.state_dir / "known_hosts"
        known.write_text("".join(host.known_hosts_line() for host in self.hosts))
        known.chmod(0o600)
        return self.inventory

    def command(self, *args: str) -> list[str]:
        """The argv of a hybridctl run against this cluster's inventory."""
        return [sys.executable, "-m", "hybridctl", *args, "-i", str(self.inventory)]

    def hybridctl(self, *args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run the real CLI to completion (no terminal: a question is refused, never hangs)."""
        return subprocess.run(
            self.command(*args),
            cwd=self.workdir,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def env(self) -> dict[str, str]:
        """The CLI's environment: this process's, plus ``extra_env``."""
        return {**os.environ, **self.extra_env}

    def kubectl(self, *args: str, check: bool = True, timeout: float = KUBECTL_TIMEOUT) -> str:
        """Real kubectl with the admin kubeconfig hybridctl fetched; its stdout."""
        argv = [str(self.kubectl_binary), "--kubeconfig", str(self.admin_kubeconfig), *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def wait_for(self, what: str, probe: Any, timeout: float = 300.0) -> Any:
        """Poll ``probe()`` until it returns something truthy; return that (AssertionError at timeout)."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            try:
                last = probe()
            except AssertionError as error:
                last = error
            if last and not isinstance(last, AssertionError):
                return last
            time.sleep(2.0)
        raise AssertionError(f"{what}: not after {timeout:g}s (last: {last})")


def _linux_entry(host: SystemdHost, role: str) -> dict[str, Any]:
    return {"name": host.name, "address": host.address, "role": role, "os": "linux", "ssh": lab_ssh(host)}


def lab_ssh(host: SystemdHost) -> dict[str, Any]:
    """The ``ssh`` block that reaches a lab host: root with the lab's client key."""
    return {"user": "root", "privateKeyFile": str(host.keys.key)}
