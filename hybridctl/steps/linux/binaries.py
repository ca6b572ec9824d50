"""Installing release artifacts on a Linux node: download, verify, unpack, and a record of what was installed.

The record (``/var/lib/hybridctl/artifacts/<name>.sha256sums``) names the artifact's sha256 and lists every
installed file with its own sha256, so a check can tell "wrong version" from "someone changed a binary"
without downloading anything, and a purge knows exactly which files are hybridctl's.
"""

from __future__ import annotations

from dataclasses import dataclass

from hybridctl.artifacts import Artifact
from hybridctl.commands import shell
from hybridctl.platforms.linux import LinuxPlatform
from hybridctl.steps.context import StepContext
from hybridctl.steps.delivery import deliver, sha256_of
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux.common import HYBRIDCTL_STATE

RECORDS = f"{HYBRIDCTL_STATE}/artifacts"
CACHE = "/var/cache/hybridctl"
_INSTALL_BINARY = """\
set -eu
src=$1 dest=$2
mkdir -p -- "$(dirname -- "$dest")"
install -m 0755 -T -- "$src" "$dest.hybridctl-new"
mv -f -- "$dest.hybridctl-new" "$dest"
"""


def record_path(name: str) -> str:
    """Where the record of artifact ``name`` lives on the node."""
    return f"{RECORDS}/{name}.sha256sums"


@dataclass(frozen=True)
class Record:
    """What an artifact installed: its sha256, where from, and each file with its sha256."""

    sha256: str
    url: str
    files: dict[str, str]

    def render(self) -> bytes:
        """The record file: a header line, then ``sha256sum`` lines."""
        lines = [f"# artifact {self.sha256} {self.url}"]
        lines += [f"{digest}  {path}" for path, digest in sorted(self.files.items())]
        return ("\n".join(lines) + "\n").encode()

    @classmethod
    def parse(cls, data: bytes) -> Record | None:
        """A record file's content; None when it is not one."""
        lines = data.decode("utf-8", errors="replace").splitlines()
        if not lines or not lines[0].startswith("# artifact "):
            return None
        header = lines[0].split()
        if len(header) < 4:
            return None
        files = {}
        for line in lines[1:]:
            digest, _, path = line.partition("  ")
            if path:
                files[path] = digest
        return cls(header[2], header[3], files)


def read_record(host: HostView, name: str) -> Record | None:
    """The record of artifact ``name`` on the host, if any."""
    data = host.get(record_path(name))
    return Record.parse(data) if data is not None else None


def wanted_sha256(ctx: StepContext, host: HostView, platform: LinuxPlatform, artifact: Artifact) -> str:
    """The artifact's sha256 (pinned, or from its published checksum file), learned once per run."""
    return sha256_of(ctx, host, platform, artifact)


def install_problems(host: HostView, platform: LinuxPlatform, name: str, sha256: str) -> list[str]:
    """Why the installed copy of ``name`` is not the wanted one (empty when it is)."""
    record = read_record(host, name)
    if record is None:
        return ["not installed"]
    if record.sha256 != sha256:
        return [f"installed from another release ({record.url})"]
    hashes = platform.file_hashes(host, sorted(record.files))
    return [
        f"{path} is {'missing' if hashes.get(path) is None else 'modified'}"
        for path, digest in sorted(record.files.items())
        if hashes.get(path) != digest
    ]


def install_archive(
    ctx: StepContext, host: HostHandle, platform: LinuxPlatform, artifact: Artifact, *, sha256: str, dest: str
) -> Record:
    """Download, verify and unpack a .tar.gz into ``dest``; writes and returns the record."""
    previous = read_record(host, artifact.name)
    cached = f"{CACHE}/{artifact.filename}"
    deliver(ctx, host, platform, artifact, sha256=sha256, path=cached)
    names = platform.extract(host, cached, dest)
    paths = [f"{dest.rstrip('/')}/{name}" for name in names]
    if previous is not None:  # files an older release shipped and this one does not
        platform.remove_paths(host, sorted(set(previous.files) - set(paths)))
    return _finish(host, platform, artifact, sha256, paths=paths, cached=cached)


def install_binary(
    ctx: StepContext, host: HostHandle, platform: LinuxPlatform, artifact: Artifact, *, sha256: str, dest: str
) -> Record:
    """Download and verify a single binary, install it as ``dest`` (0755); writes and returns the record."""
    cached = f"{CACHE}/{artifact.filename}"
    deliver(ctx, host, platform, artifact, sha256=sha256, path=cached)
    host.run(shell(_INSTALL_BINARY, cached, dest))
    return _finish(host, platform, artifact, sha256, paths=[dest], cached=cached)


def _finish(
    host: HostHandle,
    platform: LinuxPlatform,
    artifact: Artifact,
    sha256: str,
    *,
    paths: list[str],
    cached: str,
) -> Record:
    hashes = platform.file_hashes(host, paths)
    record = Record(sha256, artifact.url, {p: h or "-" for p, h in hashes.items()})
    platform.install_file(host, record_path(artifact.name), record.render(), 0o644)
    platform.remove_paths(host, [cached])  # verified and unpacked: the download is no longer needed
    return record
