"""Fixtures for the step tests (defined in windows_fixtures.py)."""

from tests.steps.windows_fixtures import testbed

__all__ = ["testbed"]
