"""Every verb against every failure class of issue 7 §1: no traceback, no library log text, one-line errors.

Tier: ssh contract. Real: the hybridctl CLI in subprocesses, paramiko and pypsrp (with requests, urllib3 and
pyspnego) connecting to real TCP listeners inside test-host network namespaces that answer but are not SSH
or WinRM (one sends an HTTP error page, one resets every connection), and the real local file system for
the OS-error class (an existing file, /proc, a missing directory). Emulated: nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.hosts_fixtures import HostFactory
from tests.support.inventory import write_inventory
from tests.support.linux_hosts import TestHost

PORT = 47022
LISTENER = """
import socket, struct, sys
mode, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((address, port))
server.listen(64)
print("ready", flush=True)
while True:
    peer, _ = server.accept()
    if mode == "reset":
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        peer.sendall(b"HTTP/1.1 400 Bad Request\\r\\nContent-Length: 0\\r\\n\\r\\n")
    peer.close()
"""
# What the libraries print when their loggers reach the terminal (paramiko, urllib3, pypsrp, warnings).
LIBRARY_TEXT = (
    "Traceback",
    "Exception (client)",
    "Socket exception",
    "paramiko.",
    "urllib3",
    "pypsrp",
    "spnego",
    "Warning:",
    "Retrying (Retry",
)
CONNECTING = [
    ["ping"],
    ["plan"],
    ["up", "--yes"],
    ["add-node", "win1", "--yes"],
    ["down", "--yes"],
    ["kubeconfig"],
    ["status"],
    ["support-bundle", "-o", "bundle.tar.gz"],
]
DAY_2 = ("kubeconfig", "status", "support-bundle")  # their exit codes are their own (status: 6)
PINS = {"nssm": "0" * 64, "windows-cni": "1" * 64}


def hybridctl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hybridctl", *map(str, args)]
    env = {"PATH": "/usr/bin:/bin", "WINRM_PASSWORD": "no-traceback-secret", "HOME": str(cwd)}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=180, check=False)


def assert_clean(result: subprocess.CompletedProcess[str], *, json_output: bool) -> None:
    """No traceback and no library logger text anywhere; JSON output stays pure JSON Lines."""
    for text in (result.stdout, result.stderr):
        for marker in LIBRARY_TEXT:
            assert marker not in text, f"{marker!r} reached the terminal:\n{text}"
    if json_output:
        _assert_json(result.stdout)
    assert "no-traceback-secret" not in result.stdout + result.stderr


def _assert_json(text: str) -> None:
    """One JSON document (schema, validate, render) or JSON Lines (run events, errors)."""
    try:
        json.loads(text)
    except ValueError:
        for line in text.splitlines():
            json.loads(line)


@pytest.fixture(params=["not-a-server", "reset"])
def failing_hosts(
    request: pytest.FixtureRequest, linux_hosts: HostFactory
) -> Iterator[tuple[TestHost, TestHost]]:
    """Two hosts whose port PORT answers, but is not SSH or WinRM (HTTP error page, or reset)."""
    hosts = linux_hosts(2)
    listeners = [_listen(host, request.param) for host in hosts]
    yield hosts[0], hosts[1]
    for listener in listeners:
        listener.kill()
        listener.wait()


def _listen(host: TestHost, mode: str) -> subprocess.Popen[str]:
    argv = ["ip", "netns", "exec", host.netns, sys.executable, "-c", LISTENER, mode, host.address, str(PORT)]
    listener = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
    return listener


def _inventory(path: Path, linux: TestHost, windows: TestHost) -> Path:
    cp1 = {
        "name": "cp1",
        "address": linux.address,
        "role": "control-plane",
        "os": "linux",
        "ssh": {"user": "root", "port": PORT, "privateKeyFile": str(linux.keys.key)},
    }
    winrm = {"user": "Administrator", "password": "${env:WINRM_PASSWORD}", "port": PORT}
    win1 = {
        "name": "win1",
        "address": windows.address,
        "role": "worker",
        "os": "windows",
        "windowsVersion": 2022,
        "winrm": {**winrm, "verifyCertificate": False, "insecure": True},
    }
    return write_inventory(path, [cp1, win1], artifacts={"checksums": PINS})


@pytest.mark.parametrize("output", ["human", "json"])
def test_connecting_verbs_report_unusable_ports_in_one_line(
    failing_hosts: tuple[TestHost, TestHost], output: str, tmp_path: Path
) -> None:
    inventory = _inventory(tmp_path / "inv.yaml", *failing_hosts)
    flags = ["-i", str(inventory), "--output", output, "--accept-new-host-keys", "--continue-on-error"]
    with ThreadPoolExecutor(len(CONNECTING)) as pool:
        runs = list(pool.map(lambda verb: _run_in(tmp_path, verb, flags), CONNECTING))
    for verb, result in zip(CONNECTING, runs, strict=True):
        assert_clean(result, json_output=output == "json")
        if verb[0] in DAY_2:
            continue
        assert result.returncode == 4, (verb, result.stdout, result.stderr)
        shown = result.stdout + result.stderr
        assert "cp1" in shown and "win1" in shown, (verb, shown)


def _run_in(tmp_path: Path, verb: list[str], flags: list[str]) -> subprocess.CompletedProcess[str]:
    workdir = tmp_path / verb[0]
    workdir.mkdir()
    state = ["--state-dir", str(workdir / "state")]
    time.sleep(0.05 * len(verb))  # spread the first connections a little
    return hybridctl(*verb, *flags, *state, cwd=workdir)


ALL_VERBS = [
    ["validate"],
    ["render", "-o", "out"],
    ["schema"],
    ["version"],
    ["ping"],
    ["plan"],
    ["plan", "--offline"],
    ["up", "--yes"],
    ["add-node", "win1", "--yes"],
    ["down", "--yes"],
    ["hosts", "forget", "cp1"],
    ["kubeconfig"],
    ["status"],
    ["support-bundle"],
    ["smoke"],
]


@pytest.mark.parametrize("output", ["human", "json"])
@pytest.mark.parametrize("verb", ALL_VERBS, ids="-".join)
def test_every_verb_without_an_inventory_says_so_in_one_line(
    verb: list[str], output: str, tmp_path: Path
) -> None:
    result = hybridctl(*verb, "--output", output, cwd=tmp_path)
    assert_clean(result, json_output=output == "json")
    if verb[0] in ("schema", "version"):
        assert result.returncode == 0
        return
    assert result.returncode == 2, result.stderr
    if not (output == "json" and verb[0] == "validate"):
        assert "no inventory: pass -i FILE or create one with `hybridctl init`" in result.stderr
    if output == "json" and verb[0] == "validate":  # validate's own document, as for any inventory
        assert json.loads(result.stdout)["valid"] is False
    elif output == "json":
        event = json.loads(result.stdout.splitlines()[-1])
        assert event["event"] == "error" and event["exitCode"] == 2


def _offline_inventory(tmp_path: Path) -> Path:
    """cp1 and win1 at documentation addresses; nothing in these tests gets as far as connecting."""
    key = tmp_path / "id_test"
    key.write_text("not read before connecting\n")
    cp1 = {"name": "cp1", "address": "192.0.2.10", "role": "control-plane", "os": "linux"}
    cp1["ssh"] = {"user": "root", "privateKeyFile": str(key)}
    win1 = {"name": "win1", "address": "192.0.2.21", "role": "worker", "os": "windows"}
    win1 |= {"windowsVersion": 2022, "winrm": {"user": "Administrator", "password": "${env:WINRM_PASSWORD}"}}
    return write_inventory(tmp_path / "inv.yaml", [cp1, win1], artifacts={"checksums": PINS})


STATE_VERBS = [
    ["ping"],
    ["plan"],
    ["up", "--yes"],
    ["add-node", "win1", "--yes"],
    ["down", "--yes"],
    ["kubeconfig"],
    ["status"],
    ["support-bundle"],
    ["smoke"],
]


@pytest.mark.parametrize("verb", STATE_VERBS, ids="-".join)
@pytest.mark.parametrize("state_dir", ["/proc/nope", "FILE/below-a-file"])
def test_an_unusable_state_dir_is_one_line_naming_it(verb: list[str], state_dir: str, tmp_path: Path) -> None:
    (tmp_path / "FILE").write_text("a file, not a directory\n")
    state = state_dir.replace("FILE", str(tmp_path / "FILE"))
    result = hybridctl(*verb, "-i", _offline_inventory(tmp_path), "--state-dir", state, cwd=tmp_path)
    assert_clean(result, json_output=False)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"error: cannot use {state}"), result.stderr
    assert "hint: " in result.stderr
    assert len(result.stderr.splitlines()) == 2


@pytest.mark.parametrize("target", ["existing-file", "/proc/x", "/proc/x/y"])
@pytest.mark.parametrize("output", ["human", "json"])
def test_render_into_an_unusable_path_is_one_line_naming_it(target: str, output: str, tmp_path: Path) -> None:
    (tmp_path / "existing-file").write_text("keep me\n")
    inventory = _offline_inventory(tmp_path)
    result = hybridctl("render", "-i", inventory, "-o", target, "--output", output, cwd=tmp_path)
    assert_clean(result, json_output=output == "json")
    assert result.returncode == 1
    failing = "existing-file" if target == "existing-file" else "/proc/x"  # mkdir names the first that fails
    assert f"error: cannot use {failing}: " in result.stderr
    assert (tmp_path / "existing-file").read_text() == "keep me\n"
    if output == "json":
        assert json.loads(result.stdout)["event"] == "error"


def test_junit_report_into_an_unusable_path_is_refused_before_connecting(tmp_path: Path) -> None:
    inventory = _offline_inventory(tmp_path)
    result = hybridctl("plan", "-i", inventory, "--junit", "/proc/x/report.xml", cwd=tmp_path)
    assert_clean(result, json_output=False)
    assert result.returncode == 1
    assert "error: cannot use /proc/x" in result.stderr
    assert "run " not in result.stdout  # nothing ran: no run table


def test_forgetting_with_an_unusable_state_dir_says_nothing_was_recorded(tmp_path: Path) -> None:
    result = hybridctl(
        "hosts",
        "forget",
        "cp1",
        "-i",
        _offline_inventory(tmp_path),
        "--state-dir",
        "/proc/nope",
        cwd=tmp_path,
    )
    assert_clean(result, json_output=False)
    assert result.returncode == 0
    assert "nothing to forget" in result.stdout
