"""Fixtures for the step tests (defined in windows_fixtures.py)."""

from tests.steps.windows_fixtures import testbed, vxlan_testbed

__all__ = ["testbed", "vxlan_testbed"]
