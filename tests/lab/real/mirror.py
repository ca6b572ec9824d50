"""Release tarballs laid out as their projects publish them, at the paths hybridctl's mirror mode asks for.

``artifacts.source: mirror`` rewrites ``https://github.com/containerd/containerd/releases/download/v2.1.4/
containerd-2.1.4-linux-amd64.tar.gz`` to ``<mirrorUrl>/github.com/containerd/...``; :func:`place` writes an
artifact (and the checksum file upstream publishes beside it) at that path under the mirror's root.

- containerd: ``bin/containerd``, ``bin/containerd-shim-runc-v2``, ``bin/ctr`` (the release tarball's
  ``bin/`` layout), checksum file ``<tarball>.sha256sum`` (``<hash>  <name>``).
- CNI plugins: the plugins at the top of ``cni-plugins-linux-amd64-v<version>.tgz``, ``<tarball>.sha256``.
- runc: the bare static binary ``runc.amd64``; ``runc.sha256sum`` beside it lists it (``<hash>  runc.amd64``)
  as runc's release page does.
- crictl: ``crictl`` at the top of ``crictl-v<version>-linux-amd64.tar.gz``, ``<tarball>.sha256``.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path
from urllib.parse import urlsplit

from hybridctl.artifacts import Artifact

EXECUTABLE = 0o755


def tarball(files: dict[str, Path]) -> bytes:
    """A gzip'd tar of ``files`` (name in the archive -> source), root-owned, executable."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        for directory in sorted({name.rsplit("/", 1)[0] for name in files if "/" in name}):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, EXECUTABLE
            archive.addfile(info)
        for name, source in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = source.stat().st_size, EXECUTABLE
            with source.open("rb") as handle:
                archive.addfile(info, handle)
    return buffer.getvalue()


def containerd_files(containerd: Path) -> dict[str, Path]:
    """The containerd release tarball's members."""
    return {f"bin/{name}": containerd / name for name in ("containerd", "containerd-shim-runc-v2", "ctr")}


def cni_files(cni: Path) -> dict[str, Path]:
    """The CNI plugins release tarball's members (``./bridge``, ...)."""
    return {f"./{p.name}": p for p in sorted(cni.iterdir()) if not p.name.startswith(".")}


def crictl_files(crictl: Path) -> dict[str, Path]:
    """The crictl release tarball's one member."""
    return {"crictl": crictl / "crictl"}


def local_path(root: Path, url: str) -> Path:
    """Where a mirror URL's file lives under the mirror's root directory served at its base URL."""
    return root / urlsplit(url).path.lstrip("/")


def place(root: Path, base_url: str, artifact: Artifact, data: bytes) -> Path:
    """Write ``artifact`` and its checksum file (when it has one) under ``root`` (served at ``base_url``)."""
    if not artifact.url.startswith(base_url):
        raise ValueError(f"{artifact.url} is not below the mirror {base_url}")
    target = local_path(root, artifact.url)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    if artifact.checksum_url:
        digest = hashlib.sha256(data).hexdigest()
        local_path(root, artifact.checksum_url).write_text(f"{digest}  {artifact.filename}\n")
    return target
