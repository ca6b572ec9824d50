"""Pure pieces of the Linux and cluster steps: parsers, the keyring, placement rules, records, the dnf path.

Tier: unit. Real: the functions under test. Simulated: hosts (``hybridctl.testing`` fake transport).
"""

from __future__ import annotations

import pytest

from hybridctl.commands import PosixCommand
from hybridctl.platforms import platform_for
from hybridctl.platforms.linux import LinuxPlatform, PlatformError, parse_os_release
from hybridctl.steps.cluster import placement
from hybridctl.steps.linux import repository as repo
from hybridctl.steps.linux.binaries import Record
from hybridctl.steps.linux.kube_packages import KubePackages
from hybridctl.steps.linux.swap import swap_lines, without_swap
from hybridctl.steps.values import facts_key
from tests.engine.helpers import cluster, world
from tests.lab.artifacts import armored_key


def test_os_release_and_the_package_family() -> None:
    values = parse_os_release('NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\n# comment\n')
    assert values["ID"] == "rocky" and values["NAME"] == "Rocky Linux"
    assert LinuxPlatform.for_distribution("rocky").family == "dnf"
    assert LinuxPlatform.for_distribution("ubuntu").family == "apt"
    with pytest.raises(PlatformError, match="arch"):
        LinuxPlatform.for_distribution("arch")
    c = cluster(1, 0)
    assert platform_for(c.hosts[0], {"distribution": "debian"}).name == "linux"


def test_dearmor_checks_the_crc_and_matches_the_armored_bytes() -> None:
    assert repo.crc24(b"123456789") == 0x21CF02  # the CRC-24/OpenPGP check value
    material = bytes(range(256)) * 2
    assert repo.dearmor(armored_key(material)) == material
    damaged = armored_key(material).replace("AAEC", "AAED", 1)
    with pytest.raises(repo.RepositoryError, match="checksum"):
        repo.dearmor(damaged)
    with pytest.raises(repo.RepositoryError, match="not an ASCII-armored"):
        repo.dearmor("<html>404</html>")


def test_the_exact_package_revision_is_chosen_from_madison() -> None:
    madison = (
        "   kubeadm | 1.34.3-1.1 | https://pkgs.k8s.io/core:/stable:/v1.34/deb  Packages\n"
        "   kubeadm | 1.37.2-1.2 | https://pkgs.k8s.io/core:/stable:/v1.34/deb  Packages\n"
        "   kubeadm | 1.37.2-1.1 | https://pkgs.k8s.io/core:/stable:/v1.34/deb  Packages\n"
    )
    assert repo.choose_version(madison, "kubeadm", "1.37.2") == "1.37.2-1.2"
    with pytest.raises(repo.RepositoryError, match=r"no kubeadm 1\.34\.9"):
        repo.choose_version(madison, "kubeadm", "1.34.9")
    assert repo.Installed("1.37.2-150500.1.1", False).is_release("1.37.2")


def _fake_shell(command: object, timeout: float | None) -> tuple[int, str, str]:
    assert isinstance(command, PosixCommand)
    if "sha256sum" in command.argv[2]:  # file_hashes: every file missing
        return 0, "-\n" * (len(command.argv) - 4), ""
    return 0, "", ""


def test_the_dnf_path_writes_a_repository_with_excludes_and_pins_versions() -> None:
    w = world(cluster(1, 0))
    host = w.fakes["lin0"]
    w.ctx.state.set(facts_key("lin0"), {"distribution": "rocky"})
    host.on("sh", _fake_shell)
    host.on("systemctl", (0, "", ""))
    host.on("dnf", (0, "", ""))
    host.on("mkdir", (0, "", ""))
    view = w.ctx.pool.handle(w.cluster.hosts[0])
    step = KubePackages()
    assert any(c.summary == f"write {repo.DNF_REPO}" for c in step.check(view, w.ctx))
    step.apply(view, w.ctx, [])
    assert b"exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni" in host.files[repo.DNF_REPO]
    assert b"baseurl=https://pkgs.k8s.io/core:/stable:/v1.37/rpm/" in host.files[repo.DNF_REPO]
    dnf = [c.argv for c in host.history if isinstance(c, PosixCommand) and c.argv[0] == "dnf"]
    assert dnf == [
        (
            "dnf",
            "install",
            "-y",
            "--disableexcludes=kubernetes",
            "kubeadm-1.37.2",
            "kubelet-1.37.2",
            "kubectl-1.37.2",
        )
    ]


def test_swap_entries_are_commented_and_nothing_else() -> None:
    fstab = b"UUID=1 / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n# /old none swap sw 0 0\n"
    assert swap_lines(fstab) == ["/swapfile none swap sw 0 0"]
    rewritten = without_swap(fstab)
    assert swap_lines(rewritten) == [] and rewritten.startswith(b"UUID=1 / ext4 defaults 0 1\n")


def test_artifact_records_round_trip() -> None:
    record = Record("ab" * 32, "http://mirror/x.tgz", {"/opt/cni/bin/bridge": "cd" * 32})
    assert Record.parse(record.render()) == record
    assert Record.parse(b"something else") is None


def _workload(spec: dict[str, object]) -> dict[str, object]:
    return {"metadata": {"namespace": "kube-system", "name": "x"}, "spec": {"template": {"spec": spec}}}


def test_linux_only_placement_rules() -> None:
    everything = {"tolerations": [{"operator": "Exists"}]}
    assert placement.needs_linux_only(_workload(everything))
    assert not placement.needs_linux_only(
        _workload({**everything, "nodeSelector": {"kubernetes.io/os": "linux"}})
    )
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}
                ]
            }
        }
    }
    assert not placement.needs_linux_only(_workload({**everything, "affinity": affinity}))
    assert not placement.needs_linux_only(
        _workload({**everything, "nodeSelector": {"kubernetes.io/os": "windows"}})
    )
    assert not placement.needs_linux_only(_workload({}))  # does not tolerate the Windows taint
    assert placement.needs_linux_only(
        _workload({"tolerations": [{"key": "os", "value": "windows", "effect": "NoSchedule"}]})
    )
    assert placement.needs_linux_only(_workload({}), check_tolerations=False)
