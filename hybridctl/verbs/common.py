"""Pieces the verbs that connect to hosts share: loading the inventory, opening a session."""

from __future__ import annotations

from collections.abc import Sequence

from hybridctl.appenv import AppEnv
from hybridctl.errors import UsageError
from hybridctl.inventory import load_inventory
from hybridctl.inventory.models import Cluster, Host


def load_cluster(env: AppEnv) -> Cluster:
    """The valid inventory (warnings printed to stderr) or InventoryError."""
    result = load_inventory(env.inventory_path())
    for problem in result.warnings:
        env.stderr.write(f"{problem}\n")
    return result.require()


def select_hosts(cluster: Cluster, names: Sequence[str]) -> list[Host]:
    """The named hosts (all when none are named); UsageError for unknown names."""
    if not names:
        return list(cluster.hosts)
    known = {h.name for h in cluster.hosts}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"not in the inventory: {', '.join(unknown)}", hint=f"hosts: {', '.join(sorted(known))}"
        )
    return [h for h in cluster.hosts if h.name in names]
