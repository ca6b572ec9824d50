"""Run state: the lock between processes, stale locks after kill -9, the journal, logs, atomic writes.

Tier: unit. Real: files, processes, signals (child Python processes hold locks and write journals).
Simulated: nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hybridctl.errors import LockHeldError
from hybridctl.events import Event
from hybridctl.masking import Masker
from hybridctl.state import HostLogs, Journal, RunLock, StateDir, atomic_write, read_journal
from hybridctl.transport.base import Result

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from hybridctl.state import RunLock, Journal
    from hybridctl.events import Event
    from hybridctl.masking import Masker
    lock = RunLock(Path(sys.argv[1]), "up").acquire()
    journal = Journal(Path(sys.argv[2]), Masker(["s3cret-password"]))
    print("locked", flush=True)
    i = 0
    while True:
        journal.emit(Event("step-end", {"host": "h", "step": f"s{i}", "note": "s3cret-password"}))
        i += 1
        time.sleep(0.001)
    """
)


def start_holder(tmp_path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "lock"), str(tmp_path / "journal.jsonl")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_run_fails_fast_naming_the_holder(tmp_path: Path) -> None:
    proc = start_holder(tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(LockHeldError) as caught:
            RunLock(tmp_path / "lock", "plan").acquire()
        assert time.monotonic() - started < 1
        assert f"pid {proc.pid}" in caught.value.message
        assert "running 'up'" in caught.value.message
        assert "--break-lock" in (caught.value.hint or "")
    finally:
        proc.kill()
        proc.wait()


def test_after_kill_9_the_lock_is_stale_and_the_journal_readable(tmp_path: Path) -> None:
    proc = start_holder(tmp_path)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lock = RunLock(tmp_path / "lock", "up").acquire()
    assert lock.stale_removed is not None
    assert lock.stale_removed.pid == proc.pid
    records = read_journal(tmp_path / "journal.jsonl")
    assert len(records) > 10
    assert all(r["event"] == "step-end" for r in records)
    assert "s3cret-password" not in (tmp_path / "journal.jsonl").read_text()
    lock.release()
    assert not (tmp_path / "lock").exists()


def test_break_lock_takes_over_a_live_holder(tmp_path: Path) -> None:
    proc = start_holder(tmp_path)
    try:
        lock = RunLock(tmp_path / "lock", "up").acquire(break_lock=True)
        assert lock.read() is not None
        assert lock.read().pid == os.getpid()  # type: ignore[union-attr]
    finally:
        proc.kill()
        proc.wait()


def test_a_torn_last_journal_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, Masker())
    journal.emit(Event("step-start", {"host": "a", "step": "x"}))
    journal.close()
    with path.open("a") as stream:
        stream.write('{"event": "step-end", "host": "a", "st')
    assert [r["event"] for r in read_journal(path)] == ["step-start"]


def test_host_logs_mask_secrets_and_are_private(tmp_path: Path) -> None:
    logs = HostLogs(tmp_path / "logs", Masker(["hunter2-password"]))
    logs.command("h1", "login --password hunter2-password", Result("x", 1, "out hunter2-password", "err"))
    text = logs.path("h1").read_text()
    assert "hunter2-password" not in text
    assert "h1 $ login --password ***" in text
    assert "h1 stdout: out ***" in text
    assert logs.path("h1").stat().st_mode & 0o777 == 0o600


def test_atomic_write_sets_mode_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "state" / "known_hosts"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o600
    assert os.listdir(target.parent) == ["known_hosts"]


def test_state_dir_layout(tmp_path: Path) -> None:
    state = StateDir(tmp_path / ".hybridctl" / "demo").ensure()
    assert state.root.stat().st_mode & 0o777 == 0o700
    assert state.known_hosts.name == "known_hosts"
    assert state.kubeconfig.name == "admin.conf"
    assert json.loads(json.dumps(str(state.log_dir("r1")))).endswith("logs/r1")


def test_output_of_sensitive_commands_never_reaches_the_logs(tmp_path: Path) -> None:
    from hybridctl.commands import posix
    from hybridctl.testing import FakeHost, FakeTransport

    logs = HostLogs(tmp_path / "logs", Masker())
    host = FakeHost("cp1")
    host.on("kubeadm", (0, '{"token": "abcdef.0123456789abcdef"}', ""))
    transport = FakeTransport(host, logs)
    result = transport.run(posix("kubeadm", "token", "list", "-o", "json", sensitive=True))
    assert "0123456789abcdef" in result.stdout, "the caller still gets the output"
    text = logs.path("cp1").read_text()
    assert "0123456789abcdef" not in text
    assert "output withheld" in text


def test_the_lock_names_the_verb_that_really_holds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """plan runs up's steps read-only; its lock (and what a second run is told) says plan, not up."""
    from hybridctl import actions
    from hybridctl.appenv import AppEnv
    from hybridctl.session import RunSettings
    from hybridctl.verbs import lifecycle
    from tests.engine.helpers import cluster

    seen: list[str] = []

    class _Stop(Exception):
        pass

    def session(env: object, cluster: object, settings: object, command: str) -> None:
        seen.append(command)
        raise _Stop

    monkeypatch.setattr(lifecycle, "Session", session)
    c = cluster(linux=1, windows=0)
    for run in (lifecycle.run_plan, lifecycle.run_verb):
        with pytest.raises(_Stop):
            run(AppEnv(), RunSettings(), actions.up(c), c, lifecycle.Confirmation())
    assert seen == ["plan", "up"]


def test_host_logs_prefix_every_line_and_the_logs_directory_is_private(tmp_path: Path) -> None:
    (tmp_path / "state" / "logs").mkdir(parents=True, mode=0o755)  # as an older hybridctl left it
    state = StateDir(tmp_path / "state").ensure()
    assert (state.root / "logs").stat().st_mode & 0o777 == 0o700
    logs = HostLogs(state.log_dir("r1"), Masker())
    logs.command("cp1", "set -e\necho one\necho two", Result("x", 0, "one\ntwo\n", ""))
    logs.event("cp1", "paramiko: Traceback\n  File x")
    lines = logs.path("cp1").read_text().splitlines()
    assert all(line.split()[1] == "cp1" for line in lines), lines
    assert [line.split(" ", 2)[2] for line in lines[:3]] == ["$ set -e", "> echo one", "> echo two"]
    assert lines[-1].endswith("#   File x")
