"""The day-2 verbs end to end, through the real CLI, on a hybrid lab cluster: kubeconfig, status and
support-bundle.

Tier: lab (root). Real: the hybridctl CLI in a subprocess, sshd test hosts in network namespaces,
paramiko, pypsrp over HTTPS to WinRM endpoints inside the Windows hosts' namespaces, file modes, tar.gz,
journalctl, ip and iptables-save on the Linux hosts (their routes and NAT rules are real kernel state).
Simulated: Kubernetes binaries, kubectl and systemd on the Linux hosts (tests/lab/linux_sim), the
Windows OS behind the endpoint (tests/support/winrm), the control plane (tests/lab/cluster_model.py).
The tests of this module run in order on one cluster: the first runs before ``up``.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridctl.inventory import load_inventory
from hybridctl.state import RunLock
from hybridctl.versions import DEFAULT_VERSION, KubeVersion
from tests.lab.artifacts import upstream_catalog
from tests.lab.e2e import HybridLab, events
from tests.lab.linux_sim.lab import SimLab
from tests.support.winrm import ScriptContext
from tests.support.winrm_fixtures import WinRMAccount, WinRMPki

CONTAINERD = KubeVersion.parse(DEFAULT_VERSION).release.containerd_default
pytestmark = [pytest.mark.root, pytest.mark.lab, pytest.mark.slow]


@pytest.fixture(scope="module")
def hybrid(
    sim_lab: SimLab,
    tmp_path_factory: pytest.TempPathFactory,
    winrm_pki: WinRMPki,
    winrm_account: WinRMAccount,
) -> Iterator[HybridLab]:
    """1 control plane, 1 Linux worker, 1 Windows worker; no cluster yet."""
    sim_lab.reset_model()
    lab = HybridLab(sim_lab, tmp_path_factory.mktemp("day2"), winrm_pki, winrm_account)
    try:
        cp, lin1 = lab.add_linux(2)
        (win1,) = lab.add_windows(1)
        inventory = lab.write_inventory([(cp, "control-plane"), (lin1, "worker"), (win1, "worker")])
        for url in _slow_artifacts(inventory, lab):
            sim_lab.mirror.throttle(url, SLOW_SECONDS)
        yield lab
    finally:
        for url in _slow_artifacts(lab.inventory_path, lab):
            sim_lab.mirror.throttle(url, None)
        lab.close()
        sim_lab.reset_model()


SLOW_SECONDS = 5.0
UP_OUTPUT: dict[str, str] = {}
"""The JSON output of the module's ``up`` (its download events are checked by a test of their own)."""


def _slow_artifacts(inventory: Path, lab: HybridLab) -> list[str]:
    """What the mirror serves slowly: the Linux CNI plugins tarball and the Windows kubelet."""
    cluster = load_inventory(inventory, env=lab.env()).cluster
    assert cluster is not None
    catalog = upstream_catalog(cluster)
    kubelet = next(a for a in catalog.windows_artifacts() if a.name == "kubelet")
    return [catalog.cni_plugins("linux").url, kubelet.url]


def test_kubeconfig_without_a_cluster_says_so(hybrid: HybridLab) -> None:
    result = hybrid.hybridctl("kubeconfig", "--accept-new-host-keys")
    assert result.returncode == 1, result.stderr
    assert "no cluster runs on this control plane" in result.stderr
    assert "hybridctl up" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (hybrid.state_dir / "admin.conf").exists()


def test_status_without_a_cluster_is_unhealthy(hybrid: HybridLab) -> None:
    result = hybrid.hybridctl("status", "--output", "json")
    assert result.returncode == 6, result.stderr
    (report,) = [e for e in events(result.stdout) if e["event"] == "status"]
    assert report["healthy"] is False
    cp = hybrid.linux[0].name
    assert {"subject": "cluster", "message": f"no cluster: kubeadm init has not run on {cp}"} in report[
        "problems"
    ]


