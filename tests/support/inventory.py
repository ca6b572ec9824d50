"""Write inventory files for tests that run the real CLI against test hosts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.linux_hosts import TestHost

STAND_IN_KEY = Path(__file__).with_name("stand-in-key")
"""A readable file where an inventory names a key it never uses (validation checks files exist)."""
EXAMPLE_PINS = {"NSSM_SHA256": "a" * 64, "WINDOWS_CNI_SHA256": "b" * 64}
"""The pins the shipped examples read from the environment (``${env:NSSM_SHA256}``, ...), as test values."""


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
    """An inventory with ``hosts`` and defaults for everything else (Kubernetes 1.34.2, routes mode)."""
    document = {
        "apiVersion": "hybridctl.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": spec.pop("name", "lab")},
        "spec": {"kubernetes": {"version": "1.34.2"}, **spec, "hosts": list(hosts)},
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
