"""Write inventory files for tests that run the real CLI against test hosts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from hybridctl.versions import DEFAULT_VERSION
from tests.support.linux_hosts import TestHost

STAND_IN_KEY = Path(__file__).with_name("stand-in-key")
"""A readable file where an inventory names a key it never uses (validation checks files exist)."""
EXAMPLE_PINS = {"NSSM_SHA256": "a" * 64, "WINDOWS_CNI_SHA256": "b" * 64, "FLANNELD_SHA256": "c" * 64}
"""The pins the shipped examples read from the environment (``${env:NSSM_SHA256}``, ...), as test values."""

# The Linux test hosts share this machine's kernel: on a cgroup v1 or hybrid host (no cgroup2 mount at
# /sys/fs/cgroup, as libcontainer's IsCgroup2UnifiedMode() tests) hybridctl's preflight refuses them unless
# the inventory opts in, exactly as it would refuse such a production host.
HOST_CGROUP_V1 = not Path("/sys/fs/cgroup/cgroup.controllers").exists()


def kubernetes_spec(**overrides: Any) -> dict[str, Any]:
    """``spec.kubernetes`` for inventories of test hosts: the default version, cgroup opt-in as needed."""
    return {"version": DEFAULT_VERSION, "allowCgroupV1": HOST_CGROUP_V1, **overrides}


def linux_entry(host: TestHost, role: str = "worker", user: str = "root") -> dict[str, Any]:
    """The inventory entry of a Linux test host (key login)."""
    return {
        "name": host.name,
        "address": host.address,
        "role": role,
        "os": "linux",
        "ssh": {"user": user, "privateKeyFile": str(host.keys.key)},
    }


def write_inventory(path: Path, hosts: Sequence[dict[str, Any]], **spec: Any) -> Path:
    """An inventory with ``hosts`` and defaults for everything else (default Kubernetes, routes mode)."""
    document = {
        "apiVersion": "hybridctl.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": spec.pop("name", "lab")},
        "spec": {"kubernetes": kubernetes_spec(), **spec, "hosts": list(hosts)},
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
