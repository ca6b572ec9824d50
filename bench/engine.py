"""Engine benchmark: hybridctl's engine against a plain paramiko floor (and tuned Ansible if installed).

The same provisioning-shaped workload runs on N real Linux test hosts (sshd in network namespaces,
tests/support/linux_hosts.py), N = 1, 10 and 50 by default. Per host:

* 3 uploads (2 kB, 200 kB, 20 MB) and 2 rendered templates (Jinja2, per-host values): one probe reads the
  five files' sha256; each file that differs is uploaded to a temporary name, checked by sha256 on the
  host, chmodded and renamed into place (the same install script both sides run);
* 12 short idempotent commands (``mkdir -p`` of 12 directories), behind one probe that lists the missing
  ones;

then a no-change re-run (the two probes only). "hybridctl" is the real engine: Session (lock, journal,
per-host logs, JSON events), Runner, two Steps, SSHTransport (one connection per host, TCP_NODELAY).
"floor" is a plain paramiko script: one connection per host, TCP_NODELAY, the same commands, one thread
per host. Whole workloads are timed (connections included), medians of --runs runs, interleaved.

    sudo python bench/engine.py [--hosts 1,10,50] [--runs 3] [--ansible]

Targets (issue 3): hybridctl within 1.3x of the floor at N = 10 and 50, first run and re-run; at least
10x faster than tuned Ansible at N = 10.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar

import jinja2
import paramiko

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hybridctl.appenv import AppEnv
from hybridctl.commands import posix, shell
from hybridctl.inventory import load_inventory
from hybridctl.session import RunSettings, Session
from hybridctl.steps.base import Change, Step
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.transport.ssh import INSTALL_SCRIPT
from tests.support.inventory import linux_entry, write_inventory
from tests.support.linux_hosts import LinuxTestHosts, TestHost

BASE = "/opt/bench"
SIZES = {"small.bin": 2 * 1024, "medium.bin": 200 * 1024, "large.bin": 20 * 1024 * 1024}
TEMPLATES = {
    "app.conf": "# rendered for {{ name }}\nname = {{ name }}\naddress = {{ address }}\nworkers = 4\n",
    "env.sh": "NODE_NAME={{ name }}\nNODE_IP={{ address }}\nexport NODE_NAME NODE_IP\n",
}
DIRS = [f"{BASE}/d{i:02d}" for i in range(1, 13)]
HASH_PROBE = 'for f; do if [ -f "$f" ]; then sha256sum -- "$f"; else echo "- $f"; fi; done'
DIR_PROBE = 'for d; do [ -d "$d" ] || echo "$d"; done'
_STATIC: dict[str, bytes] = {}


def static_files() -> dict[str, bytes]:
    """The three uploads, deterministic pseudo-random bytes (the same for every host)."""
    if not _STATIC:
        rng = random.Random(42)
        _STATIC.update({name: rng.randbytes(size) for name, size in SIZES.items()})
    return _STATIC


def files_for(name: str, address: str) -> dict[str, bytes]:
    """Every file a host gets: the static uploads plus its two rendered templates."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    rendered = {
        f: env.from_string(t).render(name=name, address=address).encode() for f, t in TEMPLATES.items()
    }
    return {f"{BASE}/{f}": data for f, data in {**static_files(), **rendered}.items()}


def parse_hashes(out: str) -> dict[str, str | None]:
    """``sha256sum`` lines (or ``- path`` for missing files) to a dict."""
    hashes: dict[str, str | None] = {}
    for line in out.splitlines():
        digest, path = line.split(maxsplit=1)
        hashes[path.lstrip("*")] = None if digest == "-" else digest
    return hashes


def differing(wanted: dict[str, bytes], hashes: dict[str, str | None]) -> list[str]:
    """Paths whose content on the host is not the wanted content."""
    return [p for p, data in wanted.items() if hashes.get(p) != hashlib.sha256(data).hexdigest()]


# --- hybridctl side ---------------------------------------------------------------------------------


