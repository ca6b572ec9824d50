"""Shared pytest configuration: fixtures live in tests/support and are registered here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.inventory import EXAMPLE_PINS

pytest_plugins = [
    "tests.support.upstream",
    "tests.support.hosts_fixtures",
    "tests.support.winrm_fixtures",
    "tests.support.kerberos_fixtures",
    "tests.lab.linux_sim.lab",
    "tests.lab.real.fixtures",
]


@pytest.fixture(autouse=True, scope="session")
def _example_pins() -> Iterator[None]:
    """The shipped examples read their checksum pins from the environment; give every test (and the
    hybridctl processes tests start) stand-in values, unless the environment already has real ones."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in EXAMPLE_PINS.items():
            patch.setenv(name, value)
        yield
