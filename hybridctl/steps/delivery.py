"""Getting an artifact onto a node: the node downloads it itself from the artifact source, or, with
``artifacts.cacheDir``, hybridctl downloads it once into a local cache and pushes it to the node.

Either way the file is verified by sha256 (pinned in the inventory, or from the checksum file upstream
publishes) before anything installs it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from hybridctl.artifact_cache import ArtifactCache
from hybridctl.artifacts import Artifact, parse_checksum
from hybridctl.platforms.base import Platform
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView

CACHE_KEY = "artifact-cache"


def local_cache(ctx: StepContext) -> ArtifactCache | None:
    """The run's local artifact cache, when the inventory asks for one."""
    configured = ctx.cluster.spec.artifacts.cache_dir
    if not configured:
        return None
    base = Path(str(ctx.options.get("inventory_dir", ".")))
    directory = Path(os.path.expanduser(configured))
    cache: ArtifactCache = ctx.state.setdefault(
        CACHE_KEY, lambda: ArtifactCache(directory if directory.is_absolute() else base / directory)
    )
    return cache


def sha256_of(ctx: StepContext, host: HostView, platform: Platform, artifact: Artifact) -> str:
    """The artifact's sha256, learned once per run: pinned, else from its published checksum file."""
    artifact.require_checksum_source()
    if artifact.sha256 is not None:
        return artifact.sha256
    url = artifact.checksum_url or ""
    cache = local_cache(ctx)
    if cache is not None:
        found: str = ctx.state.setdefault(
            f"checksum/{url}/{artifact.filename}", lambda: cache.checksum(artifact)
        )
        return found
    fetched = lambda: parse_checksum(platform.fetch_text(host, url), artifact.filename)  # noqa: E731
    known: str = ctx.state.setdefault(f"checksum/{url}/{artifact.filename}", fetched)
    return known


def deliver(
    ctx: StepContext, host: HostHandle, platform: Platform, artifact: Artifact, *, sha256: str, path: str
) -> None:
    """Put the verified artifact at ``path`` on the node (nothing to do when it is already there).

    ``download`` events tell the UI what is being fetched, and at the end how long it took (and, for
    pushes from the local cache, how many bytes at what rate).
    """
    cache = local_cache(ctx)
    started = time.monotonic()
    if cache is None:
        ctx.emit("download", host=host.name, message=f"the node downloads {artifact.filename}")
        if platform.download(host, artifact.url, sha256, path):
            _downloaded(ctx, host.name, artifact.filename, started)
        return
    if platform.file_hashes(host, [path]).get(path) == sha256:
        return
    local = cache.fetch(artifact, sha256)
    ctx.emit("download", host=host.name, message=f"pushing {artifact.filename}")
    platform.install_file(host, path, local, 0o644)
    _downloaded(ctx, host.name, artifact.filename, started, local.stat().st_size)


def _downloaded(ctx: StepContext, host: str, name: str, started: float, size: int | None = None) -> None:
    seconds = max(time.monotonic() - started, 0.001)
    amount = f" ({size / 1e6:.1f} MB, {size / 1e6 / seconds:.1f} MB/s)" if size is not None else ""
    ctx.emit("download", host=host, message=f"{name} in {seconds:.1f}s{amount}", seconds=round(seconds, 3))
