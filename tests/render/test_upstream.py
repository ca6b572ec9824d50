"""Every rendered file and command line is accepted by the upstream code that will read it.

Tier: render + upstream validators. Real: Jinja2 and the templates; kubeadm (``kubeadm config validate``),
the kubelet's and kube-proxy's schemes, strict decoders, validation packages and flag sets, containerd's
config loader and plugin registry, libcni and flannel's config parser, all built from the Go modules
pinned in tests/upstream/ (see tests/support/upstream.py). Emulated: the Windows-only code those
components build with ``//go:build windows`` is repeated from the cited upstream files (kubelet Windows
config rules and flags, kube-proxy Windows flags, the sdnbridge/sdnoverlay and HNS policy schemas); see
each Go program's comments.

Covered: the shipped example inventories rendered with their sample runtime values (the golden files'
content; a render without values holds placeholders that hybridctl fills in before anything reaches a
node, so it is not judged), each example at the newest patch of each Kubernetes minor whose validator is built
here, and hypothesis-generated valid inventories.
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from hybridctl.inventory import Cluster
from hybridctl.inventory.load import load_text
from hybridctl.render import RuntimeValues, render_all
from hybridctl.versions import RELEASES
from tests.render import helpers
from tests.support.upstream import Validators, refused
from tests.support.upstream_checks import all_checks, judge_files

# Every supported minor has its upstream validator, built from that release's own modules.
UPSTREAM_MINORS = tuple(release.minor for release in RELEASES)
EVERY_KIND = {
    "kubeadm",
    "kubelet-config",
    "kubelet-args",
    "kube-proxy-config",
    "kube-proxy-args",
    "containerd-config",
    "cni-conf",
    "cni-conflist",
    "flannel-net-conf",
}


def _accepted(validators: Validators, cluster: Cluster, values: RuntimeValues) -> set[str]:
    files = render_all(cluster, values)
    verdicts = judge_files(validators, cluster, files)
    assert len(verdicts) == len(all_checks(cluster, files))
    assert refused(verdicts) == [], "\n".join(refused(verdicts))
    return {v.check.kind for v in verdicts}


@pytest.mark.parametrize("name", helpers.INVENTORIES)
def test_examples_are_accepted_upstream(name: str, upstream_validators: Validators) -> None:
    kinds = _accepted(upstream_validators, helpers.inventory(name), helpers.assume(name))
    assert {"kubeadm", "kubelet-config", "kubelet-args", "containerd-config"} <= kinds


def test_every_kind_of_check_ran_on_the_examples(upstream_validators: Validators) -> None:
    """Across the examples every upstream validator judged something (none silently unused)."""
    kinds: set[str] = set()
    for name in helpers.INVENTORIES:
        cluster = helpers.inventory(name)
        kinds |= {c.kind for c in all_checks(cluster, render_all(cluster, helpers.assume(name)))}
    assert kinds == EVERY_KIND


@pytest.mark.parametrize("minor", UPSTREAM_MINORS)
@pytest.mark.parametrize("name", helpers.INVENTORIES)
def test_examples_at_each_built_minor(name: str, minor: int, upstream_validators: Validators) -> None:
    release = next(r for r in RELEASES if r.minor == minor)
    data = helpers.cluster_data(name)
    data["spec"]["kubernetes"]["version"] = release.newest
    data["spec"]["containerd"].pop("version", None)
    _accepted(upstream_validators, helpers.build(data), helpers.assume(name))


@pytest.mark.parametrize("name", helpers.INVENTORIES)
def test_examples_with_containerd_1_7(name: str, upstream_validators: Validators) -> None:
    """The 1.7 layout (config version 2), on the one minor that still recommends 1.7, is accepted by 1.7."""
    release = next(r for r in RELEASES if any(line.startswith("1.7.") for line in r.containerd))
    data = helpers.cluster_data(name)
    data["spec"]["kubernetes"]["version"] = release.newest
    data["spec"]["containerd"]["version"] = "1.7.35"
    kinds = _accepted(upstream_validators, helpers.build(data), helpers.assume(name))
    assert "containerd-config" in kinds


LABEL = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)


def _yaml(data: dict[str, Any]) -> str:
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, out)
    return out.getvalue()


@st.composite
def inventories(draw: st.DrawFn) -> tuple[str, str, dict[str, str]]:
    """An example inventory with drawn network mode, names, labels, taints and pod subnet: the example's
    name, the inventory text, and the host renames (old name -> new name)."""
    name = draw(st.sampled_from(helpers.INVENTORIES))
    data = helpers.cluster_data(name)
    spec = data["spec"]
    spec["network"]["mode"] = draw(st.sampled_from(["routes", "vxlan"]))
    spec["kubernetes"]["dnsDomain"] = f"{draw(LABEL)}.{draw(LABEL)}"
    spec["kubernetes"]["podSubnet"] = f"10.{draw(st.integers(100, 200))}.0.0/16"
    renames = {}
    for host in spec["hosts"]:
        renames[host["name"]] = host["name"] = (host["name"] + draw(LABEL))[:15]
        host["labels"] = {f"example.com/{draw(LABEL)}": draw(LABEL)}
        if host["role"] == "worker":
            host["taints"] = [{"key": draw(LABEL), "value": draw(LABEL), "effect": "NoSchedule"}]
    return name, _yaml(data), renames


def _values(name: str, cluster: Cluster, renames: dict[str, str]) -> RuntimeValues:
    """The example's sample runtime values (tokens, CA, builds, VIPs) for the renamed hosts, with pod
    CIDRs inside the drawn pod subnet."""
    sample = helpers.assume(name)
    first, second = cluster.spec.kubernetes.pod_subnet.split(".")[:2]
    hosts = list(enumerate(cluster.spec.hosts))
    pod_cidrs = {h.name: f"{first}.{second}.{i}.0/24" for i, h in hosts}
    vxlan = cluster.spec.network.mode == "vxlan"
    source_vips = {h.name: f"{first}.{second}.{i}.2" for i, h in hosts if h.is_windows and vxlan}
    builds = {renames[k]: v for k, v in sample.windows_builds.items()}
    return replace(sample, pod_cidrs=pod_cidrs, windows_builds=builds, source_vips=source_vips)


@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: each example runs the validators
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(drawn=inventories())
def test_generated_inventories_are_accepted_upstream(
    drawn: tuple[str, str, dict[str, str]], upstream_validators: Validators
) -> None:
    name, text, renames = drawn
    result = load_text(text, "generated.yaml", helpers.ROOT / "inventories" / "generated.yaml", helpers.ENV)
    assume(result.cluster is not None and not result.errors)
    cluster = result.require()
    _accepted(upstream_validators, cluster, _values(name, cluster, renames))
