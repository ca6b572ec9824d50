"""Write the Go modules that build the lab's non-Kubernetes components from pinned upstream releases.

Usage: ``python tests/upstream/labmod.py`` writes ``tests/upstream/lab/<component>/go.mod`` for every entry
of ``COMPONENTS`` and runs ``go mod tidy`` there. Each component gets its own module so that Go's minimal
version selection never moves one project's dependencies to versions another one asked for: each is built
against exactly the dependency versions its own release was tested with (its ``go.mod`` requirements).
The results (``go.mod`` and ``go.sum``) are committed; rerun this only to move a pin.

The versions follow hybridctl's version table for the default minor (``hybridctl/versions.py``, 1.37):
etcd ``3.7.0-0`` and CoreDNS ``v1.14.6`` as kubeadm 1.37 pins them, containerd ``2.4.2`` (the default
containerd for 1.37), the CNI plugins at the inventory's ``cniPluginsVersion`` default (``1.6.2``), runc at
``runcVersion``'s default (``1.2.6``) and crictl at 1.37's cri-tools release (``1.36.0``); vxlan mode's
flannel at ``FLANNEL_VERSION`` (``v0.28.10``) and its CNI plugin (see the entries for the two deviations).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "lab"
COMPONENTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # name: (module, version, main packages)
    "etcd": ("go.etcd.io/etcd/server/v3", "v3.7.0", ("go.etcd.io/etcd/server/v3",)),
    "coredns": ("github.com/coredns/coredns", "v1.14.6", ("github.com/coredns/coredns",)),
    "containerd": (
        "github.com/containerd/containerd/v2",
        "v2.4.2",
        (
            "github.com/containerd/containerd/v2/cmd/containerd",
            "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
            "github.com/containerd/containerd/v2/cmd/ctr",
        ),
    ),
    "cni-plugins": (
        "github.com/containernetworking/plugins",
        "v1.6.2",
        tuple(
            f"github.com/containernetworking/plugins/plugins/{p}"
            for p in (
                "main/bridge",
                "main/loopback",
                "main/host-device",
                "main/ptp",
                "main/macvlan",
                "main/ipvlan",
                "main/vlan",
                "main/dummy",
                "main/tap",
                "ipam/host-local",
                "ipam/static",
                "ipam/dhcp",
                "meta/portmap",
                "meta/bandwidth",
                "meta/firewall",
                "meta/tuning",
                "meta/sbr",
                "meta/vrf",
            )
        ),
    ),
    "crane": (
        "github.com/google/go-containerregistry",
        "v0.22.1",
        ("github.com/google/go-containerregistry/cmd/crane",),
    ),
    # The Linux nodes' runtime pieces hybridctl downloads itself (hybridctl/artifacts.py): runc at the
    # inventory's runcVersion default, crictl at 1.37's cri-tools release (hybridctl/versions.py).
    "runc": ("github.com/opencontainers/runc", "v1.2.6", ("github.com/opencontainers/runc",)),
    "crictl": ("sigs.k8s.io/cri-tools", "v1.36.0", ("sigs.k8s.io/cri-tools/cmd/crictl",)),
    # vxlan mode: flanneld and install-conf, the two programs of upstream's flannel image (images/Dockerfile
    # of flannel v0.28.10: /opt/bin/flanneld, /opt/bin/install-conf), the release whose
    # Documentation/kube-flannel.yml hybridctl's kube-flannel objects follow (hybridctl/versions.py).
    "flannel": (
        "github.com/flannel-io/flannel",
        "v0.28.10",
        ("github.com/flannel-io/flannel", "github.com/flannel-io/flannel/cmd/install_conf"),
    ),
    # The flannel CNI plugin kube-flannel's install-cni-plugin init container copies to /opt/cni/bin/flannel.
    # flannel v0.28.10's manifest pins flannel-io/cni-plugin v1.9.1-flannel3, but the Go module proxy refuses
    # github.com/flannel-io/cni-plugin (403 "This module version is not available"). The same plugin lived
    # in containernetworking/plugins (plugins/meta/flannel) until it moved to flannel-io; v0.9.1 is its last
    # release there that the proxy serves. It reads /run/flannel/subnet.env and delegates to bridge +
    # host-local exactly as the moved plugin does; the lab image carries it under the pinned tag.
    "flannel-cni-plugin": (
        "github.com/containernetworking/plugins",
        "v0.9.1",
        ("github.com/containernetworking/plugins/plugins/meta/flannel",),
    ),
}
REPLACES: dict[str, dict[str, str]] = {
    # The module proxy refuses tencentcloud-sdk-go's vpc module (403); flanneld's unused tencentvpc backend
    # compiles against a stand-in that fails every call (lab/flannel/tencentcloud-vpc-stub/).
    "flannel": {"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc": "./tencentcloud-vpc-stub"},
}


def gomod(name: str) -> str:
    """The go.mod of one component: require its release, list its commands as tools."""
    module, version, packages = COMPONENTS[name]
    lines = [
        f"// Generated by tests/upstream/labmod.py: {module} {version}, built for the real lab.",
        f"module hybridctl.test/upstream/lab/{name}",
        "",
        "go 1.26.0",
        "",
        f"require {module} {version}",
        "",
        *(f"tool {package}" for package in packages),
        "",
        *(f"replace {old} => {new}" for old, new in REPLACES.get(name, {}).items()),
    ]
    return "\n".join(lines)


def main(names: list[str]) -> None:
    """Write and tidy the named components' modules (all by default)."""
    for name in names or COMPONENTS:
        target = HERE / name
        target.mkdir(parents=True, exist_ok=True)
        (target / "go.mod").write_text(gomod(name))
        subprocess.run(["go", "mod", "tidy"], check=True, cwd=target)


if __name__ == "__main__":
    main(sys.argv[1:])
