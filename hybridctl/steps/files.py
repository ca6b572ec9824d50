"""Rendered files on hosts: what differs (with masked diffs) and installing what differs."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from hybridctl.inventory.models import Host
from hybridctl.platforms.base import Platform
from hybridctl.render import RenderedFile, render_host
from hybridctl.steps.base import Change
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.values import runtime_values

DIFF_LIMIT = 200


def rendered(ctx: StepContext, host: Host, purposes: Iterable[str]) -> list[RenderedFile]:
    """The files of ``host`` with the given purposes, rendered with what the run knows so far."""
    wanted = set(purposes)
    return [f for f in render_host(ctx.members, host, runtime_values(ctx)) if f.purpose in wanted]


def differing(platform: Platform, host: HostView, files: Sequence[RenderedFile]) -> list[RenderedFile]:
    """The files whose content on the host is not the rendered content."""
    hashes = platform.file_hashes(host, [f.target for f in files if f.target])
    return [f for f in files if f.target and hashes.get(f.target) != f.sha256]


def file_changes(platform: Platform, host: HostView, files: Sequence[RenderedFile]) -> list[Change]:
    """One change per differing file, with a unified diff unless the file holds secrets."""
    return [_change(host, f) for f in differing(platform, host, files)]


def changes_from(
    host: HostView, files: Sequence[RenderedFile], hashes: dict[str, str | None]
) -> list[Change]:
    """``file_changes`` from hashes already read (``platform.file_hashes`` of more paths at once)."""
    return [_change(host, f) for f in files if f.target and hashes.get(f.target) != f.sha256]


def _change(host: HostView, item: RenderedFile) -> Change:
    assert item.target is not None
    if item.placeholders:
        waiting = ", ".join(item.placeholders)
        return Change(f"write {item.target} (once {waiting} is known)")
    if item.secret:
        return Change(f"write {item.target} (holds credentials; diff not shown)")
    old = host.get(item.target)
    return Change(f"{'update' if old is not None else 'create'} {item.target}", unified_diff(item, old))


def unified_diff(item: RenderedFile, old: bytes | None) -> str:
    """A unified diff from the host's file to the rendered one, cut at DIFF_LIMIT lines."""
    before = (old or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
    after = item.content.decode("utf-8", errors="replace").splitlines(keepends=True)
    label = item.target or item.relpath
    lines = list(difflib.unified_diff(before, after, f"{label} (on host)", f"{label} (rendered)"))
    if len(lines) > DIFF_LIMIT:
        lines = [*lines[:DIFF_LIMIT], f"... {len(lines) - DIFF_LIMIT} more lines\n"]
    return "".join(lines)


def install(platform: Platform, host: HostHandle, files: Sequence[RenderedFile]) -> list[str]:
    """Write every differing file (refusing any with a placeholder); returns the paths written."""
    written = []
    for item in differing(platform, host, files):
        assert item.target is not None
        platform.install_file(host, item.target, item.installable(), item.mode)
        written.append(item.target)
    return written