DENIED = "Access is denied."


def test_ping_shows_a_powershell_error_record_exactly_as_up_does(hybrid: HybridLab) -> None:
    """win1's ``win/preflight`` (run by ``ping`` after the facts, and by ``up``) fails with the terminating
    error a non-administrator gets from ``Get-CimInstance`` (UnauthorizedAccessException, "Access is
    denied."): the error record travels over real PSRP to pypsrp, and ``ping`` prints the same failure
    block as ``up``: the command, its exit code, the error record's message and the host's log file, which
    holds the message too."""
    (win,) = hybrid.windows
    original = win.simulated.scripts.get("win/preflight")
    assert original is not None

    def denied(ctx: ScriptContext) -> None:
        ctx.fail(DENIED, "UnauthorizedAccessException")

    win.simulated.scripts.register("win/preflight", denied)
    try:
        ping = hybrid.hybridctl("ping", win.name, "--accept-new-host-keys")
        up = hybrid.hybridctl("up", "--yes", "--accept-new-host-keys")
    finally:
        win.simulated.scripts.register("win/preflight", original)
    assert ping.returncode != 0 and up.returncode != 0
    shown = _failure_block(ping.stdout + ping.stderr, win.name)
    assert shown == _failure_block(up.stdout + up.stderr, win.name), (ping.stdout, up.stdout)
    text = " ".join(" ".join(shown).split())
    assert "command: win/preflight" in text and "exit code: 1" in text and f"| {DENIED}" in text, shown
    log = re.search(r"log: (\S+)", text)
    assert log is not None and log.group(1).endswith(f"/{win.name}.log"), text
    logs = list((hybrid.state_dir / "logs").glob(f"*/{win.name}.log"))
    assert any(DENIED in path.read_text() for path in logs), "the host log holds the error record too"


def _failure_block(output: str, host: str) -> list[str]:
    """``host``'s preflight failure as printed (headline and its indented lines), run ids made equal."""
    lines = output.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if line.startswith(f"failed {host} / windows-preflight")), None
    )
    assert start is not None, output
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        block.append(line)
    return [re.sub(r"logs/[^/\s]+/", "logs/RUN/", line) for line in block]


def test_up_builds_the_cluster(hybrid: HybridLab) -> None:
    result = hybrid.hybridctl("up", "--yes", "--accept-new-host-keys", "--output", "json")
    UP_OUTPUT["stdout"] = result.stdout
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
    assert all(n["ready"] for n in hybrid.sim.model.nodes().values())


@pytest.mark.parametrize(("os_name", "artifact"), [("linux", "cni-plugins"), ("windows", "kubelet")])
def test_up_shows_a_slow_node_download_growing_with_its_rate(
    hybrid: HybridLab, os_name: str, artifact: str
) -> None:
    """The mirror spreads the CNI tarball (Linux node, curl over SSH) and kubelet.exe (Windows node,
    Write-Progress over WinRM) over 5 s: ``up``'s JSON events report the bytes so far and the rate about
    every second while the node downloads, then the total; the host's log records the same."""
    host = hybrid.linux[1].name if os_name == "linux" else hybrid.windows[0].name
    found = [
        e
        for e in events(UP_OUTPUT["stdout"])
        if e["event"] == "download" and e["host"] == host and artifact in str(e["message"])
    ]
    running = [e for e in found if "bytes" in e and "seconds" not in e]
    (end,) = [e for e in found if "seconds" in e]
    sizes = [e["bytes"] for e in running]
    assert len(sizes) >= 3, found
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1], "the byte count grows"
    assert 0 < sizes[0] < end["bytes"], "the first report comes while the download runs"
    assert all(e["total"] == end["bytes"] and e["rate"] > 0 for e in running)
    assert running[0]["time"] <= end["time"] - 2, "reported while running, not all at the end"
    assert end["seconds"] >= SLOW_SECONDS * 0.8 and end["rate"] > 0
    assert " MB/s" in running[0]["message"] and " MB/s" in end["message"]
    logs = [path.read_text() for path in (hybrid.state_dir / "logs").glob(f"*/{host}.log")]
    assert any(f"download: {end['message']}" in text for text in logs), "the host log has it too"


