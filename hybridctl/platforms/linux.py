"""Linux primitives: files, downloads, archives, systemd units and the package family, as POSIX commands.

Every command is a constant ``sh -c`` script whose variable parts arrive as positional parameters, so no
value is ever pasted into a command line. Reads are marked ``probe`` and may run from a check.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hybridctl.commands import posix, shell
from hybridctl.errors import HybridctlError
from hybridctl.platforms.base import byte_reports
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.transport.base import ByteProgress

FAMILIES: dict[str, str] = {
    "debian": "apt",
    "ubuntu": "apt",
    "rhel": "dnf",
    "rocky": "dnf",
    "almalinux": "dnf",
}
"""os-release ``ID`` -> package family."""

OS_RELEASE = "/etc/os-release"

_HASHES = 'for p; do if [ -f "$p" ]; then h=$(sha256sum < "$p") && echo "${h%% *}"; else echo -; fi; done'
_REMOVE = 'for p; do if [ -e "$p" ] || [ -L "$p" ]; then rm -rf -- "$p" && printf "%s\\n" "$p"; fi; done'
_FETCH = """\
if command -v curl >/dev/null 2>&1; then exec curl -fsSL --retry 2 --max-time 120 -- "$1"; fi
if command -v wget >/dev/null 2>&1; then exec wget -q -T 120 -O - -- "$1"; fi
echo "neither curl nor wget is installed" >&2
exit 127
"""
# Downloads into a temporary name beside the target, checks the hash there, then renames into place:
# an interrupted download never leaves a file that a later check would take for the real one. While curl
# or wget runs, a background loop prints "progress: <done> of <total> bytes" every second (total from the
# Content-Length curl dumps with -D, "?" when unknown), and once more at the end: hybridctl reads those
# lines as they arrive. The loop's sleep writes to /dev/null, so killing the loop ends stdout at once.
_DOWNLOAD = """\
set -eu
url=$1 want=$2 dest=$3
if [ -f "$dest" ]; then
    got=$(sha256sum < "$dest")
    if [ "${got%% *}" = "$want" ]; then echo unchanged; exit 0; fi
fi
mkdir -p -- "$(dirname -- "$dest")"
tmp="$dest.hybridctl-partial"
head="$tmp.headers"
rm -f -- "$tmp" "$head"  # what an interrupted earlier download left
: > "$tmp"
report() {
    size=$(wc -c 2>/dev/null < "$tmp") || size=0
    total=$(grep -i '^content-length:' "$head" 2>/dev/null | tail -n 1 | tr -cd 0-9)
    echo "progress: $((size)) of ${total:-?} bytes"
}
(while sleep 1 > /dev/null 2>&1; do report; done) &
monitor=$!
trap 'kill "$monitor" 2>/dev/null; rm -f -- "$tmp" "$head"' EXIT
if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 --max-time 1800 -D "$head" -o "$tmp" -- "$url"
elif command -v wget >/dev/null 2>&1; then
    wget -q -T 120 -O "$tmp" -- "$url"
else
    echo "neither curl nor wget is installed" >&2; exit 127
