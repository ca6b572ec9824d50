"""The command line itself: global options anywhere, help with examples, exit codes, errors, completion,
the offline plan and render from the CLI.

Tier: unit. Real: the CLI (in process through ``hybridctl.cli.run`` and as ``python -m hybridctl``
subprocesses). Simulated: nothing; no command here connects to a host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hybridctl.cli import app, run
from tests.support.inventory import write_inventory

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventories" / "example.yaml"
COMMANDS = ["validate", "render", "schema", "version", "ping", "plan", "up", "add-node", "down"]


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WINRM_PASSWORD", "example-password")


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "WINRM_PASSWORD": "example-password", **(env or {})}
    command = [sys.executable, "-m", "hybridctl", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120, check=False)


@pytest.mark.parametrize("command", [*COMMANDS, "hosts forget"])
def test_every_command_help_shows_an_example(command: str) -> None:
    result = cli(*command.split(), "--help")
    assert result.returncode == 0, result.stderr
    assert "Example" in result.stdout


def test_global_options_work_before_and_after_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--output", "json", "-i", str(EXAMPLE), "validate"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert run(["validate", "-i", str(EXAMPLE), "--output", "json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert before == after
    assert before["valid"] is True


def test_inventory_comes_from_the_environment_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hybridctl", "validate"],
        cwd=tmp_path,
        env={**os.environ, "WINRM_PASSWORD": "x", "HYBRIDCTL_INVENTORY": str(EXAMPLE)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "hybridctl", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert "no inventory: pass -i FILE or create one with `hybridctl init`" in missing.stderr
    assert "inventory.yaml" in missing.stderr


def test_usage_errors_exit_2_and_go_to_stderr() -> None:
    result = cli("validate", "--no-such-option")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "No such option" in result.stderr
    unknown = cli("ping", "-i", EXAMPLE, "nosuchhost")
    assert unknown.returncode == 2
    assert "nosuchhost" in unknown.stderr


def test_user_errors_show_no_traceback_unless_debug(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    plain = cli("render", "-i", missing, "-o", tmp_path / "out")
    assert plain.returncode == 2
    assert "Traceback" not in plain.stderr
    assert "no inventory" in plain.stderr
    bad_values = tmp_path / "values.yaml"
    bad_values.write_text("apiVersion: nope\n")
    debug = cli("render", "-i", EXAMPLE, "-o", tmp_path / "out", "--assume", bad_values, "--debug")
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr


def test_offline_plan_lists_the_steps_up_runs_in_order_without_connecting() -> None:
    result = cli("plan", "--offline", "-i", EXAMPLE, "--output", "json")
    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout)["steps"]
    names = [s["step"] for s in steps]
    assert names.index("kubeadm-init") < names.index("kubeadm-join") < names.index("pod-cidrs")
    assert names.index("pod-cidrs") < names.index("linux-pod-network")
    assert names[-1] == "admin-kubeconfig"
    hosts = {s["step"]: s["hosts"] for s in steps}
    assert hosts["kubeadm-init"] == ["cp1"]
    assert hosts["windows-kubelet"] == ["win1", "win2"]
    assert hosts["linux-pod-network"] == ["cp1", "lin1"]
    from hybridctl import actions
    from hybridctl.inventory import load_inventory

    cluster = load_inventory(EXAMPLE).require()
    assert names == list(dict.fromkeys(s.name for s, _ in actions.up(cluster).pairs(cluster)))


def test_vxlan_plan_with_windows_nodes_runs_flanneld_and_the_source_vip_instead_of_routes(
    tmp_path: Path,
) -> None:
    """vxlan mode with Windows nodes is planned (no longer refused): flannel on the first control plane,
    flanneld and the source VIP on the Windows nodes, no routes-mode pod network anywhere; kube-proxy
    comes after the source VIP it needs."""
    import yaml

    data = yaml.safe_load(EXAMPLE.read_text())
    data["spec"]["network"] = {"mode": "vxlan"}
    data["spec"]["artifacts"]["checksums"]["flanneld"] = "c" * 64
    inventory = tmp_path / "vxlan.yaml"
    inventory.write_text(yaml.safe_dump(data))
    result = cli("plan", "--offline", "-i", inventory, "--output", "json")
    assert result.returncode == 0, result.stderr
    hosts = {s["step"]: s["hosts"] for s in json.loads(result.stdout)["steps"]}
    assert hosts["flannel"] == ["cp1"]
    assert hosts["windows-flannel"] == hosts["windows-source-vip"] == ["win1", "win2"]
    assert "linux-pod-network" not in hosts and "windows-pod-network" not in hosts
    names = list(hosts)
    assert (
        names.index("windows-flannel") < names.index("windows-source-vip") < names.index("windows-kube-proxy")
    )


def test_linux_only_vxlan_plan_runs_flannel_instead_of_routes(tmp_path: Path) -> None:
    """A Linux-only vxlan inventory is planned: flannel on the first control plane after the pod CIDRs,
    no routes-mode pod network anywhere."""
    import yaml

    data = yaml.safe_load(EXAMPLE.read_text())
    data["spec"]["network"] = {"mode": "vxlan"}
    data["spec"]["hosts"] = [h for h in data["spec"]["hosts"] if h.get("os") != "windows"]
    inventory = tmp_path / "vxlan.yaml"
    inventory.write_text(yaml.safe_dump(data))
    result = cli("plan", "--offline", "-i", inventory, "--output", "json")
    assert result.returncode == 0, result.stderr
    hosts = {s["step"]: s["hosts"] for s in json.loads(result.stdout)["steps"]}
    assert hosts["flannel"] == ["cp1"] and "linux-pod-network" not in hosts
    names = list(hosts)
    assert names.index("pod-cidrs") < names.index("flannel") < names.index("cluster-objects")


def test_render_writes_files_and_a_manifest(tmp_path: Path) -> None:
    result = cli("render", "-i", EXAMPLE, "-o", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert {f["host"] for f in manifest["files"]} >= {"cp1", "lin1", "win1", "win2"}
    assert "placeholders" in result.stdout


def test_shell_completion_script_is_available() -> None:
    result = cli("--show-completion", env={"SHELL": "/bin/bash"})
    assert result.returncode == 0
    assert "complete" in result.stdout and "hybridctl" in result.stdout


def test_every_command_is_registered() -> None:
    import typer.main

    names = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert {*COMMANDS, "hosts"} <= names


def test_an_unexpected_error_is_one_line_and_its_traceback_needs_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hybridctl.verbs import validate

    def broken(env: object) -> int:
        raise ValueError("a bug")

    monkeypatch.setattr(validate, "run_validate", broken)
    assert run(["validate", "-i", str(EXAMPLE)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: internal error: ValueError: a bug\nhint: this is a bug in hybridctl")
    assert "Traceback" not in err
    assert run(["validate", "-i", str(EXAMPLE), "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_small_operator_details_version_name_lists_and_singular_counts(tmp_path: Path) -> None:
    """Issue 7 §2's small ones, as a user sees them: ``--version``; list arguments shown as ``NAME...``,
    not typer's ``<list[str]>``; "1 host", not "1 hosts"."""
    from hybridctl import __version__

    version = cli("--version")
    assert version.returncode == 0 and version.stdout.strip().endswith(__version__), version
    for command in ("ping", "add-node", "hosts forget"):
        shown = cli(*command.split(), "--help").stdout
        assert "NAME..." in shown and "list[str]" not in shown, shown
    key = tmp_path / "id_test"
    key.write_text("not read by validate\n")
    entry = {"name": "cp1", "address": "192.0.2.10", "role": "control-plane", "os": "linux"}
    entry["ssh"] = {"user": "root", "privateKeyFile": str(key)}
    inventory = write_inventory(tmp_path / "one.yaml", [entry])
    result = cli("validate", "-i", inventory)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid (1 host, " in result.stdout, result.stdout
