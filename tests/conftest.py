"""Shared pytest configuration: fixtures live in tests/support and are registered here."""

pytest_plugins = [
    "tests.support.upstream",
    "tests.support.hosts_fixtures",
    "tests.support.winrm_fixtures",
    "tests.support.kerberos_fixtures",
    "tests.lab.linux_sim.lab",
    "tests.lab.real.fixtures",
]
