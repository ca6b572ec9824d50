"""Unit tier: ``hybridctl validate`` as a user runs it: exit codes, human output, ``--output json``.

Real: the installed package started as ``python -m hybridctl`` in a subprocess (a few tests) or the same
typer app in process, YAML files on disk. Simulated: the environment variables the inventories read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inventory.helpers import EXAMPLE_TEXT, REPO, SECRET, TEST_ENV, cli, edit

EXAMPLE = REPO / "inventories" / "example.yaml"
PROBLEM_KEYS = {"severity", "file", "line", "column", "path", "message", "hint"}


def _hybridctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **TEST_ENV, **(env or {})}
    command = [sys.executable, "-m", "hybridctl", *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=60, check=False)


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def invalid(tmp_path: Path) -> Path:
    """An inventory with a schema error and a semantic error (line 11 and line 39)."""
    text = edit(EXAMPLE_TEXT, "podSubnet:", "podSubnett:")
    text = edit(text, "address: 192.168.10.21", "address: 192.168.10.10")
    path = tmp_path / "invalid.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_inventory_exits_0_as_a_process() -> None:
    done = _hybridctl("validate", "-i", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    assert "valid (4 hosts, 0 warnings)" in done.stdout
    assert done.stderr == ""


def test_an_invalid_inventory_exits_3_with_every_problem_and_no_traceback(invalid: Path) -> None:
    done = _hybridctl("validate", "-i", str(invalid))
    assert done.returncode == 3
    assert f"{invalid}:11:5: error: spec.kubernetes.podSubnett: unknown key 'podSubnett'" in done.stderr
    assert "hint: did you mean 'podSubnet'?" in done.stderr
    duplicate = "spec.hosts[2].address: host address '192.168.10.10' is already used by host 'cp1'"
    assert f"{invalid}:39:7: error: {duplicate}" in done.stderr
    assert "Traceback" not in done.stderr


def test_json_output_is_one_object_on_stdout_and_nothing_else(invalid: Path) -> None:
    done = _hybridctl("validate", "-i", str(invalid), "--output", "json")
    assert done.returncode == 3
    document = json.loads(done.stdout)
    assert set(document) == {"valid", "file", "problems"}
    assert document["valid"] is False and document["file"] == str(invalid)
    assert [(p["line"], p["path"]) for p in document["problems"]] == [
        (11, "spec.kubernetes.podSubnett"),
        (39, "spec.hosts[2].address"),
    ]
    assert all(set(p) == PROBLEM_KEYS for p in document["problems"])
    assert document["problems"][0] == {
        "severity": "error",
        "file": str(invalid),
        "line": 11,
        "column": 5,
        "path": "spec.kubernetes.podSubnett",
        "message": "unknown key 'podSubnett'",
        "hint": "did you mean 'podSubnet'?",
    }


def test_a_missing_file_is_a_usage_error_with_a_clear_message_and_no_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    done = _hybridctl("validate", "-i", str(missing))
    assert done.returncode == 2
    assert "error: no inventory: pass -i FILE or create one with `hybridctl init`" in done.stderr
    assert f"looked for {missing}" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_missing_file_with_json_output_is_still_one_json_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = cli(capsys, "validate", "-i", str(tmp_path / "missing.yaml"), "--output", "json")
    assert done.code == 2
    document = json.loads(done.stdout)
    assert document["valid"] is False
    assert [p["message"] for p in document["problems"]] == ["the inventory file does not exist"]


def test_malformed_yaml_exits_3_and_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(edit(EXAMPLE_TEXT, "    mode: routes", "    mode: [routes"), encoding="utf-8")
    done = cli(capsys, "validate", "-i", str(path))
    assert done.code == 3
    assert f"{path}:16:" in done.stderr and "not valid YAML" in done.stderr


def test_warnings_are_shown_and_do_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "warn.yaml"
    path.write_text(
        edit(EXAMPLE_TEXT, "isolation: [process]", "isolation: [process, hyperv]"), encoding="utf-8"
    )
    human = cli(capsys, "validate", "-i", str(path))
    assert human.code == 0
    assert f"{path}:20:5: warning: spec.windows.isolation: hyperv isolation needs" in human.stderr
    assert "valid (4 hosts, 1 warning)" in human.stdout
    as_json = cli(capsys, "validate", "-i", str(path), "--output", "json")
    assert as_json.code == 0
    document = json.loads(as_json.stdout)
    assert document["valid"] is True
    assert [p["severity"] for p in document["problems"]] == ["warning"]


def test_shipped_ha_example_is_valid_with_its_two_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    done = cli(capsys, "validate", "-i", str(REPO / "inventories" / "ha-vxlan.yaml"), "--output", "json")
    assert done.code == 0
    messages = [p["message"] for p in json.loads(done.stdout)["problems"]]
    assert len(messages) == 2
    assert "KB4489899" in messages[1] and "Hyper-V" in messages[0]


def test_an_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    done = cli(capsys, "validate", "-i", str(EXAMPLE), "--outptu", "json")
    assert done.code == 2
    assert "Traceback" not in done.stderr


def test_an_unset_secret_names_the_variable_and_never_prints_a_secret(tmp_path: Path) -> None:
    done = _hybridctl("validate", "-i", str(EXAMPLE), "--output", "json", env={"WINRM_PASSWORD": ""})
    assert done.returncode == 3
    messages = {p["message"] for p in json.loads(done.stdout)["problems"]}
    assert messages == {"environment variable WINRM_PASSWORD is empty"}
    assert SECRET not in done.stdout + done.stderr
