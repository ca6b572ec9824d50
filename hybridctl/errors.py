"""Exception hierarchy and the one mapping from exceptions to process exit codes."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented, stable exit codes of every hybridctl command."""

    OK = 0
    FAILED = 1
    USAGE = 2
    INVALID_INVENTORY = 3
    UNREACHABLE = 4
    CHANGES_PENDING = 5
    UNHEALTHY = 6
    INTERRUPTED = 130


class HybridctlError(Exception):
    """Base class of every error hybridctl reports to the user without a traceback."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(HybridctlError):
    """The command line asks for something that cannot be done."""

    exit_code = ExitCode.USAGE


class InventoryError(HybridctlError):
    """The inventory file is missing, unreadable or invalid."""

    exit_code = ExitCode.INVALID_INVENTORY


class RenderError(HybridctlError):
    """A template could not be rendered from the inventory."""


class StateError(HybridctlError):
    """The run state directory (lock, journal, known_hosts) is in the way."""


class LockHeldError(StateError):
    """Another run holds the cluster's lock."""


class PlaceholderError(HybridctlError):
    """A rendered file still carries a placeholder and must not be installed."""
