"""What the cluster steps share: they run once, on the first control plane, through kubectl there."""

from __future__ import annotations

from hybridctl.inventory.models import Cluster, Host
from hybridctl.steps.base import Step


class ClusterStep(Step):
    """A step about the cluster as a whole, run on the first control plane."""

    def applies_to(self, host: Host, cluster: Cluster) -> bool:
        """The first control plane only."""
        return host == cluster.first_control_plane
