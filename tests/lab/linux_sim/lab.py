"""The pytest side of the Linux lab: test hosts with the simulated toolchain, the artifact mirror, runs.

``SimLab`` owns one ``LinuxTestHosts`` lab (its own bridge slot) whose hosts all see the shared
directory (simulator code, ``lab.json``, the cluster model, the mirror). Each host added gets, inside its
private file system only: a tmpfs on /sys/module (so the simulated modprobe never touches the build
machine's kernel), /run/systemd/system (systemd's "booted" marker), the simulator wrappers in
/usr/local/sbin, and one swap entry in /etc/fstab that the simulated swap reports active.
``run_steps`` runs steps through the real SSHTransport, ConnectionPool and Runner.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hybridctl.connections import ConnectionPool
from hybridctl.events import Outcome, Recorder
from hybridctl.inventory.models import Cluster, Host
from hybridctl.masking import Masker
from hybridctl.runner import Runner, RunnerOptions, RunReport
from hybridctl.steps.base import Step
from hybridctl.steps.context import RunState, StepContext
from hybridctl.transport.base import CommandLog, NullLog, Transport
from hybridctl.transport.hostkeys import KnownHosts
from hybridctl.transport.ssh import SSHTransport
from tests.lab.artifacts import ArtifactServer, build_linux_artifacts
from tests.lab.cluster_model import ClusterModel
from tests.lab.linux_sim.sim_common import PROGRAMS
from tests.support.ci import missing, require_tool
from tests.support.hosts_fixtures import require_linux_hosts
from tests.support.inventory import kubernetes_spec, linux_entry
from tests.support.linux_hosts import LinuxTestHosts, TestHost
from tests.support.upstream import MODULES, shared_validators

SIM_SOURCE = Path(__file__).parent
MODEL_SOURCE = Path(__file__).parent.parent / "cluster_model.py"
LAB_SWAP = "/dev/hybridctl-lab-swap"
WATCHED = (
    "/etc/fstab",
    "/etc/modules-load.d",
    "/etc/sysctl.d",
    "/etc/containerd",
    "/etc/apt/sources.list.d",
    "/etc/apt/keyrings",
    "/etc/cni",
    "/etc/hybridctl",
    "/etc/kubernetes",
    "/etc/systemd/system",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/local/lib/systemd",
    "/opt/cni",
    "/var/lib/hybridctl",
    "/var/lib/hybridctl-sim",
    "/var/lib/kubelet",
    "/var/lib/etcd",
    "/var/lib/cni",
    "/var/cache/hybridctl",
    "/sys/module",
)
"""The places hybridctl (or the simulator standing in for a tool) writes to on a Linux host."""
_SNAPSHOT = """\
for p; do [ -e "$p" ] && find "$p" ! -type l ! -name calls.log -printf '%p %m\\n'; done | sort
for p; do [ -e "$p" ] && find "$p" -type f ! -name calls.log -exec sha256sum {} +; done | sort -k 2
"""
_PREPARE_HOST = """\
set -e
sim=$1; shift
mount -t tmpfs -o mode=0755 hybridctl-lab-modules /sys/module
mkdir -p /run/systemd/system /var/lib/hybridctl-sim /usr/local/sbin
for program; do
    printf '#!/bin/sh\\n# hybridctl lab: simulated %s\\nexec /usr/bin/python3 -I %s/main.py %s "$@"\\n' \\
        "$program" "$sim" "$program" > "/usr/local/sbin/$program"
    chmod 0755 "/usr/local/sbin/$program"
