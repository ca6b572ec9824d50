"""The admin machine's artifact cache (``artifacts.cacheDir``): each artifact downloaded once, verified,
then pushed to every node that needs it (for nodes that cannot reach the artifact source themselves).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import urllib.request
from pathlib import Path

from hybridctl.artifacts import Artifact, ArtifactError, parse_checksum
from hybridctl.transport.base import ByteProgress, TransferReports

TIMEOUT = 60.0
CHUNK = 1024 * 1024
MAX_CHECKSUM_FILE = 64 * 1024


class ArtifactCache:
    """A directory of verified artifacts; safe to use from several hosts' threads at once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self.downloads: list[str] = []

    def checksum(self, artifact: Artifact) -> str:
        """The pinned sha256, else the one in the checksum file upstream publishes (fetched here)."""
        artifact.require_checksum_source()
        if artifact.sha256 is not None:
            return artifact.sha256
        assert artifact.checksum_url is not None
        with urllib.request.urlopen(artifact.checksum_url, timeout=TIMEOUT) as response:  # noqa: S310
            text = response.read(MAX_CHECKSUM_FILE).decode("utf-8", errors="replace")
        return parse_checksum(text, artifact.filename)

    def fetch(self, artifact: Artifact, sha256: str, progress: ByteProgress | None = None) -> Path:
        """The local, verified copy of ``artifact`` (downloaded now unless the cache has it).

        ``progress`` hears the bytes downloaded about once a second, and once at the end.
        """
        target = self.directory / sha256 / artifact.filename
        with self._lock_for(str(target)):
            if target.is_file() and _sha256(target) == sha256:
                return target
            self._download(artifact, sha256, target, progress)
            return target

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _download(self, artifact: Artifact, sha256: str, target: Path, progress: ByteProgress | None) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".download-", dir=target.parent)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(artifact.url, timeout=TIMEOUT) as src:  # noqa: S310
                length = src.headers.get("Content-Length")
                reports = TransferReports(progress, int(length) if length and length.isdigit() else None)
                while chunk := src.read1(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    reports.moved(len(chunk))
                reports.end()
            if digest.hexdigest() != sha256:
                raise ArtifactError(
                    f"{artifact.url}: sha256 {digest.hexdigest()} is not the expected {sha256}"
                )
            os.replace(name, target)
            self.downloads.append(artifact.url)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
