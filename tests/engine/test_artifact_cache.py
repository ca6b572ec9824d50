"""The admin machine's artifact cache reports a slow download while it runs.

Tier: unit with a real loopback HTTP server. Real: urllib over TCP on 127.0.0.1 from the lab's mirror
server (tests/lab/artifacts.py), throttled to spread one file over 3 s; sha256 verification; the cache
directory. Emulated: nothing.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from hybridctl.artifact_cache import ArtifactCache
from hybridctl.artifacts import Artifact
from tests.lab.artifacts import ArtifactServer

UPSTREAM = "https://dl.k8s.io/v1.37.2/bin/linux/amd64/kubectl"


def test_a_slow_download_into_the_cache_reports_growing_bytes_then_the_total(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    with ArtifactServer(tmp_path / "mirror", "127.0.0.1") as server:
        digest = server.add(UPSTREAM, data)
        server.throttle(UPSTREAM, 3.0)
        url = f"{server.url}/{UPSTREAM.removeprefix('https://')}"
        artifact = Artifact("kubectl", url, "kubectl", sha256=digest)
        heard: list[tuple[float, int, int | None]] = []
        cache = ArtifactCache(tmp_path / "cache")
        local = cache.fetch(
            artifact, digest, progress=lambda done, total: heard.append((time.monotonic(), done, total))
        )
    assert hashlib.sha256(local.read_bytes()).hexdigest() == digest
    sizes = [done for _, done, _ in heard]
    assert len(sizes) >= 3 and sizes == sorted(sizes) and 0 < sizes[0] < len(data), heard
    assert sizes[-1] == len(data) and {total for _, _, total in heard} == {len(data)}
    assert heard[-1][0] - heard[0][0] >= 1.0, "reports come while the download runs, not all at the end"
