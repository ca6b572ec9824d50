"""``hybridctl ping`` and ``hybridctl hosts forget`` through the real CLI against real test hosts.

Tier: ssh contract. Real: the hybridctl CLI in a subprocess, OpenSSH sshd on test hosts in network
namespaces, paramiko, host-key checking, the state directory. Simulated: nothing (the Windows side of
ping is covered with the WinRM endpoint in tests/steps).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hybridctl.transport.hostkeys import forget
from tests.support.hosts_fixtures import HostFactory
from tests.support.inventory import linux_entry, write_inventory

NO_SYSTEMD = "systemd is not running as the init system"
"""What preflight (which ping runs, as plan does) says about a test host: its PID 1 is sshd, not systemd."""


def connected(result: subprocess.CompletedProcess[str]) -> bool:
    """ping reached every host, logged in and ran preflight, which refuses test hosts (no systemd): exit 1."""
    shown = flat(result.stdout)
    return result.returncode == 1 and NO_SYSTEMD in shown and "not reached" not in shown


def flat(text: str) -> str:
    """``text`` with runs of whitespace as one space: table cells wrap at the terminal's width."""
    return " ".join(text.split())


def hybridctl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hybridctl", *map(str, args)],
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ping_reports_facts_and_records_host_keys_on_first_use(
    linux_hosts: HostFactory, tmp_path: Path
) -> None:
    a, b = linux_hosts(2)
    inventory = write_inventory(tmp_path / "inv.yaml", [linux_entry(a, "control-plane"), linux_entry(b)])
    strict = hybridctl("ping", "-i", inventory, cwd=tmp_path)
    assert strict.returncode == 1, strict.stderr
    assert "unknown host key" in strict.stdout + strict.stderr
    assert "--accept-new-host-keys" in strict.stdout + strict.stderr
    done = hybridctl("ping", "-i", inventory, "--accept-new-host-keys", "--output", "json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # preflight refuses test hosts: no systemd
    events = [json.loads(line) for line in done.stdout.splitlines()]
    facts = {e["host"]: e for e in events if e["event"] == "host-facts"}
    assert set(facts) == {a.name, b.name}
    assert facts[a.name]["hostname"] == a.name
    assert facts[a.name]["admin"] is True
    assert facts[a.name]["distribution"] == "debian"
    assert abs(facts[a.name]["skew"]) < 5
    assert NO_SYSTEMD in facts[a.name]["preflight"][0]
    known = tmp_path / ".hybridctl" / "lab" / "known_hosts"
    assert known.stat().st_mode & 0o777 == 0o600
    assert a.address in known.read_text()


def test_ping_human_output_and_unreachable_host(linux_hosts: HostFactory, tmp_path: Path) -> None:
    a, b = linux_hosts(2)
    inventory = write_inventory(tmp_path / "inv.yaml", [linux_entry(a, "control-plane"), linux_entry(b)])
    b.stop()
    result = hybridctl("ping", "-i", inventory, "--accept-new-host-keys", cwd=tmp_path)
    assert result.returncode == 1  # a's preflight refusal (no systemd) outranks b's unreachability (4)
    assert f"unreachable {b.name} / facts" in flat(result.stdout)
    assert "not reached (below)" in flat(result.stdout)
    assert a.name in result.stdout
    assert "debian" in result.stdout
    assert "unreachable" in (result.stdout + result.stderr)


def test_changed_host_key_is_refused_until_forgotten(linux_hosts: HostFactory, tmp_path: Path) -> None:
    (a,) = linux_hosts(1)
    inventory = write_inventory(tmp_path / "inv.yaml", [linux_entry(a, "control-plane")])
    known = tmp_path / ".hybridctl" / "lab" / "known_hosts"
    assert connected(hybridctl("ping", "-i", inventory, "--accept-new-host-keys", cwd=tmp_path))
    line = known.read_text().splitlines()[0].split()
    other = "AAAAC3NzaC1lZDI1NTE5AAAAIHh5c3R1cm5lZCBrZXkgb2YgYW5vdGhlciBob3N0IQ"
    known.write_text(" ".join([line[0], "ssh-ed25519", other, *line[3:]]) + "\n")
    changed = hybridctl("ping", "-i", inventory, "--accept-new-host-keys", cwd=tmp_path)
    assert changed.returncode != 0
    output = changed.stdout + changed.stderr
    assert "reached, refused (below)" in flat(changed.stdout)
    assert f"hybridctl hosts forget {a.name} -i {inventory}" in output
    forgotten = hybridctl("hosts", "forget", a.name, "-i", inventory, cwd=tmp_path)
    assert forgotten.returncode == 0, forgotten.stderr
    assert "removed 1 key" in forgotten.stdout
    assert connected(hybridctl("ping", "-i", inventory, "--accept-new-host-keys", cwd=tmp_path))


def test_forgetting_a_host_behind_a_bastion_keeps_the_bastion_key(
    linux_hosts: HostFactory, tmp_path: Path
) -> None:
    jump, target = linux_hosts(2)
    behind = linux_entry(target, "control-plane")
    behind["ssh"]["bastion"] = {"address": jump.address, "privateKeyFile": str(jump.keys.key)}
    inventory = write_inventory(tmp_path / "inv.yaml", [behind])
    known = tmp_path / ".hybridctl" / "lab" / "known_hosts"
    first = hybridctl("ping", "-i", inventory, "--accept-new-host-keys", cwd=tmp_path)
    assert connected(first), first.stdout + first.stderr
    recorded = {line.split()[0]: line.split()[-1] for line in known.read_text().splitlines()}
    assert recorded == {
        jump.address: f"hybridctl-host={jump.address}",
        target.address: f"hybridctl-host={target.name}",
    }
    forgotten = hybridctl("hosts", "forget", target.name, "-i", inventory, cwd=tmp_path)
    assert "removed 1 key" in forgotten.stdout
    assert jump.address in known.read_text() and target.address not in known.read_text()
    strict = hybridctl("ping", "-i", inventory, cwd=tmp_path)  # the bastion is still trusted
    assert strict.returncode == 1 and "reached, refused (below)" in flat(strict.stdout)
    assert f"{target.address} presented an unknown host key" in strict.stdout + strict.stderr
    assert hybridctl("hosts", "forget", jump.address, "-i", inventory, cwd=tmp_path).returncode == 0
    assert known.read_text() == ""


def test_forget_keeps_a_bastion_key_an_older_version_recorded_under_the_target_name(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(
        "10.9.0.5 ssh-ed25519 AAAAbastion hybridctl-host=w2\n10.9.0.22 ssh-ed25519 AAAAw2 hybridctl-host=w2\n"
    )
    assert forget(known, ["w2", "10.9.0.22"], keep={"10.9.0.5"}) == 1
    assert known.read_text() == "10.9.0.5 ssh-ed25519 AAAAbastion hybridctl-host=w2\n"
