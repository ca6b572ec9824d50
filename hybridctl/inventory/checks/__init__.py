"""Semantic checks of a schema-valid inventory. Each returns problems; none stops at the first one.

Messages quote structured values (names, addresses, CIDRs, versions) so the user sees what is wrong, but
never free text such as user names, paths or passwords: the loader masks secrets as a second line of
defence, the first is not to print them.
"""

from __future__ import annotations

from hybridctl.inventory.checks.cluster import (
    check_control_planes,
    check_kubernetes_names,
    check_metadata,
    check_subnets,
    check_version,
)
from hybridctl.inventory.checks.common import Check
from hybridctl.inventory.checks.connections import check_kerberos_cache
from hybridctl.inventory.checks.hosts import check_hosts, check_labels_and_taints
from hybridctl.inventory.checks.registries import check_registries
from hybridctl.inventory.checks.software import check_software, check_windows_features
from hybridctl.inventory.models import Cluster
from hybridctl.inventory.problems import Problem


def check_cluster(cluster: Cluster) -> list[Problem]:
    """Every semantic problem of ``cluster``, errors and warnings."""
    return [problem for check in CHECKS for problem in check(cluster)]


CHECKS: tuple[Check, ...] = (
    check_metadata,
    check_version,
    check_kubernetes_names,
    check_control_planes,
    check_subnets,
    check_hosts,
    check_labels_and_taints,
    check_windows_features,
    check_software,
    check_registries,
    check_kerberos_cache,
)


__all__ = ["CHECKS", "check_cluster"]