def test_kubeconfig_fetches_the_admin_kubeconfig_with_mode_0600(hybrid: HybridLab) -> None:
    cp = hybrid.linux[0]
    remote = cp.exec("cat", "/etc/kubernetes/admin.conf").stdout
    local = hybrid.state_dir / "admin.conf"
    local.unlink()
    target = hybrid.workdir / "kube" / "hybrid.conf"
    result = hybrid.hybridctl("kubeconfig", "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert f"export KUBECONFIG={target}" in result.stdout
    for path in (local, target):
        assert path.read_text() == remote
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "client-key-data" not in result.stdout + result.stderr


def test_kubeconfig_refreshes_a_stale_copy_and_reports_json(hybrid: HybridLab) -> None:
    target = hybrid.workdir / "stale.conf"
    target.write_text("stale\n")
    target.chmod(0o644)
    (hybrid.state_dir / "admin.conf").write_text("stale\n")
    result = hybrid.hybridctl("kubeconfig", "-o", str(target), "--output", "json")
    assert result.returncode == 0, result.stderr
    final = [e for e in events(result.stdout) if e["event"] == "kubeconfig"]
    assert final and final[0]["path"] == str(target) and final[0]["refreshed"] is True
    assert target.read_text() == hybrid.linux[0].exec("cat", "/etc/kubernetes/admin.conf").stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    again = hybrid.hybridctl("kubeconfig", "--output", "json")
    assert [e["refreshed"] for e in events(again.stdout) if e["event"] == "kubeconfig"] == [False]
    assert "client-key-data" not in json.dumps(events(again.stdout))


def _status(hybrid: HybridLab) -> tuple[int, dict[str, Any]]:
    result = hybrid.hybridctl("status", "--output", "json")
    (report,) = [e for e in events(result.stdout) if e["event"] == "status"]
    return result.returncode, report


def test_status_of_a_healthy_cluster_even_while_another_run_holds_the_lock(hybrid: HybridLab) -> None:
    with RunLock(hybrid.state_dir / "lock", "up").acquire():  # read-only: status never waits for a run
        code, report = _status(hybrid)
    assert code == 0, report["problems"]
    assert report["healthy"] is True and report["problems"] == []
    assert report["serverVersion"] == DEFAULT_VERSION and report["readyz"] == "ok"
    assert report["runtimeClasses"] == ["windows-2022"]
    nodes = {n["name"]: n for n in report["nodes"]}
    model = hybrid.sim.model.nodes()
    lin, win = nodes[hybrid.linux[1].name], nodes[hybrid.windows[0].name]
    assert lin["ready"] is True and lin["podCidr"] == model[lin["name"]]["podCIDR"]
    assert (lin["kubelet"], lin["kubeletOnHost"], lin["containerdOnHost"]) == (
        DEFAULT_VERSION,
        DEFAULT_VERSION,
        CONTAINERD,
    )
    assert lin["services"] == {"kubelet": "active", "containerd": "active"}
    assert win["ready"] is True and win["podCidr"] == model[win["name"]]["podCIDR"]
    assert (win["kubeletOnHost"], win["kubeProxy"], win["containerdOnHost"]) == (DEFAULT_VERSION,) * 2 + (
        CONTAINERD,
    )
    assert win["services"] == {"kubelet": "active", "kube-proxy": "active", "containerd": "active"}
    assert win["build"] == "10.0.20348" and win["runtimeClasses"] == ["windows-2022"]
    assert "os=windows:NoSchedule" in win["taints"]
    human = hybrid.hybridctl("status")
    assert human.returncode == 0, human.stderr
    assert "healthy" in human.stdout and "windows-2022" in human.stdout


def test_status_reports_a_stopped_kubelet_and_a_not_ready_node(hybrid: HybridLab) -> None:
    lin1, win1 = hybrid.linux[1], hybrid.windows[0]
    lin1.exec("systemctl", "stop", "containerd")
    win1.simulated.machine.services["kubelet"].status = "Stopped"
    try:
        _wait_not_ready(hybrid, lin1.name)
        code, report = _status(hybrid)
        assert code == 6
        problems = {(p["subject"], p["message"]) for p in report["problems"]}
        assert (lin1.name, "containerd is inactive on the host") in problems
        assert (win1.name, "kubelet is inactive (Stopped) on the host") in problems
        assert any(s == lin1.name and m.startswith("NotReady: ") and "runtime" in m for s, m in problems)
        human = hybrid.hybridctl("status")
        assert human.returncode == 6
        assert f"problem: {lin1.name}: containerd is inactive on the host" in human.stdout
        assert "unhealthy" in human.stdout
    finally:
        lin1.exec("systemctl", "start", "containerd")
        win1.simulated.machine.services["kubelet"].status = "Running"


def test_status_reports_an_api_server_that_is_not_ready(hybrid: HybridLab) -> None:
    """The kube-apiserver static pod manifest moved off the control plane (how an admin stops it on a
    real node): ``/readyz`` fails and ``status`` is unhealthy (exit 6), saying why. Simulated: kubectl's
    /readyz answers from the control plane's static pod manifests."""
    manifest = "/etc/kubernetes/manifests/kube-apiserver.yaml"
    control_plane = hybrid.linux[0]
    control_plane.exec("mv", manifest, "/root/kube-apiserver.yaml")
    try:
        code, report = _status(hybrid)
        assert code == 6 and report["readyz"] != "ok", report
        problems = {(p["subject"], p["message"]) for p in report["problems"]}
        assert any(s == "cluster" and m.startswith("the API server is not ready") for s, m in problems)
    finally:
        control_plane.exec("mv", "/root/kube-apiserver.yaml", manifest)
    assert _status(hybrid)[0] == 0


def _wait_not_ready(hybrid: HybridLab, name: str) -> None:
    deadline = time.monotonic() + 20
    while hybrid.sim.model.nodes()[name]["ready"]:
        assert time.monotonic() < deadline, f"{name} stayed Ready"
        time.sleep(0.2)


def _archive(path: Path) -> dict[str, str]:
    with tarfile.open(path) as archive:
        return {
            m.name.split("/", 1)[1]: archive.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }


def _plant_secrets(hybrid: HybridLab) -> list[str]:
    """Secrets where the bundle collects: the real ones the cluster holds, plus planted log lines."""
    win = hybrid.windows[0].simulated.machine
    lin1 = hybrid.linux[1]
    kubelet_conf = yaml.safe_load(lin1.exec("cat", "/etc/kubernetes/kubelet.conf").stdout)
    client_key = kubelet_conf["users"][0]["user"]["client-key-data"]
    proxy = yaml.safe_load(win.read_file("C:\\k\\kube-proxy.kubeconfig"))["users"][0]["user"]["token"]
    bootstrap = "q7w8e9.a1s2d3f4g5h6j7k8"
    private_key = hybrid.linux[0].keys.key.read_text().strip()
    log = f"E1203 kubelet: retrying with password {hybrid.account.password} and token {bootstrap}\n"
    win.write_file("C:\\var\\log\\kubelet\\kubelet.err.log", log.encode())
    event = {"time": "2026-12-03T14:00:00Z", "id": 7036, "level": "Information", "provider": "x"}
    win.extra["event_logs"] = {"System": [{**event, "message": f"service started with {proxy}"}]}
    lin1.exec("sh", "-c", 'printf "%s\\n" "$1" > /etc/cni/net.d/99-leak.conf', "plant", private_key)
    return [hybrid.account.password, bootstrap, client_key, proxy, *private_key.splitlines()[1:-1]]


def test_support_bundle_collects_every_host_and_masks_every_secret(hybrid: HybridLab) -> None:
    secrets = _plant_secrets(hybrid)
    target = hybrid.workdir / "support.tar.gz"
    with RunLock(hybrid.state_dir / "lock", "up").acquire():  # a stuck up is when a bundle is wanted
        result = hybrid.hybridctl("support-bundle", "-o", str(target))
    assert result.returncode == 0, result.stderr + result.stdout
    assert "complete; secrets masked" in result.stdout
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    files = _archive(target)
    lin, win = hybrid.linux[1].name, hybrid.windows[0].name
    for name in ("journal-kubelet.txt", "journal-containerd.txt", "routes.txt", "iptables-save.txt"):
        assert f"hosts/{lin}/{name}" in files, sorted(files)
    assert "HYBRIDCTL-POD-MASQ" in files[f"hosts/{lin}/iptables-save.txt"]
    assert f"hosts/{lin}/files/etc/kubernetes/kubelet.conf" in files
    assert f"hosts/{lin}/files/etc/cni/net.d/10-hybridctl-bridge.conflist" in files
    model = hybrid.sim.model.nodes()
    assert model[win]["podCIDR"] in files[f"hosts/{win}/hnsNetworks.json"]
    assert model[lin]["podCIDR"] in files[f"hosts/{win}/routes.json"]
    assert "hybridctl-" in files[f"hosts/{win}/firewallRules.json"]
    assert '"kube-proxy"' in files[f"hosts/{win}/services.json"]
    assert "service started with ***" in files[f"hosts/{win}/events-System.json"]
    assert "No events were found" in files[f"hosts/{win}/events-Microsoft-Windows-Hyper-V-Compute-Admin.json"]
    assert "password *** and token ***" in files[f"hosts/{win}/files/C/var/log/kubelet/kubelet.err.log"]
    assert json.loads(files["cluster/nodes.json"])["items"]
    assert "hybridctl/journal.jsonl" in files and "hybridctl/inventory.yaml" in files
    assert json.loads(files["manifest.json"])["complete"] is True
    leaks = [(s[:12], name) for name, text in files.items() for s in secrets if s in text]
    assert leaks == []
    logs = [
        p.read_text() for p in hybrid.state_dir.rglob("*") if p.is_file() and p.suffix in (".log", ".jsonl")
    ]
    assert [s[:12] for s in secrets if any(s in text for text in logs)] == []


def test_support_bundle_is_partial_when_a_host_is_unreachable(hybrid: HybridLab) -> None:
    document = yaml.safe_load(hybrid.inventory_path.read_text())
    gone = {**document["spec"]["hosts"][1], "name": "gone", "address": f"10.231.{hybrid.sim.hosts.slot}.199"}
    document["spec"]["hosts"].append(gone)
    inventory = hybrid.workdir / "with-gone.yaml"
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    target = hybrid.workdir / "partial.tar.gz"
    command = [sys.executable, "-m", "hybridctl", "support-bundle", "-i", str(inventory), "-o", str(target)]
    command += ["--state-dir", str(hybrid.state_dir), "--output", "json"]
    result = subprocess.run(
        command, env=hybrid.env(), capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 4, result.stderr
    (final,) = [e for e in events(result.stdout) if e["event"] == "support-bundle"]
    assert final["complete"] is False and final["hosts"]["gone"].startswith("partial: ")
    assert "unreachable" in final["hosts"]["gone"]
    files = _archive(target)
    assert "unreachable" in files["hosts/gone/NOT-COLLECTED.txt"]
    assert "gone: partial: " in files["README.txt"]
    assert f"hosts/{hybrid.linux[1].name}/routes.txt" in files
    existing = hybrid.hybridctl("support-bundle", "-o", str(target))
    assert existing.returncode == 2 and "never overwrites" in existing.stderr
