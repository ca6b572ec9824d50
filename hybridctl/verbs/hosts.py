"""``hosts forget``: drop recorded SSH host keys so a re-keyed host can be trusted again."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hybridctl.appenv import AppEnv
from hybridctl.errors import ExitCode
from hybridctl.inventory.models import Cluster
from hybridctl.state import StateDir, default_state_dir
from hybridctl.transport.hostkeys import forget
from hybridctl.verbs.common import load_cluster, select_hosts


def run_forget(env: AppEnv, names: Sequence[str], state_dir: Path | None) -> int:
    """Remove the keys of the named hosts (by name and address) or bastions (by address)."""
    cluster = load_cluster(env)
    bastions = _bastion_addresses(cluster)
    hosts = select_hosts(cluster, [n for n in names if n not in bastions]) if set(names) - bastions else []
    asked = [*(h.name for h in hosts), *(n for n in names if n in bastions)]
    state = StateDir(state_dir or default_state_dir(env.inventory_path(), cluster.name))
    if not state.known_hosts.exists():
        env.stdout.write(
            f"nothing to forget: no keys were recorded yet ({state.known_hosts} does not exist)\n"
        )
        return ExitCode.OK
    targets = [key for h in hosts for key in (h.name, h.address)] + [n for n in names if n in bastions]
    removed = forget(state.known_hosts, targets, keep=bastions)
    env.stdout.write(f"removed {removed} key(s) of {', '.join(asked)} from {state.known_hosts}\n")
    if any(h.ssh and h.ssh.bastion and h.ssh.bastion.address not in names for h in hosts):
        env.stdout.write("note: bastion keys are kept; forget a bastion by its address if it was re-keyed\n")
    return ExitCode.OK


def _bastion_addresses(cluster: Cluster) -> set[str]:
    return {h.ssh.bastion.address for h in cluster.hosts if h.ssh is not None and h.ssh.bastion is not None}
