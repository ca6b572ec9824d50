"""``hybridctl up`` benchmark on the real-Kubernetes lab: time to all nodes Ready, and per phase.

Boots a control plane and a Linux worker (Debian 12 under systemd-nspawn, tests/lab/real) and, unless
``--windows 0``, the issue's two Windows workers (simulated WinRM hosts on the same bridge whose kubelet
and kube-proxy services run the real node agent: tests/lab/real/windows_members.py), serves the lab
mirror and registry, then times the unmodified CLI (``python -m hybridctl up --yes --output json``)
building a real cluster: kubeadm init and join, kube-proxy, CoreDNS, hybridctl's routes and CNI config,
the Windows steps over WinRM and the agents' TLS bootstrap against the real API server.
From the CLI's JSON events:

* ``to all Ready``: from starting the CLI to the end of its ``nodes-ready`` step (every node Ready);
* ``plan``: from starting the CLI to the start of the apply pass (connect, check every step);
* ``prepare``, ``bootstrap``, ``network``, ``finish``: from the first start to the last end of the steps
  of that phase of ``up`` (hybridctl.actions: preflight to packages; kubeadm init and join, the Windows
  kubelet; pod CIDRs and routes, the HNS network; cluster objects, nodes Ready, join cleanup, admin
  kubeconfig, kube-proxy and the boot task on Windows), on any host;
* ``up``: the CLI's whole wall time; ``re-run``: a second ``up`` on the converged cluster (no change).

Setup (building the components, booting hosts, filling the registry) is reported but not part of ``up``.
Each run uses fresh hosts. Prints a table, then one JSON line.

    sudo python bench/up.py [--runs 1] [--windows 2|0]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hybridctl.steps import cluster as cluster_steps
from hybridctl.steps import linux, windows
from tests.lab.real.artifacts import lab_binaries
from tests.lab.real.cluster import RealCluster
from tests.lab.real.hosts import SystemdHosts
from tests.lab.real.sources import LabSources, lab_sources
from tests.lab.real.windows_members import WindowsMembers, publish_windows
from tests.support.winrm_fixtures import WinRMAccount, make_pki

PHASES = {
    "prepare": [s.name for s in [*linux.PREPARE, *windows.PREPARE]],
    "bootstrap": [s.name for s in [*linux.BOOTSTRAP, *windows.JOIN]],
    "network": [cluster_steps.POD_CIDRS.name, *(s.name for s in [*linux.NETWORK, *windows.NETWORK])],
    "finish": [s.name for s in [*cluster_steps.FINISH, *windows.FINISH]],
}
COLUMNS = ("setup", "plan", *PHASES, "to all Ready", "up", "re-run")


def timed_up(cluster: RealCluster) -> tuple[float, list[dict[str, Any]]]:
    """Run ``up`` (JSON events); its start time (epoch seconds) and events. Fails loudly on a failed up."""
    started = time.time()
    result = cluster.hybridctl("up", "--yes", "--output", "json")
    if result.returncode != 0:
        raise SystemExit(
            f"hybridctl up failed ({result.returncode}):\n{result.stdout[-4000:]}{result.stderr}"
        )
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return started, events


def phase_times(started: float, events: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per phase, plan, and to the end of nodes-ready, from the apply pass's events."""
    applying = [
        e for e in events if e["event"] == "run-start" and not str(e.get("verb", "")).endswith("(plan)")
    ]
    apply_start = applying[-1]["time"] if applying else started
    after = [e for e in events if e["time"] >= apply_start]
    times = {"plan": apply_start - started}
    for phase, steps in PHASES.items():
        starts = [e["time"] for e in after if e["event"] == "step-start" and e["step"] in steps]
        ends = [e["time"] for e in after if e["event"] == "step-end" and e["step"] in steps]
        times[phase] = max(ends) - min(starts) if starts and ends else 0.0
    ready = [e["time"] for e in after if e["event"] == "step-end" and e["step"] == "nodes-ready"]
    times["to all Ready"] = max(ready) - started if ready else float("nan")
    return times


def add_windows(cluster: RealCluster, lab: SystemdHosts, cleanup: contextlib.ExitStack) -> None:
    """The two simulated Windows workers on the lab's bridge, their files in the mirror, in the inventory."""
    workdir = cluster.workdir / "windows"
    workdir.mkdir()
    account = WinRMAccount("vagrant", "Hc-" + secrets.token_urlsafe(12))
    (workdir / "pki").mkdir()
    members = cleanup.enter_context(
        WindowsMembers(lab.addressing, workdir, make_pki(workdir / "pki"), account)
    )
    release = cluster.document()["spec"]["kubernetes"]["version"]
    cluster.checksums = publish_windows(cluster.sources, release, workdir)
    cluster.extra_env = members.env()
    cluster.extra_hosts = members.entries()


def one_run(
    lab: SystemdHosts, sources: LabSources, kubectl: Path, workdir: Path, with_windows: bool
) -> dict[str, float]:
    """Fresh hosts, one ``up`` and one re-run; every column but setup's share of the sources."""
    booted = time.monotonic()
    control_plane, worker = hosts = lab.add(2)
    try:
        with contextlib.ExitStack() as cleanup:
            members = [(control_plane, "control-plane"), (worker, "worker")]
            cluster = RealCluster(Path(tempfile.mkdtemp(dir=workdir)), members, sources, kubectl)
            if with_windows:
                add_windows(cluster, lab, cleanup)
            cluster.write_inventory(cluster.extra_hosts)
            setup = time.monotonic() - booted
            started, events = timed_up(cluster)
            row = {"setup": setup, **phase_times(started, events), "up": events[-1]["time"] - started}
            rerun = time.time()
            timed_up(cluster)
            row["re-run"] = time.time() - rerun
            return row
    finally:
        lab.remove(hosts)


def report(rows: list[dict[str, float]], sources_setup: float, windows_count: int) -> None:
    """The table (medians over runs) and one JSON line."""
    medians = {c: statistics.median(r[c] for r in rows) for c in COLUMNS}
    shape = f"1 control plane + 1 Linux worker + {windows_count} Windows workers (emulated)"
    print(f"hybridctl up, real Kubernetes 1.37.2, {shape}, {len(rows)} run(s)")
    print(f"(setup = booting the hosts; the mirror and registry took {sources_setup:.1f} s once)")
    print(" | ".join(f"{c:>12}" for c in COLUMNS))
    print(" | ".join(f"{medians[c]:>10.1f} s" for c in COLUMNS))
    print(
        json.dumps(
            {"runs": rows, "median": medians, "sources_setup": sources_setup, "windows": windows_count}
        )
    )


def main() -> int:
    """Parse options, set up the lab once, run, report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--windows", type=int, choices=(0, 2), default=2, help="Windows workers")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root: the lab's hosts are systemd-nspawn containers in network namespaces")
    binaries = lab_binaries()
    workdir = Path(tempfile.mkdtemp(prefix="bench-up-"))
    with SystemdHosts(workdir / "hosts", prefix="bu") as lab:
        began = time.monotonic()
        with lab_sources(binaries, lab.addressing.gateway, workdir / "sources") as sources:
            sources_setup = time.monotonic() - began
            kubectl = binaries.kubernetes / "kubectl"
            with_windows = args.windows > 0
            rows = [one_run(lab, sources, kubectl, workdir, with_windows) for _ in range(args.runs)]
    report(rows, sources_setup, args.windows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
