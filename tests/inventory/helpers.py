"""Shared helpers for the inventory tests: example files, loading text, running the CLI in process."""

from __future__ import annotations

import copy
import functools
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr
from ruamel.yaml import YAML

from hybridctl.cli import run
from hybridctl.inventory.load import LoadResult, load_text
from tests.support.inventory import EXAMPLE_PINS, STAND_IN_KEY

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "inventories").glob("*.yaml"))
CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml"))
SECRET = "Ex4mple-W1nRM-p4ss"
TEST_ENV = {
    "WINRM_PASSWORD": SECRET,
    "CI_SSH_KEY": str(STAND_IN_KEY),
    "HYBRIDCTL_TEST_EMPTY": "",
    **EXAMPLE_PINS,
}
EXAMPLE_TEXT = (REPO / "inventories" / "example.yaml").read_text(encoding="utf-8")

_BLOCK = re.compile(
    r"^(?P<file>.+?)(?::(?P<line>\d+))?(?::(?P<column>\d+))?: (?P<severity>error|warning): (?P<text>.*)$"
)


def load(text: str, env: Mapping[str, str] | None = None) -> LoadResult:
    """Validate inventory ``text`` as if it were the file ``inv.yaml``."""
    return load_text(text, "inv.yaml", Path("inv.yaml"), TEST_ENV if env is None else env)


def edit(text: str, old: str, new: str) -> str:
    """``text`` with the first ``old`` replaced by ``new``; fails the test when ``old`` is not there."""
    assert old in text, f"edit target not found: {old!r}"
    return text.replace(old, new, 1)


@dataclass
class CliRun:
    """What one in-process run of ``hybridctl`` produced."""

    code: int
    stdout: str
    stderr: str


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliRun:
    """Run ``hybridctl ARGS`` in this process (the real typer app and exit-code mapping)."""
    capsys.readouterr()
    code = run(list(args))
    out = capsys.readouterr()
    return CliRun(code, out.out, out.err)


@dataclass
class Shown:
    """One problem as the human output shows it."""

    severity: str
    line: int | None
    text: str
    """Everything after ``severity: ``, hint included."""


def shown_problems(stderr: str) -> list[Shown]:
    """The problems in human output: ``FILE:LINE:COL: severity: ...`` plus an optional hint line."""
    found: list[Shown] = []
    for line in stderr.splitlines():
        match = _BLOCK.match(line)
        if match:
            number = match.group("line")
            found.append(Shown(match.group("severity"), int(number) if number else None, match.group("text")))
        elif line.startswith("    hint: ") and found:
            found[-1].text += "\n" + line.strip()
    return found


def revealed(cluster: BaseModel) -> Any:
    """``cluster.model_dump(by_alias=True, mode="json")`` with every secret's real value."""
    return _reveal(cluster.model_dump(by_alias=True, mode="json"), cluster.model_dump(by_alias=True))


def _reveal(as_json: Any, as_python: Any) -> Any:
    if isinstance(as_python, SecretStr):
        return as_python.get_secret_value()
    if isinstance(as_python, dict):
        return {key: _reveal(as_json[key], value) for key, value in as_python.items()}
    if isinstance(as_python, list):
        return [_reveal(j, p) for j, p in zip(as_json, as_python, strict=True)]
    return as_json


def to_yaml(data: Any) -> str:
    """``data`` as inventory YAML; a literal ``${`` is written ``$${`` so it is not read as a reference."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    # Double quotes with escapes for every string: ruamel writes some line-break characters (U+0085)
    # raw in other styles, where YAML folds them into spaces.
    yaml.representer.add_representer(str, _double_quoted)
    out = io.StringIO()
    yaml.dump(_escape_references(data), out)
    return out.getvalue()


def _double_quoted(representer: Any, text: str) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:str", text, style='"')


def _escape_references(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: _escape_references(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_escape_references(item) for item in data]
    return data.replace("${", "$${") if isinstance(data, str) else data


@functools.cache
def _example_data() -> dict[str, Any]:
    data: dict[str, Any] = revealed(load(EXAMPLE_TEXT).require())
    return data


def example_data() -> dict[str, Any]:
    """The example inventory as plain data (a fresh copy), secrets resolved from ``TEST_ENV``."""
    return copy.deepcopy(_example_data())
