"""Binaries a Windows node downloads itself: which files of which artifact go where, and whether they did.

The node fetches each artifact from the configured source and verifies its sha256 (pinned, or from the
checksum file upstream publishes, which the node also fetches). ``win/install-artifact`` then extracts the
wanted files and records URL, sha256 and the installed files' hashes in ``C:\\k\\hybridctl\\artifacts.json``.
A check compares that record and the files' current hashes in one ``win/state`` call, so a converged node
needs no download and no checksum fetch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from hybridctl.artifacts import Artifact, Catalog
from hybridctl.commands import PsValue
from hybridctl.inventory.models import Cluster
from hybridctl.platforms.windows import apply_json, strings
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.delivery import deliver, sha256_of
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.windows.common import DOWNLOADS, PLATFORM, RECORD, WindowsStep

CHECKSUM_KEY = "artifact-sha256/"


@dataclass(frozen=True)
class ArtifactInstall:
    """Files (matched by the end of their path inside the artifact) to copy into ``destination``."""

    artifact: Artifact
    destination: str
    members: tuple[str, ...]
    path_entry: str = ""
    names: tuple[str, ...] = ()
    """The installed files' names, one per member; empty: each member keeps its own name."""

    @property
    def installed_names(self) -> list[str]:
        """The file name each member gets in ``destination``."""
        return list(self.names) or [member.rsplit("/", 1)[-1] for member in self.members]

    @property
    def targets(self) -> list[str]:
        """Where the members end up."""
        return [self.destination + "\\" + name for name in self.installed_names]

    @property
    def download_path(self) -> str:
        """Where the node keeps the downloaded artifact."""
        return f"{DOWNLOADS}\\{self.artifact.filename}"


def outdated(install: ArtifactInstall, state: dict[str, Any]) -> str | None:
    """Why ``install`` must run again, or None when the node has exactly what it should."""
    artifact = install.artifact
    record = (state.get("record") or {}).get(artifact.name)
    if not record:
        return f"install {artifact.name} from {artifact.url}"
    if record.get("url") != artifact.url:
        return f"replace {artifact.name} from {record.get('url')} with {artifact.url}"
    if artifact.sha256 and record.get("sha256") != artifact.sha256:
        return f"reinstall {artifact.name}: the pinned sha256 changed"
    files, recorded = state.get("files") or {}, record.get("files") or {}
    for target in install.targets:
        if files.get(target) is None or files.get(target) != recorded.get(target):
            return f"reinstall {artifact.name}: {target} is missing or was changed on the host"
    if install.path_entry and install.path_entry not in path_entries(state):
        return f"add {install.path_entry} to the machine PATH"
    return None


def path_entries(state: dict[str, Any]) -> list[str]:
    """The machine PATH of a ``win/state`` reply, split."""
    return [entry for entry in str(state.get("machinePath") or "").split(";") if entry]


def artifact_state(host: HostView, installs: list[ArtifactInstall]) -> dict[str, Any]:
    """The record and the installed files' hashes, in one round trip."""
    paths = [target for install in installs for target in install.targets]
    return PLATFORM.state(host, Paths=strings(paths), RecordPath=RECORD)


def expected_sha256(ctx: StepContext, host: HostView, artifact: Artifact) -> str:
    """The pinned sha256, else the one from the published checksum file (read once per run)."""
    return sha256_of(ctx, host, PLATFORM, artifact)


def install_artifact(ctx: StepContext, host: HostHandle, install: ArtifactInstall) -> None:
    """Download (verified), extract and record one artifact on the node."""
    artifact = install.artifact
    sha256 = expected_sha256(ctx, host, artifact)
    deliver(ctx, host, PLATFORM, artifact, sha256=sha256, path=install.download_path)
    params: dict[str, PsValue] = {
        "Name": artifact.name,
        "Source": install.download_path,
        "Url": artifact.url,
        "Sha256": sha256,
        "Destination": install.destination,
        "Files": strings(install.members),
        "Names": strings(install.installed_names),
        "RecordPath": RECORD,
        "PathEntry": install.path_entry,
    }
    apply_json(host, "install-artifact", params)


class ArtifactStep(WindowsStep):
    """Installs some artifacts; subclasses say which."""

    windows_timeout: ClassVar[float] = 1800.0

    def installs(self, cluster: Cluster) -> list[ArtifactInstall]:
        """What this step installs."""
        raise NotImplementedError

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """One change per artifact that is missing, outdated or altered on the node."""
        installs = self.installs(ctx.cluster)
        state = artifact_state(host, installs)
        return [Change(reason) for install in installs if (reason := outdated(install, state))]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Install what the fresh check found outdated."""
        installs = self.installs(ctx.cluster)
        state = artifact_state(host, installs)
        for install in installs:
            if outdated(install, state):
                install_artifact(ctx, host, install)


def catalog(cluster: Cluster) -> Catalog:
    """The artifact catalog of ``cluster``."""
    return Catalog(cluster)
