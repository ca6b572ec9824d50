"""linux-reset on a node whose kube-proxy still changes its iptables chains while ``kubeadm reset`` runs.

Tier: unit. Real: LinuxReset's check and apply, the commands they build, the Runner. Emulated: the host
(``hybridctl.testing.FakeHost``): the files and probes linux-reset reads, ``kubeadm reset`` and iptables'
chains. kube-proxy keeps syncing until ``kubeadm reset`` removes its pod (pkg/proxy/iptables: the chains
of a Service deleted meanwhile go at the next sync, a new Service's come), and iptables refuses to flush a
chain that no longer exists ("No chain/target/match by that name.", exit 1). The real hybrid vxlan lab
hit this on ``down``: the control plane's reset failed flushing a KUBE-EXT chain kube-proxy had removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hybridctl.commands import Command, PosixCommand
from hybridctl.events import Outcome
from hybridctl.runner import Runner, RunnerOptions
from hybridctl.steps.linux import LinuxReset
from hybridctl.steps.linux.cleanup import KUBE_STATE
from hybridctl.testing import FakeHost
from tests.engine.helpers import cluster, world

Reply = tuple[int, str, str]
LISTED = {"KUBE-SERVICES", "KUBE-SVC-GONE", "KUBE-SEP-GONE"}  # before the reset
NO_CHAIN = "iptables: No chain/target/match by that name.\n"


@dataclass
class Node:
    """The emulated host: paths that exist and the nat table's chains."""

    paths: set[str] = field(default_factory=lambda: set(KUBE_STATE[:1]))
    chains: set[str] = field(default_factory=lambda: set(LISTED))

    def install(self, fake: FakeHost) -> None:
        fake.files["/etc/os-release"] = b"ID=debian\nVERSION_ID=12\n"
        for program, responder in {
            "sh": self.sh,
            "ip": self.ip,
            "iptables": self.iptables,
            "kubeadm": self.kubeadm,
        }.items():
            fake.on(program, responder)

    def sh(self, command: Command, _timeout: float | None) -> Reply:
        argv = _argv(command)
        script, args = argv[2], argv[4:]
        if "systemctl is-enabled" in script:
            return 0, "".join(f"{unit} disabled inactive\n" for unit in args), ""
        if 'for p; do if [ -e "$p" ]' in script:
            return 0, "".join(f"{path}\n" for path in args if path in self.paths), ""
        if script.startswith("command -v"):  # kubeadm, nft, ipvsadm
            return 0, "", ""
        return 127, "", f"unexpected script {script!r}"

    def ip(self, command: Command, _timeout: float | None) -> Reply:
        return 0, "[]", ""  # no pod routes, no bridge or overlay links

    def iptables(self, command: Command, _timeout: float | None) -> Reply:
        argv = _argv(command)
        table = argv[argv.index("-t") + 1]
        chains = self.chains if table == "nat" else set()
        if "-S" in argv:
            return 0, "".join(f"-N {name}\n" for name in sorted(chains)), ""
        flag = next(f for f in ("-F", "-X") if f in argv)
        name = argv[argv.index(flag) + 1]
        if name not in chains:
            return 1, "", NO_CHAIN
        if flag == "-X":
            self.chains.discard(name)
        return 0, "", ""

    def kubeadm(self, command: Command, _timeout: float | None) -> Reply:
        """``kubeadm reset -f``: the node's state goes; kube-proxy syncs once more before its pod stops."""
        self.paths -= set(KUBE_STATE)
        self.chains -= {"KUBE-SVC-GONE", "KUBE-SEP-GONE"}
        self.chains.add("KUBE-SEP-NEW")
        return 0, "", ""


def _argv(command: Command) -> tuple[str, ...]:
    assert isinstance(command, PosixCommand)
    return command.argv


def test_chains_are_read_again_after_kubeadm_reset_stopped_kube_proxy() -> None:
    """The reset succeeds although two listed chains vanished during ``kubeadm reset`` and one appeared;
    no KUBE- chain is left, and a second reset finds nothing to do."""
    w = world(cluster(linux=1, windows=0))
    node = Node()
    node.install(w.fakes["lin0"])
    options = RunnerOptions(backoff=0.0, retries=0)
    report = Runner(w.ctx, w.cluster.hosts, [LinuxReset()], options).run()
    assert [r.outcome for r in report.results] == [Outcome.CHANGED], [r.error for r in report.results]
    assert node.chains == set()
    again = Runner(w.ctx, w.cluster.hosts, [LinuxReset()], options).run()
    assert [r.outcome for r in again.results] == [Outcome.OK]
