"""Cluster steps: run once on the first control plane, through kubectl and kubeadm there.

* ``POD_CIDRS``: learn every node's pod CIDR before any node builds its routes.
* ``FLANNEL``: vxlan mode: the kube-flannel DaemonSet, RBAC and ConfigMap (after ``POD_CIDRS``).
* ``FINISH``: cluster objects, then (barriers) every node Ready, join tokens deleted, admin kubeconfig.
* ``REMOVE_NODES``: drain and delete the nodes a verb removes.
"""

from __future__ import annotations

from hybridctl.steps.base import Step
from hybridctl.steps.cluster.admin_kubeconfig import AdminKubeconfig
from hybridctl.steps.cluster.cluster_objects import ClusterObjects
from hybridctl.steps.cluster.flannel import Flannel
from hybridctl.steps.cluster.join_cleanup import JoinCleanup
from hybridctl.steps.cluster.nodes_ready import NodesReady
from hybridctl.steps.cluster.pod_cidrs import PodCidrs
from hybridctl.steps.cluster.remove_node import RemoveNode

POD_CIDRS: Step = PodCidrs()
FLANNEL: Step = Flannel()
FINISH: list[Step] = [ClusterObjects(), NodesReady(), JoinCleanup(), AdminKubeconfig()]
REMOVE_NODES: Step = RemoveNode()

__all__ = [
    "FINISH",
    "FLANNEL",
    "POD_CIDRS",
    "REMOVE_NODES",
    "AdminKubeconfig",
    "ClusterObjects",
    "Flannel",
    "JoinCleanup",
    "NodesReady",
    "PodCidrs",
    "RemoveNode",
]