fi
kill "$monitor" 2>/dev/null || true
report
got=$(sha256sum < "$tmp")
got=${got%% *}
if [ "$got" != "$want" ]; then echo "sha256 mismatch for $url: expected $want, got $got" >&2; exit 3; fi
chmod 0644 -- "$tmp"
mv -f -- "$tmp" "$dest"
rm -f -- "$head"
trap - EXIT
echo changed
"""
# Extracts next to the destination (same file system), then renames each file into place: renaming
# replaces a running binary safely where writing into it fails with "text file busy".
_EXTRACT = """\
set -eu
archive=$1 dest=$2 strip=$3
mkdir -p -- "$dest"
work=$(mktemp -d "$dest/.hybridctl-extract.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
tar -xzf "$archive" -C "$work" --no-same-owner --strip-components="$strip"
cd "$work"
find . -type f | sort | while read -r file; do
    file=${file#./}
    mkdir -p -- "$dest/$(dirname -- "$file")"
    chmod 0755 -- "$file"
    mv -f -- "$file" "$dest/$file"
    printf "%s\\n" "$file"
done
"""
_UNITS = """\
for u; do
    e=$(systemctl is-enabled "$u" 2>/dev/null) || true
    a=$(systemctl is-active "$u" 2>/dev/null) || true
    printf "%s %s %s\\n" "$u" "${e:-unknown}" "${a:-unknown}"
done
"""


class PlatformError(HybridctlError):
    """The host is not a Linux hybridctl can handle, or a primitive got an answer it cannot read."""


@dataclass(frozen=True)
class UnitState:
    """What systemd says about one unit."""

    enabled: str
    active: str

    @property
    def is_enabled(self) -> bool:
        """Enabled to start at boot."""
        return self.enabled == "enabled"

    @property
    def is_active(self) -> bool:
        """Running now (or, for a oneshot with RemainAfterExit, done)."""
        return self.active == "active"


@dataclass
class LinuxPlatform:
    """How to do things on a Linux host of one package family (``apt`` or ``dnf``)."""

    family: str = "apt"
    name: str = "linux"

    @classmethod
    def for_distribution(cls, distribution: str) -> LinuxPlatform:
        """The platform of an os-release ``ID``; PlatformError for distributions hybridctl does not know."""
        family = FAMILIES.get(distribution)
        if family is None:
            known = ", ".join(sorted(FAMILIES))
            raise PlatformError(f"Linux distribution {distribution!r} is not supported (known: {known})")
        return cls(family)

    @classmethod
    def detect(cls, host: HostView) -> LinuxPlatform:
        """Read /etc/os-release on the host and pick the platform (a file read, allowed in checks)."""
        return cls.for_distribution(os_release(host).get("ID", "unknown"))

    # --- the Platform protocol ------------------------------------------------------------------

    def file_hashes(self, host: HostView, paths: Sequence[str]) -> dict[str, str | None]:
        """sha256 of each path (None when it is not a regular file), in one round trip."""
        if not paths:
            return {}
        lines = host.run(shell(_HASHES, *paths, probe=True)).stdout.splitlines()
        if len(lines) != len(paths):
            raise PlatformError(f"{host.name}: expected {len(paths)} hashes, got {len(lines)} lines")
        return {p: (None if h == "-" else h) for p, h in zip(paths, lines, strict=True)}

    def install_file(
        self, host: HostHandle, path: str, data: bytes | Path, mode: int, progress: ByteProgress | None = None
    ) -> None:
        """Write ``data`` to ``path`` atomically with ``mode``, creating missing parent directories."""
        parent = path.rsplit("/", 1)[0] or "/"
        host.run(posix("mkdir", "-p", "--", parent))
        host.put(data, path, mode, progress=progress)

    def remove_paths(self, host: HostHandle, paths: Sequence[str]) -> list[str]:
        """Delete files or directory trees; returns those that existed."""
        if not paths:
            return []
        return host.run(shell(_REMOVE, *paths)).stdout.splitlines()

    def fetch_text(self, host: HostView, url: str) -> str:
        """Read a small text from ``url`` on the node (curl, else wget); a probe."""
        return host.run(shell(_FETCH, url, probe=True), timeout=180).stdout

    def download(
        self, host: HostHandle, url: str, sha256: str, path: str, progress: ByteProgress | None = None
    ) -> bool:
        """The node downloads ``url`` to ``path`` and verifies it; False when ``path`` already matched.

        ``progress`` hears the script's ``progress: <done> of <total> bytes`` lines.
        """
        heard = byte_reports(progress) if progress is not None else None
        command = shell(_DOWNLOAD, url, sha256.lower(), path)
        out = host.run(command, timeout=1900, progress=heard).stdout.split()
        return bool(out) and out[-1] == "changed"

    # --- Linux specifics --------------------------------------------------------------------------

    def extract(self, host: HostHandle, archive: str, dest: str, strip: int = 0) -> list[str]:
        """Unpack a .tar.gz into ``dest`` (files renamed into place, mode 0755); returns relative paths."""
        return host.run(shell(_EXTRACT, archive, dest, str(strip)), timeout=600).stdout.splitlines()

    def unit_states(self, host: HostView, units: Sequence[str]) -> dict[str, UnitState]:
        """``systemctl is-enabled`` / ``is-active`` of each unit, in one round trip."""
        if not units:
            return {}
        states = {}
        for line in host.run(shell(_UNITS, *units, probe=True)).stdout.splitlines():
            unit, enabled, active = [*line.split(), "unknown", "unknown"][:3]
            states[unit] = UnitState(enabled, active)
        return states

    def systemctl(self, host: HostHandle, *args: str) -> None:
        """Run ``systemctl ARGS``."""
        host.run(posix("systemctl", *args), timeout=300)

    def command_exists(self, host: HostView, name: str) -> bool:
        """Whether ``name`` is on the host's PATH (for root)."""
        check = shell('command -v "$1" >/dev/null 2>&1', name, probe=True)
        return host.run(check, check=False).ok


def os_release(host: HostView) -> dict[str, str]:
    """The host's /etc/os-release as a dict (values unquoted)."""
    data = host.get(OS_RELEASE) or host.get("/usr/lib/os-release")
    if data is None:
        raise PlatformError(f"{host.name}: /etc/os-release is missing; is this a Linux host?")
    return parse_os_release(data.decode("utf-8", errors="replace"))


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release(5) ``KEY=value`` lines with shell quoting."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, raw = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        try:
            words = shlex.split(raw)
        except ValueError:
            words = [raw]
        values[key] = words[0] if words else ""
    return values


def family_of(facts: Mapping[str, object]) -> str | None:
    """The package family recorded in a host's facts, if known."""
    family = facts.get("family")
    return family if isinstance(family, str) else None
