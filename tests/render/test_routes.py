"""Routes mode: every node routes to every other node's pod CIDR via that node, none to its own.

Tier: render. Real: Jinja2 and the templates, shlex for the Linux scripts, tree-sitter-powershell for the
Windows routes script, json for the bridge CNI config, ``sh`` for a round trip of the stale-route filter.
Simulated: nothing; the routes are not programmed into a kernel here (the lab tier does that).
"""

from __future__ import annotations

import shlex
import subprocess

import pytest

from hybridctl.render import RenderedFile, RuntimeValues, render_all
from hybridctl.render.network import LINUX_ROUTE_PROTO, ROUTE_METRIC
from tests.render import helpers
from tests.support.powershell import invocations


def _linux_routes(item: RenderedFile) -> dict[str, str]:
    routes = {}
    for line in helpers.text(item).splitlines():
        words = shlex.split(line, comments=True)
        if words[:4] == ["ip", "-4", "route", "replace"]:
            assert words[5] == "via" and words[7:] == ["proto", "$PROTO"], line
            assert words[4] not in routes
            routes[words[4]] = words[6]
    assert f"PROTO={LINUX_ROUTE_PROTO}" in helpers.text(item)
    return routes


def _windows_routes(item: RenderedFile, alias: str) -> dict[str, str]:
    routes = {}
    for call in invocations(helpers.text(item), "New-NetRoute"):
        assert call.literal("InterfaceAlias") == alias
        assert call.parameters["RouteMetric"] == str(ROUTE_METRIC)
        assert call.literal("DestinationPrefix") not in routes
        routes[call.literal("DestinationPrefix")] = call.literal("NextHop")
    return routes


@pytest.mark.parametrize("name", ["example", "ci-smoke"])
def test_every_node_routes_to_every_other_pod_cidr(name: str) -> None:
    cluster = helpers.inventory(name)
    values = helpers.assume(name)
    files = render_all(cluster, values)
    for host in cluster.hosts:
        expected = {values.pod_cidrs[o.name]: o.address for o in cluster.hosts if o != host}
        if host.is_windows:
            found = _windows_routes(
                helpers.one(files, host.name, "routes.ps1"), f"vEthernet ({host.adapter})"
            )
        else:
            found = _linux_routes(helpers.one(files, host.name, "pod-routes.sh"))
        assert found == expected, host.name
        assert values.pod_cidrs[host.name] not in found


def test_windows_routes_script_removes_stale_routes_from_both_stores() -> None:
    cluster = helpers.inventory("example")
    script = helpers.text(helpers.one(render_all(cluster, helpers.assume("example")), "win1", "routes.ps1"))
    stores = [inv.literal("Store") for inv in invocations(script, "Remove-StalePodRoute")]
    assert stores == ["ActiveStore", "PersistentStore"]
    added = invocations(script, "New-NetRoute")
    assert added and all(inv.parameters["PolicyStore"] == "$Store" for inv in added)  # each store checked
    assert "$Stores = @('ActiveStore', 'PersistentStore')" in script
    wanted = script.split("$Wanted = @(", 1)[1].split(")", 1)[0].split()
    assert wanted == [
        "'10.244.0.0/24|192.168.10.10'",
        "'10.244.1.0/24|192.168.10.11'",
        "'10.244.3.0/24|192.168.10.22'",
    ]


