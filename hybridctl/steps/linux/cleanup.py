"""What tearing a Linux node down involves, found read-only: each ``Action`` is a change and its commands.

``linux-reset`` computes the actions in its check (for the plan) and again right before applying them,
so every command it runs matches what is on the host at that moment; that is what makes it safe to run
again after a partial failure.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from hybridctl.commands import PosixCommand, posix, shell
from hybridctl.render.network import LINUX_ROUTE_PROTO
from hybridctl.steps.base import Change
from hybridctl.steps.host import HostView
from hybridctl.steps.linux.linux_pod_network import CHAIN, FORWARD_CHAIN

TABLES = ("filter", "nat", "mangle")
LINKS = ("cni0", "flannel.4096", "flannel.1")
KUBE_STATE = (
    "/etc/kubernetes/kubelet.conf",
    "/etc/kubernetes/admin.conf",
    "/etc/kubernetes/manifests/kube-apiserver.yaml",
    "/var/lib/kubelet/config.yaml",
    "/var/lib/etcd/member",
)
_EXISTING = 'for p; do if [ -e "$p" ] || [ -L "$p" ]; then printf "%s\\n" "$p"; fi; done'
_NFT_TABLES = "command -v nft >/dev/null 2>&1 && nft list tables 2>/dev/null || true"
_IPVS = "command -v ipvsadm >/dev/null 2>&1 && ipvsadm -Sn 2>/dev/null || true"


@dataclass(frozen=True)
class Action:
    """One thing to undo: what a person reads, and the commands that do it."""

    change: Change
    commands: tuple[PosixCommand, ...]


def action(summary: str, *commands: PosixCommand) -> Action:
    """An Action from a summary and its commands."""
    return Action(Change(summary, impact="delete"), commands)


def existing(host: HostView, paths: Iterable[str]) -> list[str]:
    """Those of ``paths`` that exist on the host (files, directories or links)."""
    wanted = list(paths)
    return host.run(shell(_EXISTING, *wanted, probe=True)).stdout.splitlines() if wanted else []


def kubeadm_reset(host: HostView) -> list[Action]:
    """``kubeadm reset -f`` when kubeadm is installed and left node state behind."""
    found = existing(host, KUBE_STATE)
    has_kubeadm = host.run(shell("command -v kubeadm >/dev/null 2>&1", probe=True), check=False).ok
    if not found or not has_kubeadm:
        return []
    return [action(f"kubeadm reset -f (found {', '.join(found)})", posix("kubeadm", "reset", "-f"))]


def routes(host: HostView) -> list[Action]:
    """hybridctl's pod routes (found by their protocol marker)."""
    proto = str(LINUX_ROUTE_PROTO)
    out = host.run(posix("ip", "-4", "-j", "route", "show", "proto", proto, probe=True)).stdout
    return [
        action(f"remove route {r['dst']}", posix("ip", "-4", "route", "del", r["dst"], "proto", proto))
        for r in json.loads(out or "[]")
    ]


def links(host: HostView) -> list[Action]:
    """The pod bridge and overlay interfaces."""
    names = {
        link["ifname"] for link in json.loads(host.run(posix("ip", "-j", "link", "show", probe=True)).stdout)
    }
    return [action(f"delete interface {n}", posix("ip", "link", "delete", n)) for n in LINKS if n in names]


def iptables_rules(host: HostView, table: str) -> list[list[str]]:
    """``iptables -t TABLE -S`` as word lists."""
    out = host.run(posix("iptables", "-w", "-t", table, "-S", probe=True)).stdout
    return [shlex.split(line) for line in out.splitlines() if line.strip()]


def chains(host: HostView, owned: str) -> list[Action]:
    """Chains named ``owned``* (``KUBE-`` or hybridctl's), with their rules and the jumps to them."""
    found = []
    for table in TABLES:
        rules = iptables_rules(host, table)
        names = [r[1] for r in rules if r[:1] == ["-N"] and r[1].startswith(owned)]
        jumps = [r for r in rules if r[:1] == ["-A"] and not r[1].startswith(owned) and _jumps_to(r, owned)]
        if not names and not jumps:
            continue
        commands = [posix("iptables", "-w", "-t", table, "-D", *rule[1:]) for rule in jumps]
        commands += [posix("iptables", "-w", "-t", table, "-F", name) for name in names]
        commands += [posix("iptables", "-w", "-t", table, "-X", name) for name in names]
        found.append(
            action(f"remove iptables {table} chains {', '.join(names) or '(jumps only)'}", *commands)
        )
    return found


def _jumps_to(rule: list[str], owned: str) -> bool:
    return any(
        word in ("-j", "-g") and i + 1 < len(rule) and rule[i + 1].startswith(owned)
        for i, word in enumerate(rule)
    )


def nft_tables(host: HostView) -> list[Action]:
    """kube-proxy's nftables tables (nftables mode)."""
    out = host.run(shell(_NFT_TABLES, probe=True)).stdout
    tables = [line.split()[1:3] for line in out.splitlines() if line.startswith("table ")]
    return [
        action(f"delete nftables table {family} {name}", posix("nft", "delete", "table", family, name))
        for family, name in tables
        if name == "kube-proxy"
    ]


def ipvs(host: HostView) -> list[Action]:
    """IPVS virtual services kube-proxy left (only when ipvsadm is installed)."""
    if not host.run(shell(_IPVS, probe=True)).stdout.strip():
        return []
    return [action("clear IPVS virtual services", posix("ipvsadm", "--clear"))]


def kernel_state(host: HostView) -> list[Action]:
    """Everything in the kernel that hybridctl's pod network or kube-proxy left behind."""
    return [
        *routes(host),
        *chains(host, CHAIN),
        *chains(host, FORWARD_CHAIN),
        *chains(host, "KUBE-"),
        *chains(host, "FLANNEL-"),  # flanneld's --ip-masq and forward rules (vxlan mode)
        *nft_tables(host),
        *ipvs(host),
        *links(host),
    ]
