"""Transports: run commands and move files on one host (SSH via paramiko, WinRM via pypsrp)."""

from hybridctl.transport.base import (
    AuthenticationError,
    CommandFailedError,
    CommandTimeoutError,
    ConnectionLostError,
    HostKeyError,
    Result,
    SudoPasswordError,
    Transport,
    TransportError,
    UnreachableError,
)

__all__ = [
    "AuthenticationError",
    "CommandFailedError",
    "CommandTimeoutError",
    "ConnectionLostError",
    "HostKeyError",
    "Result",
    "SudoPasswordError",
    "Transport",
    "TransportError",
    "UnreachableError",
]