def test_linux_stale_route_filter_keeps_exactly_the_wanted_routes(tmp_path: object) -> None:
    cluster = helpers.inventory("example")
    item = helpers.one(render_all(cluster, helpers.assume("example")), "cp1", "pod-routes.sh")
    script = helpers.text(item)
    function = script[script.index("wanted() {") : script.index("\n}\n") + 3]
    probe = (
        function + 'for d in "$@"; do if wanted "$d"; then echo "keep $d"; else echo "drop $d"; fi; done\n'
    )
    args = ["10.244.1.0/24", "10.244.0.0/24", "10.244.2.0/24", "10.244.3.0/24", "10.244.9.0/24"]
    result = subprocess.run(["sh", "-c", probe, "sh", *args], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[:-1] == [
        "keep 10.244.1.0/24",
        "drop 10.244.0.0/24",
        "keep 10.244.2.0/24",
        "keep 10.244.3.0/24",
        "drop 10.244.9.0/24",
    ]
    assert (
        'ip -4 route show proto "$PROTO"' in script
        and 'ip -4 route del "$destination" proto "$PROTO"' in script
    )


def test_single_node_has_an_empty_route_table() -> None:
    data = helpers.cluster_data("ci-smoke")
    data["spec"]["hosts"] = data["spec"]["hosts"][:1]
    cluster = helpers.build(data)
    item = helpers.one(
        render_all(cluster, RuntimeValues(pod_cidrs={"cp1": "10.244.0.0/24"})), "cp1", "pod-routes.sh"
    )
    helpers.shell_syntax(item)
    assert _linux_routes(item) == {}


def test_linux_bridge_cni_config() -> None:
    files = render_all(helpers.inventory("example"), helpers.assume("example"))
    conf = helpers.json_doc(helpers.one(files, "lin1", "10-hybridctl-bridge.conflist"))
    bridge, portmap = conf["plugins"]
    assert bridge["type"] == "bridge" and bridge["ipMasq"] is False and bridge["isGateway"] is True
    assert bridge["ipam"]["type"] == "host-local"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.1.0/24", "gateway": "10.244.1.1"}]]
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}}


def test_linux_masquerade_rule() -> None:
    files = render_all(helpers.inventory("example"), helpers.assume("example"))
    item = helpers.one(files, "lin1", "pod-masquerade.sh")
    rules = [
        shlex.split(line) for line in helpers.text(item).splitlines() if line.strip().startswith("iptables")
    ]
    variables = dict(
        line.split("=", 1) for line in helpers.text(item).splitlines() if line[:1].isupper() and "=" in line
    )
    assert variables == {
        "CHAIN": "HYBRIDCTL-POD-MASQ",
        "NODE_PODS": "10.244.1.0/24",
        "CLUSTER_PODS": "10.244.0.0/16",
        "FORWARD_CHAIN": "HYBRIDCTL-POD-FWD",
    }
    chain = [r[6:] for r in rules if r[4:6] == ["-A", "$CHAIN"]]
    assert chain == [
        ["!", "-s", "$NODE_PODS", "-j", "RETURN"],
        ["-d", "$CLUSTER_PODS", "-j", "RETURN"],
        ["-j", "MASQUERADE"],
    ]
    assert ["iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-j", "$CHAIN"] in rules
    # flannel's --iptables-forward-rules (flannel-io/flannel#1450): forwarded pod traffic is accepted.
    forward = [r[6:] for r in rules if r[4:6] == ["-A", "$FORWARD_CHAIN"]]
    assert forward == [["-s", "$CLUSTER_PODS", "-j", "ACCEPT"], ["-d", "$CLUSTER_PODS", "-j", "ACCEPT"]]
    assert ["iptables", "-w", "-t", "filter", "-I", "FORWARD", "1", "-j", "$FORWARD_CHAIN"] in rules


def test_routes_mode_units_run_the_scripts_at_boot() -> None:
    files = render_all(helpers.inventory("example"), helpers.assume("example"))
    for script, unit_name in (
        ("pod-routes.sh", "hybridctl-pod-routes.service"),
        ("pod-masquerade.sh", "hybridctl-pod-masquerade.service"),
    ):
        unit = helpers.unit(helpers.one(files, "cp1", unit_name))
        assert unit["Service"]["ExecStart"] == f"/bin/sh /etc/hybridctl/{script}"
        assert unit["Service"]["Type"] == "oneshot"
        assert unit["Install"]["WantedBy"] == "multi-user.target"
        assert helpers.one(files, "cp1", script).mode == 0o755


def test_vxlan_mode_has_no_static_routes() -> None:
    files = render_all(helpers.inventory("ha-vxlan"), helpers.assume("ha-vxlan"))
    assert not [f.relpath for f in files if f.purpose in ("routes", "masquerade", "hns-network")]