done
printf '%s none swap sw 0 0\\n' "$SWAP" >> /etc/fstab
printf '{"active": ["%s"]}\\n' "$SWAP" > /var/lib/hybridctl-sim/swap.json
"""


# Kubernetes minors whose real kubeadm the lab's simulated kubeadm delegates to.
UPSTREAM_MINORS = tuple(name.removeprefix("k8s-") for name in MODULES if name.startswith("k8s-"))


class SimLab:
    """Linux test hosts + simulated Kubernetes toolchain + artifact mirror; a context manager."""

    def __init__(self, workdir: Path, *, prefix: str = "hcl") -> None:
        self.workdir = workdir
        self.shared = workdir / "shared"
        self.hosts = LinuxTestHosts(0, workdir / "hosts", prefix=prefix, shared_dir=self.shared)
        self.server: ArtifactServer | None = None

    def __enter__(self) -> SimLab:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Claim a slot, copy the simulator, start the mirror on the lab bridge."""
        self.hosts.start()
        sim = self.shared / "sim"
        sim.mkdir(parents=True, exist_ok=True)
        for source in [*SIM_SOURCE.glob("sim_*.py"), SIM_SOURCE / "main.py", MODEL_SOURCE]:
            shutil.copy2(source, sim / source.name)
        (self.shared / "cluster").mkdir(exist_ok=True)
        upstream = self._upstream_tools()
        self.server = ArtifactServer(self.shared / "mirror", self.hosts.gateway).start()
        config = {"mirror": self.server.url, "upstream": upstream}
        (self.shared / "lab.json").write_text(json.dumps(config) + "\n")

    def _upstream_tools(self) -> dict[str, str]:
        """Real kubeadm and the kubelet-flag validator of each built Kubernetes minor, copied into the shared
        directory the hosts see; the simulated kubeadm delegates to them (``upstream/<minor>``)."""
        found = {}
        for minor in UPSTREAM_MINORS:
            built = shared_validators().kube(minor)
            target = self.shared / "upstream" / minor
            target.mkdir(parents=True, exist_ok=True)
            for binary in ("kubeadm", "validate"):
                shutil.copy2(built / binary, target / binary)
            found[minor] = f"upstream/{minor}"
        return found

    def close(self) -> None:
        """Stop the mirror, remove every host and the bridge (idempotent)."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.hosts.close()

    @property
    def mirror(self) -> ArtifactServer:
        """The running artifact server."""
        assert self.server is not None, "the lab is not started"
        return self.server

    @property
    def model(self) -> ClusterModel:
        """The shared cluster model the simulated kubeadm and kubectl use."""
        return ClusterModel(self.shared / "cluster" / "model.json")

    def reset_model(self) -> None:
        """Forget any cluster (between tests)."""
        (self.shared / "cluster" / "model.json").unlink(missing_ok=True)

    def add(self, count: int) -> list[TestHost]:
        """Start ``count`` hosts and install the simulator in each."""
        hosts = self.hosts.add(count)
        for host in hosts:
            host.exec(
                "env",
                f"SWAP={LAB_SWAP}",
                "sh",
                "-c",
                _PREPARE_HOST,
                "prepare",
                str(self.shared / "sim"),
                *PROGRAMS,
            )
        return hosts

    def remove(self, hosts: Sequence[TestHost]) -> None:
        """Stop and delete ``hosts``."""
        self.hosts.remove(hosts)

    def cluster(self, members: Sequence[tuple[Any, ...]], *, user: str = "root", **spec: Any) -> Cluster:
        """An inventory of ``(host, role[, user])`` using this lab's mirror; ``spec`` overrides spec keys."""
        entries = [linux_entry(m[0], m[1], m[2] if len(m) > 2 else user) for m in members]
        kubernetes = kubernetes_spec(**spec.pop("kubernetes", {}))
        artifacts = {"source": "mirror", "mirrorUrl": self.mirror.url, **spec.pop("artifacts", {})}
        document = {
            "apiVersion": "hybridctl.io/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": spec.pop("name", "lab")},
            "spec": {"kubernetes": kubernetes, "artifacts": artifacts, **spec, "hosts": entries},
        }
        cluster = Cluster.model_validate(document)
        build_linux_artifacts(self.mirror, cluster)
        return cluster


@dataclass
class LabRun:
    """What a run did: the report, its context (state, masker) and every event."""

    report: RunReport
    ctx: StepContext
    events: Recorder
    log: CommandLog = field(default_factory=NullLog)

    def changed(self) -> dict[tuple[str, str], list[str]]:
        """(host, step) -> change summaries, for every step that found something to change."""
        return {(r.host, r.step): [c.summary for c in r.changes] for r in self.report.results if r.changes}

    def failures(self) -> dict[tuple[str, str], str]:
        """(host, step) -> error, for failed, unreachable or skipped steps."""
        bad = (Outcome.FAILED, Outcome.UNREACHABLE, Outcome.SKIPPED)
        return {
            (r.host, r.step): f"{r.outcome.value}: {r.error}" for r in self.report.results if r.outcome in bad
        }

    def assert_ok(self) -> None:
        """Fail with every problem (and the failing command's stderr) unless all steps succeeded."""
        problems = [
            f"{r.host}/{r.step}: {r.outcome.value}: {r.error}\n{r.result.stderr if r.result else ''}"
            for r in self.report.results
            if r.outcome not in (Outcome.OK, Outcome.CHANGED)
        ]
        assert not problems, "\n".join(problems)


