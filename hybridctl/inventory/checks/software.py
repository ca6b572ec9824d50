"""Software: Windows isolation, containerd, the pause image, artifacts and checksums."""

from __future__ import annotations

from collections.abc import Iterator

from hybridctl.inventory.checks.common import (
    DIGEST,
    EXACT_VERSION,
    HOSTS,
    IMAGE,
    REGISTRY,
    RELEASE,
    SHA256,
    URL,
    check_text,
)
from hybridctl.inventory.models import Cluster
from hybridctl.inventory.problems import Problem, error, warning
from hybridctl.inventory.schema_errors import closest
from hybridctl.versions import PAUSE_TAG, ContainerdVersion


def check_windows_features(cluster: Cluster) -> Iterator[Problem]:
    """Windows features that need something from the host (warnings), and the isolation list."""
    for index, host in enumerate(cluster.hosts):
        if host.is_windows and host.windows_version == 2019 and cluster.spec.network.mode == "vxlan":
            message = f"vxlan on Windows Server 2019 ({host.name}) needs KB4489899"
            hint = "preflight checks the hotfix; install the latest cumulative update"
            yield warning((*HOSTS, index, "windowsVersion"), message, hint)
    yield from _check_isolation(cluster)


def _check_isolation(cluster: Cluster) -> Iterator[Problem]:
    path, isolation = ("spec", "windows", "isolation"), cluster.spec.windows.isolation
    if "hyperv" in isolation and cluster.windows_hosts:
        message = "hyperv isolation needs the Hyper-V feature and CPU virtualisation (nested in VMs)"
        yield warning(path, message, "preflight checks it on every Windows host before anything changes")
    if "process" not in isolation:
        message = "process isolation is the default runtime and cannot be removed"
        yield error(path, message, "list process, optionally with hyperv")


def check_software(cluster: Cluster) -> Iterator[Problem]:
    """containerd version, pause image and artifact source."""
    yield from _check_containerd(cluster)
    yield from _check_image_repository(cluster)
    yield from _check_pause(cluster)
    yield from _check_artifacts(cluster)
    yield from _check_smoke_image(cluster)


def _check_containerd(cluster: Cluster) -> Iterator[Problem]:
    """An exact release on a containerd line recommended for the cluster's Kubernetes minor."""
    path, text = ("spec", "containerd", "version"), cluster.containerd_version
    release = cluster.release
    lines = ", ".join(f"{v}+" for v in release.containerd)
    # No leading 'v' here: the release URLs put their own 'v' in front of the version.
    if not RELEASE.fullmatch(text) or text.count(".") != 2:
        hint = f"e.g. {release.containerd_default}, without a 'v'"
        yield error(path, f"{text!r} is not an exact containerd version", hint)
    elif not release.containerd_supported(version := ContainerdVersion.parse(text)):
        # containerd's RELEASES.md "Kubernetes Support" matrix: which lines are tested with which minor.
        message = f"containerd {version} is not recommended for Kubernetes {release.series} ({lines})"
        hint = f"use {release.containerd_default}, or leave spec.containerd.version out to get it"
        yield error(path, message, hint)


def _check_image_repository(cluster: Cluster) -> Iterator[Problem]:
    """A registry reference host[:port][/path]: kubeadm appends /<image>:<tag> to it."""
    repo = cluster.spec.kubernetes.image_repository
    if repo is None:
        return
    path, hint = ("spec", "kubernetes", "imageRepository"), "e.g. registry.example:5000/k8s"
    if "://" in repo:
        yield error(
            path,
            f"{repo!r} has a scheme",
            f"write {repo.partition('://')[2]!r}: plain HTTP is "
            "set per registry in spec.containerd.registries",
        )
    elif "@" in repo or ("/" in repo and ":" in repo.rpartition("/")[2]):
        yield error(path, f"{repo!r} has a tag or digest", "kubeadm adds /<image>:<tag> itself; " + hint)
    elif repo.endswith("/"):
        yield error(path, f"{repo!r} ends with '/'", f"write {repo.rstrip('/')!r}")
    elif len(repo) > 255 or not REGISTRY.fullmatch(repo):
        yield error(path, f"{repo!r} is not a registry reference host[:port][/path]", hint)


