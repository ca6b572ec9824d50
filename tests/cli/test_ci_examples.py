"""Unit tier: the pipeline examples in ``examples/ci/`` parse and call only commands and flags that exist.

Real: PyYAML parsing each file, the real ``hybridctl <verb> --help`` of every hybridctl command line the
files run (in a subprocess), the shipped inventory they name. Emulated: nothing; the pipelines themselves
are not run here (no GitHub or GitLab runner).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "ci").glob("*.yaml"))
SUBCOMMANDS = {"hosts"}  # groups whose next word is the command
_CALL = re.compile(r"\bhybridctl\s+([^;&|)\n]*)")


def _scripts(node: Any) -> list[str]:
    """Every shell text in a workflow: ``run`` values (GitHub) and script lists (GitLab)."""
    if isinstance(node, dict):
        found = [node["run"]] if isinstance(node.get("run"), str) else []
        for key in ("script", "before_script", "after_script"):
            value = node.get(key)
            found += [value] if isinstance(value, str) else list(value or [])
        return found + [s for v in node.values() for s in _scripts(v)]
    if isinstance(node, list):
        return [s for item in node for s in _scripts(item)]
    return []


def _calls(path: Path) -> list[list[str]]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [shlex.split(m.group(1)) for text in _scripts(document) for m in _CALL.finditer(text)]


@cache
def _help(*command: str) -> str:
    argv = [sys.executable, "-m", "hybridctl", *command, "--help"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, f"hybridctl {' '.join(command)} --help: {result.stderr}"
    return result.stdout


def _command(words: list[str]) -> tuple[str, ...]:
    return tuple(words[:2]) if words[0] in SUBCOMMANDS else (words[0],)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_hybridctl_call_uses_an_existing_command_and_flags(path: Path) -> None:
    calls = _calls(path)
    verbs = {_command(c)[0] for c in calls}
    assert {"up", "down", "support-bundle"} <= verbs, verbs  # build, collect on failure, always tear down
    for words in calls:
        command = _command(words)
        shown = _help(*command)
        for flag in (w.split("=", 1)[0] for w in words[len(command) :] if w.startswith("-")):
            assert re.search(rf"(^|[\s,]){re.escape(flag)}([\s,=]|$)", shown, re.M), f"{path.name}: {flag}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_pipeline_builds_the_shipped_ci_inventory_with_smoke_and_junit(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert (
        "INVENTORY: inventories/ci-smoke.yaml" in text and (ROOT / "inventories" / "ci-smoke.yaml").exists()
    )
    up = [c for c in _calls(path) if c[0] == "up"]
    assert up and all({"--yes", "--smoke", "--junit"} <= set(c) for c in up)
    down = [c for c in _calls(path) if c[0] == "down"]
    assert down and all("--yes" in c for c in down)


def test_secrets_come_from_the_ci_secret_store() -> None:
    github = yaml.safe_load((ROOT / "examples/ci/github-actions.yaml").read_text(encoding="utf-8"))
    environment = github["jobs"]["smoke"]["env"]
    for name in ("WINRM_PASSWORD", "NSSM_SHA256", "WINDOWS_CNI_SHA256"):
        assert environment[name] == f"${{{{ secrets.{name} }}}}"
    steps = github["jobs"]["smoke"]["steps"]
    assert steps[-1]["if"] == "always()" and "hybridctl down" in steps[-1]["run"]  # the teardown is last
    gitlab = (ROOT / "examples/ci/gitlab-ci.yaml").read_text(encoding="utf-8")
    assert (
        "trap finish EXIT" in gitlab and "password" not in yaml.safe_load(gitlab)["hybrid-smoke"]["variables"]
    )