def run_steps(
    lab: SimLab,
    cluster: Cluster,
    steps: Sequence[Step],
    *,
    read_only: bool = False,
    hosts: Sequence[Host] | None = None,
    options: dict[str, Any] | None = None,
    state: RunState | None = None,
    log: CommandLog | None = None,
    retries: int = 0,
) -> LabRun:
    """Run ``steps`` on ``hosts`` (default: all) over real SSH; never raises for step failures."""
    masker, events = Masker(), Recorder()
    known = KnownHosts(lab.hosts.known_hosts, user_file=None)
    command_log = log or NullLog()

    def connect(host: Host) -> Transport:
        return SSHTransport.connect(
            host, known_hosts=known, log=command_log, masker=masker, connect_timeout=5
        )

    pool = ConnectionPool(connect)
    ctx = StepContext(cluster, pool, events, masker, state or RunState(), read_only, dict(options or {}))
    try:
        runner = Runner(
            ctx, list(hosts or cluster.hosts), list(steps), RunnerOptions(retries=retries, backoff=0.2)
        )
        report = runner.run()
    finally:
        pool.close()
    return LabRun(report, ctx, events, command_log)


@pytest.fixture(scope="session", name="sim_lab")
def sim_lab_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimLab]:
    """One lab for the session: its own bridge slot, the mirror, the simulator (hosts come per test)."""
    require_linux_hosts()
    require_tool("/usr/bin/python3", "apt-get install -y python3 python3-yaml")
    require_tool("iptables", "apt-get install -y iptables")
    require_tool("curl", "apt-get install -y curl")
    require_tool("/usr/lib/cni/bridge", "apt-get install -y containernetworking-plugins")
    if subprocess.run(["/usr/bin/python3", "-c", "import yaml"], capture_output=True, check=False).returncode:
        missing("PyYAML for /usr/bin/python3: apt-get install -y python3-yaml")
    with SimLab(tmp_path_factory.mktemp("sim-lab")) as lab:
        yield lab


@pytest.fixture(name="lab")
def lab_fixture(sim_lab: SimLab) -> Iterator[SimLab]:
    """The session's lab with no cluster; hosts added during the test are removed after it."""
    sim_lab.reset_model()
    before = list(sim_lab.hosts.hosts)
    yield sim_lab
    sim_lab.remove([h for h in sim_lab.hosts.hosts if h not in before])
    sim_lab.reset_model()


def host_snapshot(lab: SimLab, host: TestHost) -> dict[str, str]:
    """Everything a check must not change on ``host``: files, routes, NAT rules, sysctls, the cluster."""
    files = host.exec("sh", "-c", _SNAPSHOT, "snapshot", *WATCHED).stdout
    return {
        "files": files,
        "routes": host.exec("ip", "-4", "route", "show", "table", "all").stdout,
        "nat": host.exec("iptables", "-w", "-t", "nat", "-S").stdout,
        "sysctl": host.exec(
            "sysctl", "-n", "net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables"
        ).stdout,
        "model": json.dumps(lab.model.read(), sort_keys=True),
    }


def up_steps() -> list[Step]:
    """The Linux share of ``up``: prepare, bootstrap, pod CIDRs, pod network, cluster finish."""
    from hybridctl.steps import cluster as cluster_steps
    from hybridctl.steps import linux

    return [*linux.PREPARE, *linux.BOOTSTRAP, cluster_steps.POD_CIDRS, *linux.NETWORK, *cluster_steps.FINISH]


@dataclass
class Bootstrapped:
    """A cluster the lab built: its hosts (first one the control plane), inventory and run options."""

    hosts: list[TestHost]
    cluster: Cluster
    options: dict[str, Any]
    first: LabRun


def bootstrap(lab: SimLab, workers: int, state_dir: Path, **spec: Any) -> Bootstrapped:
    """One control plane and ``workers`` workers, built with ``up_steps`` (asserted to succeed)."""
    hosts = lab.add(1 + workers)
    members = [(hosts[0], "control-plane"), *((h, "worker") for h in hosts[1:])]
    cluster = lab.cluster(members, **spec)
    options = {"state_dir": str(state_dir)}
    first = run_steps(lab, cluster, up_steps(), options=options)
    first.assert_ok()
    return Bootstrapped(hosts, cluster, options, first)
