"""``hosts forget``: drop recorded SSH host keys so a re-keyed host can be trusted again."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hybridctl.appenv import AppEnv
from hybridctl.errors import ExitCode
from hybridctl.state import StateDir, default_state_dir
from hybridctl.transport.hostkeys import forget
from hybridctl.verbs.common import load_cluster, select_hosts


def run_forget(env: AppEnv, names: Sequence[str], state_dir: Path | None) -> int:
    """Remove the named hosts' keys (by name and address) from the project's known_hosts."""
    cluster = load_cluster(env)
    hosts = select_hosts(cluster, names)
    state = StateDir(state_dir or default_state_dir(env.inventory_path(), cluster.name))
    removed = forget(state.known_hosts, [key for h in hosts for key in (h.name, h.address)])
    env.stdout.write(
        f"removed {removed} key(s) of {', '.join(h.name for h in hosts)} from {state.known_hosts}\n"
    )
    if any(h.ssh and h.ssh.bastion for h in hosts):
        env.stdout.write("note: bastion keys are kept; forget a bastion by its address if it was re-keyed\n")
    return ExitCode.OK
