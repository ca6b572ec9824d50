"""What every platform offers the OS-agnostic steps: file state, file installs and downloads on the node."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from hybridctl.steps.host import HostHandle, HostView
from hybridctl.transport.base import ByteProgress, ProgressSink

_BYTES = re.compile(r"(\d+) of (\d+|\?) bytes$")


def byte_reports(sink: ByteProgress) -> ProgressSink:
    """A ProgressSink that hands the download scripts' ``<done> of <total> bytes`` reports to ``sink``.

    Both scripts report that form: the Linux one as a stdout line, the Windows one as Write-Progress's status.
    """

    def hear(text: str) -> None:
        found = _BYTES.search(text.strip())
        if found is not None:
            total = found.group(2)
            sink(int(found.group(1)), None if total == "?" else int(total))

    return hear


class Platform(Protocol):
    """How to do common things on one kind of host; chosen once per host (see ``platform_for``)."""

    name: str

    def file_hashes(self, host: HostView, paths: Sequence[str]) -> dict[str, str | None]:
        """sha256 of each path (None when missing), read in one round trip."""
        ...

    def install_file(
        self, host: HostHandle, path: str, data: bytes | Path, mode: int, progress: ByteProgress | None = None
    ) -> None:
        """Write ``data`` to ``path`` atomically (parents created), with ``mode`` where the OS has modes.

        ``progress`` hears the bytes sent so far about once a second, and at the end.
        """
        ...

    def remove_paths(self, host: HostHandle, paths: Sequence[str]) -> list[str]:
        """Delete files or directory trees; returns those that existed."""
        ...

    def fetch_text(self, host: HostView, url: str) -> str:
        """Read a small text (a checksum file) from ``url`` on the node itself (a probe)."""
        ...

    def download(
        self, host: HostHandle, url: str, sha256: str, path: str, progress: ByteProgress | None = None
    ) -> bool:
        """The node downloads ``url`` to ``path`` and verifies it; False when ``path`` already matched.

        ``progress`` hears the bytes fetched so far about once a second, and once at the end.
        """
        ...
