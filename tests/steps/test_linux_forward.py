"""Linux pod forwarding: the FORWARD accept rules and what preflight reports about host firewalls (and about
OOM scores it cannot lower).

Tier: unit (the rules' text and the preflight's judgement; nothing runs). The lab's data-path test
(tests/lab/test_lifecycle.py) runs the real rules on a host whose FORWARD policy is DROP.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from hybridctl.render import render_host
from hybridctl.steps.context import StepContext
from hybridctl.steps.linux.linux_preflight import firewall_warnings, oom_warnings
from tests.render import helpers


def test_an_active_firewall_and_a_drop_policy_are_reported() -> None:
    """flannel-io/flannel#1450: with FORWARD policy DROP pod traffic dies without accept rules."""
    warnings = firewall_warnings({"firewalls": ["firewalld", "ufw"], "forwardPolicy": "DROP"})
    assert [w.split(" ", 1)[0] for w in warnings] == ["firewalld", "ufw", "the"]
    assert "HYBRIDCTL-POD-FWD" in warnings[-1]
    assert firewall_warnings({"firewalls": [], "forwardPolicy": "ACCEPT"}) == []


def test_the_masquerade_script_accepts_forwarded_pod_traffic_once() -> None:
    """flannel's --iptables-forward-rules: -s/-d <network> -j ACCEPT, the jump added only when missing."""
    cluster, values = helpers.inventory("example"), helpers.assume("example")
    host = next(h for h in cluster.spec.hosts if not h.is_windows)
    script = next(f for f in render_host(cluster, host, values) if f.purpose == "masquerade")
    text = script.content.decode()
    assert 'iptables -w -t filter -A "$FORWARD_CHAIN" -s "$CLUSTER_PODS" -j ACCEPT' in text
    assert 'iptables -w -t filter -A "$FORWARD_CHAIN" -d "$CLUSTER_PODS" -j ACCEPT' in text
    assert 'if ! iptables -w -t filter -C FORWARD -j "$FORWARD_CHAIN"' in text


def test_oom_scores_that_cannot_be_lowered_are_reported_unless_containerd_is_told() -> None:
    """The real lab's VM has no CAP_SYS_RESOURCE: runc failed every pod until restrictOomScoreAdj was set."""
    cluster = helpers.inventory("example")

    def ctx(restrict: bool) -> Any:
        changed = cluster.model_copy(
            update={"spec": cluster.spec.model_copy(update={"containerd": _containerd(cluster, restrict)})}
        )
        return cast(StepContext, SimpleNamespace(cluster=changed))

    assert "restrictOomScoreAdj: true" in oom_warnings({"oom_lowers": False}, ctx(False))[0]
    assert oom_warnings({"oom_lowers": False}, ctx(True)) == []
    assert oom_warnings({"oom_lowers": True}, ctx(False)) == []


def _containerd(cluster: Any, restrict: bool) -> Any:
    return cluster.spec.containerd.model_copy(update={"restrict_oom_score_adj": restrict})
