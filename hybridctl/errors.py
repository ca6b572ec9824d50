"""Exception hierarchy and the one mapping from exceptions to process exit codes."""

from __future__ import annotations

import errno
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
    """The inventory file is unreadable or invalid; ``problems`` lists them for JSON output."""

    exit_code = ExitCode.INVALID_INVENTORY

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems: list[dict[str, object]] = []


class RenderError(HybridctlError):
    """A template could not be rendered from the inventory."""


class StateError(HybridctlError):
    """The run state directory (lock, journal, known_hosts) is in the way."""


class LockHeldError(StateError):
    """Another run holds the cluster's lock."""


class PlaceholderError(HybridctlError):
    """A rendered file still carries a placeholder and must not be installed."""


class NoInventoryError(UsageError):
    """No inventory file where one was looked for."""


class LocalFileError(HybridctlError):
    """A local file or directory could not be read or written (exit 1); the message names the path."""


_OS_HINTS = {
    errno.EEXIST: "something is already there: remove it or choose another path",
    errno.ENOENT: "the path, or a directory above it, does not exist or cannot hold files (e.g. /proc): "
    "create the directory or choose another path",
    errno.ENOTDIR: "a part of the path is a file, not a directory: choose another path",
    errno.EISDIR: "this is a directory, but a file is needed: choose a file path",
    errno.EACCES: "permission denied: fix the permissions or choose a path you may write",
    errno.EPERM: "operation not permitted: fix the permissions or choose a path you may write",
    errno.EROFS: "the file system is read-only: choose a writable path",
    errno.ENOSPC: "the disk is full: free some space or choose another path",
}


def local_file_error(exc: OSError) -> LocalFileError:
    """One line about an OS error on a local path: which path, what went wrong, what to do."""
    path = exc.filename if exc.filename is not None else "a local file"
    reason = exc.strerror or type(exc).__name__
    hint = _OS_HINTS.get(exc.errno or 0, "check the path and its permissions")
    return LocalFileError(f"cannot use {path}: {reason}", hint=hint)
