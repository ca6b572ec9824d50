"""Fixtures of the PowerShell tests: a templates copy to plant mistakes in, and the Windows testbed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridctl.render import api as render_api
from hybridctl.render import engine as render_engine
from hybridctl.resources import templates_dir
from tests.steps.windows_fixtures import testbed

__all__ = ["templates_copy", "testbed"]


@pytest.fixture
def templates_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the shipped templates that rendering reads instead of the originals."""
    copy = tmp_path / "templates-copy"
    shutil.copytree(templates_dir(), copy)
    monkeypatch.setattr(render_engine, "templates_dir", lambda: copy)
    monkeypatch.setattr(render_api, "templates_dir", lambda: copy)
    render_engine.environment.cache_clear()
    yield copy
    render_engine.environment.cache_clear()


def plant(path: Path, old: str, new: str) -> None:
    """Replace ``old`` (which must be there) by ``new`` in a template or script of the copy."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is no longer in {path.name}: update the mutation"
    path.write_text(text.replace(old, new), encoding="utf-8")
