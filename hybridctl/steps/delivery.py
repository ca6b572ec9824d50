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

    ``download`` events tell the UI, the host log, the journal and JSON output what is being fetched,
    then, while it runs, the bytes so far and the rate (about once a second), and at the end how long it
    took, how many bytes and at what rate. With a local cache the same events cover the cache's own
    download (when it does not have the file yet) and the push to the node.
    """
    cache = local_cache(ctx)
    meter = _Meter(ctx, host.name, artifact.filename)
    if cache is None:
        ctx.emit("download", host=host.name, message=f"the node downloads {artifact.filename}")
        if platform.download(host, artifact.url, sha256, path, progress=meter.heard):
            meter.finished()
        return
    if platform.file_hashes(host, [path]).get(path) == sha256:
        return
    local = cache.fetch(artifact, sha256, progress=meter.heard)
    ctx.emit("download", host=host.name, message=f"pushing {artifact.filename}")
    meter.restart()
    platform.install_file(host, path, local, 0o644, progress=meter.heard)
    meter.finished(local.stat().st_size)


class _Meter:
    """Turns the bytes of one transfer into ``download`` events with ``bytes``, ``total`` and ``rate``."""

    def __init__(self, ctx: StepContext, host: str, name: str) -> None:
        self._ctx, self._host, self._name = ctx, host, name
        self._started = time.monotonic()
        self._bytes: int | None = None

    def restart(self) -> None:
        """Count the time from now (a push starts after the local cache has the file)."""
        self._started = time.monotonic()

    def heard(self, done: int, total: int | None) -> None:
        """A progress report from the node: ``done`` bytes so far of ``total``."""
        self._bytes = done
        seconds = self._seconds()
        of = f" of {_mb(total)}" if total is not None else ""
        message = f"{self._name}: {_mb(done)}{of}, {_mb(done / seconds)}/s"
        self._ctx.emit(
            "download", host=self._host, message=message, bytes=done, total=total, rate=round(done / seconds)
        )

    def finished(self, size: int | None = None) -> None:
        """The end event: how long, and (when known) how many bytes at what rate."""
        size = self._bytes if size is None else size
        seconds = self._seconds()
        amount = f" ({_mb(size)}, {_mb(size / seconds)}/s)" if size is not None else ""
        extra = {"bytes": size, "rate": round(size / seconds)} if size is not None else {}
        message = f"{self._name} in {seconds:.1f}s{amount}"
        self._ctx.emit("download", host=self._host, message=message, seconds=round(seconds, 3), **extra)

    def _seconds(self) -> float:
        return max(time.monotonic() - self._started, 0.001)


def _mb(size: float) -> str:
    return f"{size / 1e6:.1f} MB"
