"""vxlan mode's Windows pieces that do not need a Windows host: the source VIP request and the reading of
host-local's store, the overlay network judgement, and the flannel artifacts of the catalog.

Real: host-local (containernetworking/plugins, the Debian build in /usr/lib/cni) allocates from the
request hybridctl sends and writes its disk store; the Windows build of the same code writes the same
store. Emulated: nothing; the store is read the way ``win/state`` returns it (file name -> first line).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from hybridctl.artifacts import Catalog
from hybridctl.render.context import FLANNEL_NETWORK
from hybridctl.steps.windows.windows_flannel import overlay_problem
from hybridctl.steps.windows.windows_source_vip import CONTAINER_ID, IFNAME, STORE, request, reservation
from tests.render import helpers
from tests.support.ci import require_tool

CIDR = "10.244.5.0/24"


def _add(host_local: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    config = json.loads(request(CIDR))
    config["ipam"]["dataDir"] = str(data_dir)  # the store hybridctl names, moved into the test's directory
    env = {
        **os.environ,
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": CONTAINER_ID,
        "CNI_NETNS": "none",
        "CNI_IFNAME": IFNAME,
        "CNI_PATH": str(Path(host_local).parent),
    }
    return subprocess.run(
        [host_local], input=json.dumps(config), env=env, capture_output=True, text=True, check=False
    )


def _store(data_dir: Path) -> dict[str, dict[str, str]]:
    files = (data_dir / FLANNEL_NETWORK).iterdir()
    return {STORE: {f.name: f.read_text().splitlines()[0] for f in files if f.name[0].isdigit()}}


def test_source_vip_request_is_served_by_host_local_once_and_found_in_its_store(tmp_path: Path) -> None:
    """host-local gives an address of the node's pod CIDR, records it under hybridctl's container ID
    (which ``reservation`` finds) and refuses a second ADD for that ID: why the check reads the store
    before the apply runs host-local."""
    host_local = require_tool("host-local", "apt-get install containernetworking-plugins", ("/usr/lib/cni",))
    first = _add(host_local, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    address = json.loads(first.stdout)["ips"][0]["address"].split("/")[0]
    assert reservation({"ipamStores": _store(tmp_path)}, CIDR) == address
    again = _add(host_local, tmp_path)
    assert again.returncode != 0
    assert "duplicate allocation is not allowed" in again.stdout + again.stderr


def test_reservation_ignores_pods_and_other_subnets() -> None:
    """Pods' addresses (other container IDs) and a reservation left from another pod CIDR are not it."""
    store = {STORE: {"10.244.5.3": "pod-sandbox-id", "10.244.9.2": CONTAINER_ID}}
    assert reservation({"ipamStores": store}, CIDR) is None
    store[STORE]["10.244.5.7"] = CONTAINER_ID
    assert reservation({"ipamStores": store}, CIDR) == "10.244.5.7"


def test_overlay_network_is_judged_by_type_and_prefix() -> None:
    """HNS reports the type in lower case; a missing network, an L2Bridge or another prefix is a problem."""
    network = {"type": "overlay", "addressPrefix": CIDR}
    assert overlay_problem({"networks": {FLANNEL_NETWORK: network}}, CIDR) is None
    assert overlay_problem({"networks": {}}, CIDR)
    assert overlay_problem({"networks": {FLANNEL_NETWORK: {**network, "type": "l2bridge"}}}, CIDR)
    assert overlay_problem(
        {"networks": {FLANNEL_NETWORK: {**network, "addressPrefix": "10.244.6.0/24"}}}, CIDR
    )


def test_vxlan_catalog_adds_flanneld_pinned_and_the_flannel_cni_plugin_with_its_checksum_file() -> None:
    """flanneld.exe has no published checksum (validate asks for a pin); the CNI plugin's tgz has a
    .sha256 next to it, named with the first six characters of the tag (flannel-io/cni-plugin)."""
    catalog = Catalog(helpers.inventory("ha-vxlan"))
    names = {a.name: a for a in catalog.windows_artifacts()}
    assert names["flanneld"].url.endswith("/flannel-io/flannel/releases/download/v0.28.10/flanneld.exe")
    assert names["flanneld"].checksum_url is None  # pinned in ha-vxlan.yaml, as validate requires
    cni = names["flannel-cni-windows"]
    assert cni.url.endswith("/v1.9.1-flannel3/cni-plugin-flannel-windows-amd64-v1.9.1.tgz")
    assert cni.checksum_url == cni.url + ".sha256"
    routes = {a.name for a in Catalog(helpers.inventory("example")).windows_artifacts()}
    assert not routes & {"flanneld", "flannel-cni-windows"}
