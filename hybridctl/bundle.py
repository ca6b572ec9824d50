"""The support bundle archive: what was collected, per host and for the cluster, plus hybridctl's own
journal and logs, every text passed through ``redact`` first, in one tar.gz (mode 0600, never replacing a
file). A host that could not be reached or read is named in ``README.txt``, ``manifest.json`` and the
report the verb prints; what the other hosts gave is still written.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridctl import __version__
from hybridctl.errors import UsageError
from hybridctl.masking import Masker
from hybridctl.redact import redact

RECENT_RUNS = 5


@dataclass
class Bundle:
    """The archive's files (path inside the archive -> text) and each host's collection status."""

    name: str
    files: dict[str, str] = field(default_factory=dict)
    hosts: dict[str, str] = field(default_factory=dict)
    """Host (or ``cluster``) -> ``complete``, or why it is partial."""

    @property
    def complete(self) -> bool:
        """Every host gave everything."""
        return all(status == "complete" for status in self.hosts.values())

    def add(self, folder: str, files: Mapping[str, str]) -> None:
        """Files under ``folder/``."""
        for name, text in files.items():
            self.files[f"{folder}/{name.lstrip('/')}"] = text


def default_path(cluster: str) -> Path:
    """``hybridctl-support-<cluster>-<UTC time>.tar.gz`` in the working directory."""
    return Path(f"hybridctl-support-{cluster}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.tar.gz")


def refuse_existing(path: Path) -> None:
    """UsageError, before anything is collected, when ``path`` exists or its directory is not writable."""
    if path.exists():
        raise UsageError(f"{path} exists; support-bundle never overwrites a file", hint="choose -o FILE")
    directory = path.parent if str(path.parent) else Path()
    if not directory.is_dir() or not os.access(directory, os.W_OK):
        raise UsageError(
            f"cannot write {path}: {directory} is not a writable directory", hint="choose -o FILE"
        )


def add_state(bundle: Bundle, state_root: Path, inventory: Path) -> None:
    """hybridctl's journal, the logs of its recent runs and the inventory file."""
    own: dict[str, str] = {}
    for source in [state_root / "journal.jsonl", *_recent_logs(state_root / "logs"), inventory]:
        if source.is_file():
            key = "inventory.yaml" if source == inventory else str(source.relative_to(state_root))
            own[key] = source.read_text(encoding="utf-8", errors="replace")
    bundle.add("hybridctl", own)


def _recent_logs(logs: Path) -> list[Path]:
    runs = sorted((d for d in logs.iterdir() if d.is_dir()), key=lambda d: d.name) if logs.is_dir() else []
    return [log for run in runs[-RECENT_RUNS:] for log in sorted(run.glob("*.log"))]


def summary(bundle: Bundle) -> dict[str, Any]:
    """``manifest.json``: when, what, and each host's status."""
    return {
        "cluster": bundle.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hybridctl": __version__,
        "complete": bundle.complete,
        "hosts": bundle.hosts,
        "files": sorted(bundle.files),
    }


def readme(bundle: Bundle) -> str:
    """``README.txt``: what the bundle holds and what is missing."""
    lines = [
        f"hybridctl support bundle of cluster {bundle.name} (hybridctl {__version__})",
        "Credentials (inventory secrets, tokens, private keys, kubeconfig keys) are masked as ***.",
        "",
        "hosts/<name>/   logs, configuration and network state of each host",
        "cluster/        nodes, events, kube-system pods, RuntimeClasses, DaemonSets (kubectl, JSON)",
        "hybridctl/      hybridctl's journal, the logs of its recent runs, the inventory",
        "",
    ]
    for host, status in bundle.hosts.items():
        lines.append(f"{host}: {status}")
    return "\n".join(lines) + "\n"


def write(bundle: Bundle, path: Path, masker: Masker) -> int:
    """Write the archive (mode 0600, exclusive create); returns its size in bytes."""
    files = {
        **bundle.files,
        "README.txt": readme(bundle),
        "manifest.json": json.dumps(summary(bundle), indent=2),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in sorted(files):
            _member(archive, f"{path.name.removesuffix('.tar.gz')}/{name}", redact(files[name], masker))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}", hint="choose -o FILE") from None
    with os.fdopen(fd, "wb") as stream:
        stream.write(buffer.getvalue())
    return len(buffer.getvalue())


def _member(archive: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode("utf-8")
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    archive.addfile(info, io.BytesIO(data))