class BenchFiles(Step):
    """Three uploads and two rendered templates, installed when they differ."""

    name: ClassVar[str] = "bench-files"
    title: ClassVar[str] = "files"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """One probe for the five hashes."""
        wanted = files_for(host.name, host.host.address)
        hashes = parse_hashes(host.run(shell(HASH_PROBE, *wanted, probe=True)).stdout)
        return [Change(f"write {path}") for path in differing(wanted, hashes)]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Upload what differs."""
        wanted = files_for(host.name, host.host.address)
        for change in changes:
            path = change.summary.removeprefix("write ")
            host.put(wanted[path], path, 0o644)


class BenchDirs(Step):
    """Twelve short idempotent commands behind one probe."""

    name: ClassVar[str] = "bench-dirs"
    title: ClassVar[str] = "directories"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """One probe lists the missing directories."""
        out = host.run(shell(DIR_PROBE, *DIRS, probe=True)).stdout
        return [Change(f"mkdir {d}") for d in out.split()]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """One command per missing directory."""
        for change in changes:
            host.run(posix("mkdir", "-p", change.summary.removeprefix("mkdir ")))


def hybridctl_run(inventory: Path, state: Path, workers: int) -> float:
    """One whole engine run (connect, check, apply) on every host; returns seconds."""
    cluster = load_inventory(inventory).require()
    env = AppEnv(inventory=inventory, output="json", stdout=io.StringIO(), stderr=io.StringIO())
    settings = RunSettings(state_dir=state, linux_parallel=workers)
    started = time.perf_counter()
    with Session(env, cluster, settings, "bench") as session:
        report = session.run(cluster.hosts, [BenchFiles(), BenchDirs()], read_only=False, verb="bench")
    elapsed = time.perf_counter() - started
    bad = [r for r in report.results if r.outcome.value not in ("ok", "changed")]
    if bad:
        raise SystemExit(f"hybridctl run failed: {bad[0].host} {bad[0].step}: {bad[0].error}")
    return elapsed


# --- floor side ------------------------------------------------------------------------------------


def _connect(host: TestHost) -> paramiko.SSHClient:
    sock = socket.create_connection((host.address, 22), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        host.address,
        username="root",
        key_filename=str(host.keys.key),
        sock=sock,
        allow_agent=False,
        look_for_keys=False,
    )
    return client


def _exec(client: paramiko.SSHClient, argv: Sequence[str]) -> str:
    import shlex

    _, stdout, stderr = client.exec_command(shlex.join(argv))
    out = stdout.read().decode()
    if stdout.channel.recv_exit_status() != 0:
        raise RuntimeError(f"{argv[:3]} failed: {stderr.read().decode()}")
    return out


def _put(client: paramiko.SSHClient, sftp: paramiko.SFTPClient, path: str, data: bytes) -> None:
    work = f"{os.path.dirname(path)}/.floor-{os.urandom(6).hex()}.tmp"
    with sftp.open(work, "wxb") as remote:
        remote.chmod(0o600)
        remote.set_pipelined(True)
        remote.write(data)
    digest = hashlib.sha256(data).hexdigest()
    _exec(client, ["sh", "-c", INSTALL_SCRIPT, "hybridctl", work, work, digest, "644", path])


def floor_host(host: TestHost) -> None:
    """The workload on one host with plain paramiko."""
    client = _connect(host)
    try:
        wanted = files_for(host.name, host.address)
        hashes = parse_hashes(_exec(client, ["sh", "-c", HASH_PROBE, "hybridctl", *wanted]))
        todo = differing(wanted, hashes)
        if todo:
            sftp = client.open_sftp()
            for path in todo:
                _put(client, sftp, path, wanted[path])
        for missing in _exec(client, ["sh", "-c", DIR_PROBE, "hybridctl", *DIRS]).split():
            _exec(client, ["mkdir", "-p", missing])
    finally:
        client.close()


def floor_run(hosts: Sequence[TestHost]) -> float:
    """The workload on every host, one thread per host; returns seconds."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        list(pool.map(floor_host, hosts))
    return time.perf_counter() - started


# --- ansible side -----------------------------------------------------------------------------------

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: static uploads
      ansible.builtin.copy: {src: "{{ item }}", dest: "/opt/bench/{{ item | basename }}", mode: "0644"}
      loop: [FILES]
    - name: templates
      ansible.builtin.template: {src: "{{ item }}", dest: "/opt/bench/{{ item | basename }}", mode: "0644"}
      loop: [TEMPLATES]
    - name: directories
      ansible.builtin.command: {cmd: "mkdir -p {{ item }}", creates: "{{ item }}"}
      loop: [DIRS]
