"""Shared pytest configuration: fixtures live in tests/support and are registered here."""

from __future__ import annotations

import signal
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


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C reaches Python in every test, however pytest was started.

    A shell without job control starts background commands with SIGINT ignored (POSIX, "Asynchronous
    Lists"), and Python then keeps it ignored instead of raising KeyboardInterrupt. A pytest started that way
    failed the Runner's Ctrl-C tests (the signal they send was dropped) and would start CLIs that never see
    the lab's Ctrl-C (an ignored signal stays ignored across exec; a handled one is reset to the default).
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
