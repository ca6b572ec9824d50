"""The day-2 verbs' help: each shows an example; status documents its exit code.

Tier: unit. Real: the CLI as ``python -m hybridctl`` subprocesses. Simulated: nothing.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

DAY2 = ["init", "kubeconfig", "status", "support-bundle"]


@pytest.mark.parametrize("command", DAY2)
def test_day2_help_shows_an_example(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hybridctl", command, "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"Example: hybridctl {command}" in result.stdout