def _check_pause(cluster: Cluster) -> Iterator[Problem]:
    image, repo = cluster.pause_image, cluster.spec.kubernetes.image_repository
    path = ("spec", "containerd", "pauseImage")
    if repo is not None and "pause_image" not in cluster.spec.containerd.model_fields_set:
        return  # <imageRepository>/pause:PAUSE_TAG: sound exactly when imageRepository is
    if not IMAGE.fullmatch(image):
        yield error(path, f"{image!r} is not an image reference", "e.g. registry.k8s.io/pause:3.10.2")
        return
    if repo is not None and not image.startswith(f"{repo}/"):
        message = f"the sandbox image {image} is not under imageRepository {repo}"
        yield warning(path, message, "leave pauseImage out to get <imageRepository>/pause:" + PAUSE_TAG)
    tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
    has_2025 = any(h.windows_version == 2025 for h in cluster.windows_hosts)
    if has_2025 and image.startswith("registry.k8s.io/pause:") and _older(tag, (3, 10, 2)):
        yield error(path, f"{image} has no Windows Server 2025 manifest", "use registry.k8s.io/pause:3.10.2")


def _older(tag: str, than: tuple[int, ...]) -> bool:
    try:
        parts = tuple(int(p) for p in tag.split("."))
    except ValueError:
        return False
    return parts < than


def _check_artifacts(cluster: Cluster) -> Iterator[Problem]:
    art = cluster.spec.artifacts
    path = ("spec", "artifacts")
    if art.source == "mirror" and not art.mirror_url:
        yield error(
            (*path, "source"), "source: mirror needs mirrorUrl", "mirrorUrl: https://mirror.example/k8s"
        )
    if art.mirror_url is not None and not URL.fullmatch(art.mirror_url):
        yield error(
            (*path, "mirrorUrl"),
            f"{art.mirror_url!r} is not an http(s) URL",
            "e.g. https://mirror.example/k8s",
        )
    if art.mirror_url is not None and art.source != "mirror":
        yield warning(
            (*path, "mirrorUrl"), "mirrorUrl is ignored unless source: mirror", "set source: mirror"
        )
    if art.cache_dir is not None:
        yield from check_text((*path, "cacheDir"), art.cache_dir, "cacheDir")
    for key, value in art.model_dump(by_alias=True).items():
        if key.endswith("Version") and value is not None and not RELEASE.fullmatch(value):
            yield error((*path, key), f"{value!r} is not a release version", "e.g. 1.6.2, without a 'v'")
    yield from _check_checksums(cluster)
    yield from _check_unverifiable(cluster)


def _check_unverifiable(cluster: Cluster) -> Iterator[Problem]:
    """Artifacts without a published checksum must be pinned, or ``up`` fails after the reboot."""
    if not EXACT_VERSION.fullmatch(cluster.spec.kubernetes.version):
        return
    from hybridctl.artifacts import Catalog  # artifacts imports the inventory models: import late

    for artifact in Catalog(cluster).unverifiable():
        message = f"{artifact.name} ({artifact.filename}) has no published checksum and no pinned one"
        hint = (
            f"download {artifact.url} from a source you trust, run 'sha256sum {artifact.filename}', "
            f"and pin it: spec.artifacts.checksums.{artifact.name}: <the 64 hex digits>"
        )
        yield error(("spec", "artifacts", "checksums"), message, hint)


def _check_checksums(cluster: Cluster) -> Iterator[Problem]:
    known = _artifact_names(cluster)
    for name, value in cluster.spec.artifacts.checksums.items():
        path = ("spec", "artifacts", "checksums", name)
        if not SHA256.fullmatch(value):
            message = f"the pinned checksum of {name!r} is not a sha256 (64 hex digits)"
            yield error(path, message, "pin the output of sha256sum on a trusted copy")
        if known and name not in known:
            close = closest(name, sorted(known))
            hint = f"did you mean '{close}'?" if close else "known: " + ", ".join(sorted(known))
            yield warning(path, f"hybridctl downloads no artifact called {name!r}: this pin is unused", hint)


def _artifact_names(cluster: Cluster) -> set[str]:
    """Names ``checksums`` may pin; empty when the Kubernetes version is too broken to build the catalog."""
    if not EXACT_VERSION.fullmatch(cluster.spec.kubernetes.version):
        return set()
    from hybridctl.artifacts import Catalog  # artifacts imports the inventory models: import late

    catalog = Catalog(cluster)
    return {a.name for a in catalog.linux_artifacts() + catalog.windows_artifacts()}


def _check_smoke_image(cluster: Cluster) -> Iterator[Problem]:
    """``spec.smoke.image``: an image reference, optionally pinned by a sha256 digest."""
    image = cluster.spec.smoke.image
    if image is None:
        return
    path = ("spec", "smoke", "image")
    name, _, digest = image.partition("@")
    if not IMAGE.fullmatch(name) or (digest and not DIGEST.fullmatch(digest)) or "@" in digest:
        hint = "e.g. registry.k8s.io/e2e-test-images/agnhost:2.63.0 or <repository>@sha256:<64 hex digits>"
        yield error(path, f"{image!r} is not an image reference", hint)
