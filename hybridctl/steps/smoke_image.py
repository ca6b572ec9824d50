"""What the Linux and Windows smoke-image steps share: the reference they pull and what a check reports.

With ``spec.smoke.prePull`` every node pulls ``hybridctl smoke``'s test image (``spec.smoke.image``, else
agnhost) in the background right after containerd starts: the pull then overlaps with the node's
remaining steps and with the wait for the control plane, instead of delaying the smoke checks, which
otherwise start by pulling it on every node (the Windows variant is large). The pull runs outside the
connection (a transient systemd unit, a SYSTEM scheduled task), so the step neither waits for it nor
stops it; a run that finds the image present, or its pull still running, changes nothing.
"""

from __future__ import annotations

from hybridctl.inventory.models import Cluster, Host
from hybridctl.smoke.workloads import smoke_image
from hybridctl.steps.base import Change

PULL_NAME = "hybridctl-smoke-pull"
"""The Linux transient unit (``.service``) and the Windows scheduled task that pull the image."""
DOCKER_HUB = "docker.io"


def pre_pulls(host: Host, cluster: Cluster, *, windows: bool) -> bool:
    """Whether ``host`` (of the OS the step is for) pulls the smoke image during up."""
    return host.is_windows == windows and cluster.spec.smoke.pre_pull


def pull_ref(cluster: Cluster) -> str:
    """The smoke image as containerd names it: fully qualified, as the CRI normalises a reference (a first
    component without a dot or a colon, other than ``localhost``, is a Docker Hub repository)."""
    ref = smoke_image(cluster)
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return ref
    path = ref if rest else f"library/{ref}"
    return f"{DOCKER_HUB}/{path}"


def pull_changes(
    ref: str, *, present: bool, pulling: bool, where: str, failed: str | None = None
) -> list[Change]:
    """Nothing when containerd has ``ref`` or its pull runs; else start the pull (``where``: by what)."""
    if present or pulling:
        return []
    again = f" again (the last pull {failed})" if failed else ""
    return [Change(f"pull the smoke image {ref}{again} in the background ({where}; spec.smoke.prePull)")]
