"""Pytest fixtures of the real lab (registered in ``tests/conftest.py``).

``lab_binaries`` (session): the upstream components, built from their Go modules (slow the first time on
a machine, then cached per pin). ``systemd_lab`` (session): the lab's bridge and client key.
``systemd_hosts`` (function): a factory, ``systemd_hosts(n) -> list[SystemdHost]``, booting Debian hosts
with systemd as PID 1; they are shut down and removed when the test ends, passed or not. Outside CI these
skip (with what to install) when root or a tool is missing; in CI they fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.lab.real.artifacts import LabBinaries
from tests.lab.real.artifacts import lab_binaries as build_lab_binaries
from tests.lab.real.hosts import REQUIRED_TOOLS, SystemdHost, SystemdHosts
from tests.support.ci import require_root, require_tool

SystemdHostFactory = Callable[[int], list[SystemdHost]]


def require_systemd_hosts() -> None:
    """Skip locally, fail in CI, unless this machine can boot systemd test hosts."""
    require_root("systemd-nspawn, network namespaces, cgroups and overlay mounts")
    for tool, hint in REQUIRED_TOOLS.items():
        require_tool(tool, hint)


@pytest.fixture(scope="session")
def systemd_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SystemdHosts]:
    """The session's lab of systemd hosts: a bridge in a free slot of 10.231.0.0/16 and a client key."""
    require_systemd_hosts()
    with SystemdHosts(tmp_path_factory.mktemp("systemd-hosts")) as lab:
        yield lab


@pytest.fixture
def systemd_hosts(systemd_lab: SystemdHosts) -> Iterator[SystemdHostFactory]:
    """A factory of freshly booted hosts, ``systemd_hosts(n)``; all are removed after the test."""
    created: list[SystemdHost] = []

    def make(count: int = 1) -> list[SystemdHost]:
        hosts = systemd_lab.add(count)
        created.extend(hosts)
        return hosts

    yield make
    systemd_lab.remove(created)


@pytest.fixture(scope="session")
def lab_binaries() -> LabBinaries:
    """Every upstream component the real lab uses, built from its pinned Go module (cached per pin)."""
    require_tool("go", "install Go 1.26 (/usr/local/go/bin) and reach the Go module proxy")
    return build_lab_binaries()
