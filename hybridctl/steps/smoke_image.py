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
LEGACY_DOCKER_HUB = "index.docker.io"  # distribution/reference normalize.go legacyDefaultDomain


def pre_pulls(host: Host, cluster: Cluster, *, windows: bool) -> bool:
    """Whether ``host`` (of the OS the step is for) pulls the smoke image during up."""
    return host.is_windows == windows and cluster.spec.smoke.pre_pull


def pull_ref(cluster: Cluster) -> str:
    """The smoke image under the name containerd's CRI gives it, so the kubelet finds what the node pulled:
    PullImage and the lookup before a pull key the image store by distribution/reference's
    ``ParseDockerRef`` (containerd internal/cri/server/images/image_pull.go, service.go ``LocalResolve``).
    A first component without a dot or a colon, other than ``localhost``, is a Docker Hub repository
    (``docker.io/``, single names under ``library/``); no tag and no digest means ``:latest``; a tag next to
    a digest is dropped (the digest names the image)."""
    return cri_name(smoke_image(cluster))


def cri_name(ref: str) -> str:
    """``ref`` normalised as ``ParseDockerRef`` does (``ref`` already checked as an image reference)."""
    name, _, digest = ref.partition("@")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = (DOCKER_HUB if first == LEGACY_DOCKER_HUB else first), rest
    else:
        domain, path = DOCKER_HUB, name
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    repository, colon, tag = path.rpartition(":") if ":" in path.rsplit("/", 1)[-1] else (path, "", "")
    if digest:
        return f"{domain}/{repository}@{digest}"
    return f"{domain}/{repository}:{tag if colon else 'latest'}"


def pull_changes(
    ref: str, *, present: bool, pulling: bool, where: str, failed: str | None = None
) -> list[Change]:
    """Nothing when containerd has ``ref`` or its pull runs; else start the pull (``where``: by what)."""
    if present or pulling:
        return []
    again = f" again (the last pull {failed})" if failed else ""
    return [Change(f"pull the smoke image {ref}{again} in the background ({where}; spec.smoke.prePull)")]
