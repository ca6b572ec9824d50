"""Golden files: the whole render output of each example inventory, compared byte for byte.

Tier: render. Real: Jinja2 and the templates, the file system. Simulated: nothing.
Each inventory is rendered with its sample --assume file (tests/render/assume/<name>.yaml). The constant
PowerShell scripts (purpose ``script``) are left out: they are copied verbatim and owned elsewhere.
Update after an intended change: ``HYBRIDCTL_UPDATE_GOLDEN=1 pytest tests/render/test_golden.py``, then
review ``git diff tests/golden``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hybridctl.render import render_all, write_output
from tests.render import helpers

GOLDEN = helpers.ROOT / "tests" / "golden"
UPDATE = os.environ.get("HYBRIDCTL_UPDATE_GOLDEN") == "1"


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", helpers.INVENTORIES)
def test_golden(name: str, tmp_path: Path) -> None:
    files = [f for f in render_all(helpers.inventory(name), helpers.assume(name)) if f.purpose != "script"]
    write_output(files, tmp_path)
    expected_dir = GOLDEN / name
    if UPDATE:
        shutil.rmtree(expected_dir, ignore_errors=True)
        shutil.copytree(tmp_path, expected_dir)
    actual, expected = _tree(tmp_path), _tree(expected_dir)
    assert sorted(actual) == sorted(expected), "file set differs; see tests/golden/README.md to update"
    for relpath, content in actual.items():
        assert content == expected[relpath], (
            f"{relpath} differs from tests/golden/{name}; see tests/golden/README.md"
        )