"""


def ansible_setup(hosts: Sequence[TestHost], workdir: Path) -> Path | None:
    """Inventory, config and playbook for tuned Ansible; None when ansible-playbook is missing."""
    if shutil.which("ansible-playbook") is None:
        return None
    for name, data in static_files().items():
        (workdir / name).write_bytes(data)
    for name, text in TEMPLATES.items():
        (workdir / name).write_text(
            text.replace("{{ name }}", "{{ inventory_hostname }}").replace(
                "{{ address }}", "{{ ansible_host }}"
            )
        )
    lines = [f"{h.name} ansible_host={h.address}" for h in hosts]
    (workdir / "hosts.ini").write_text("[all]\n" + "\n".join(lines) + "\n")
    key = hosts[0].keys.key
    (workdir / "ansible.cfg").write_text(
        f"[defaults]\nhost_key_checking = False\ninterpreter_python = auto_silent\nforks = {len(hosts)}\n"
        "remote_user = root\n"
        f"private_key_file = {key}\n[ssh_connection]\npipelining = True\n"
        "ssh_args = -o ControlMaster=auto -o ControlPersist=60s\n"
    )
    playbook = PLAYBOOK.replace("[FILES]", str([str(workdir / n) for n in SIZES]))
    playbook = playbook.replace("[TEMPLATES]", str([str(workdir / n) for n in TEMPLATES]))
    (workdir / "play.yml").write_text(playbook.replace("[DIRS]", str(DIRS)))
    return workdir


def ansible_run(workdir: Path) -> float:
    """One tuned ansible-playbook run; returns seconds."""
    started = time.perf_counter()
    subprocess.run(
        ["ansible-playbook", "-i", "hosts.ini", "play.yml"],
        cwd=workdir,
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "ANSIBLE_CONFIG": str(workdir / "ansible.cfg")},
    )
    return time.perf_counter() - started


# --- driver -------------------------------------------------------------------------------------------


def reset(hosts: Sequence[TestHost]) -> None:
    """Remove the workload's files so the next run starts fresh (not timed)."""
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        list(pool.map(lambda h: h.exec("rm", "-rf", BASE), hosts))
        list(pool.map(lambda h: h.exec("mkdir", "-p", BASE), hosts))


def measure(runs: int, run: Callable[[], float], hosts: Sequence[TestHost]) -> tuple[float, float]:
    """Median first-run and re-run seconds over ``runs`` runs."""
    first, again = [], []
    for _ in range(runs):
        reset(hosts)
        first.append(run())
        again.append(run())
    return statistics.median(first), statistics.median(again)


def bench_size(
    lab: LinuxTestHosts, count: int, runs: int, with_ansible: bool
) -> dict[str, tuple[float, float]]:
    """All sides on ``count`` fresh hosts."""
    hosts = lab.add(count)
    try:
        with tempfile.TemporaryDirectory(prefix="hybridctl-bench-") as tmp:
            work = Path(tmp)
            inventory = write_inventory(
                work / "inv.yaml",
                [linux_entry(h, "control-plane" if i == 0 else "worker") for i, h in enumerate(hosts)],
                name="bench",
            )
            state = work / "state"
            state.mkdir()
            shutil.copy(lab.known_hosts, state / "known_hosts")
            results = {
                "floor": measure(runs, lambda: floor_run(hosts), hosts),
                "hybridctl": measure(runs, lambda: hybridctl_run(inventory, state, count), hosts),
            }
            ansible = ansible_setup(hosts, work) if with_ansible else None
            if ansible is not None:
                results["ansible"] = measure(runs, lambda: ansible_run(ansible), hosts)
            return results
    finally:
        lab.remove(hosts)


def report(count: int, results: dict[str, tuple[float, float]]) -> None:
    """Print medians and ratios for one N."""
    floor = results["floor"]
    print(f"N = {count}:")
    for side, (first, again) in results.items():
        ratio = (
            f"  ({first / floor[0]:.2f}x / {again / floor[1]:.2f}x of the floor)" if side != "floor" else ""
        )
        print(f"  {side:<10} first run {first:7.2f} s   re-run {again:7.2f} s{ratio}")
    if "ansible" in results:
        hx, an = results["hybridctl"], results["ansible"]
        print(f"  ansible / hybridctl: {an[0] / hx[0]:.1f}x first run, {an[1] / hx[1]:.1f}x re-run")


def main() -> int:
    """Parse options, run every size, print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", default="1,10,50", help="comma-separated host counts")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ansible", action="store_true", help="also run tuned Ansible (needs ansible-core)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root: the test hosts are network namespaces")
    counts = [int(n) for n in args.hosts.split(",")]
    with LinuxTestHosts(0, prefix="bench") as lab:
        for count in counts:
            report(count, bench_size(lab, count, args.runs, args.ansible))
    if args.ansible and shutil.which("ansible-playbook") is None:
        print("ansible: not installed (pip install ansible-core to compare)")
    return 0


if __name__ == "__main__":
    threading.excepthook = lambda a: print(f"thread failed: {a.exc_value}", file=sys.stderr)
    sys.exit(main())
