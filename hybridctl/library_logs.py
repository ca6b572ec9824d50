"""Where the libraries' own log records go: into hybridctl's per-host logs, never onto the terminal.

paramiko, pypsrp, psrpcore, pyspnego, requests and urllib3 log through :mod:`logging`. With no handler
configured, Python's last-resort handler prints their warnings and errors (paramiko's "Exception (client):
Error reading SSH protocol banner" with a traceback, once per attempt) to stderr, even under
``--output json``. ``capture()`` gives each of those loggers one handler that writes the record, as one
masked line per line of text, into the log of the host it is about, and stops it from propagating.

Which host a record is about: paramiko logs from its own transport thread, under the logger name set with
``Transport.set_log_channel(paramiko_channel(host))``; the other libraries log from the thread that called
them, which the runner tags with ``about_host(host)``. Records with no known host, or logged while no run is
open (``validate``, ``render``), are dropped unless ``--debug`` asked to see them on stderr.

The logging registry is process-wide by nature, so the sink is too: ``Session`` opens and closes it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Protocol

LIBRARY_LOGGERS = ("paramiko", "pypsrp", "psrpcore", "spnego", "requests", "urllib3", "py.warnings")
PARAMIKO_CHANNEL = "paramiko.transport.hybridctl-host."


class HostEventLog(Protocol):
    """The part of ``HostLogs`` this module writes to."""

    def event(self, host: str, message: str) -> None:
        """Record one line about ``host``."""
        ...


class _Sink:
    """The open run's host logs (or none)."""

    def __init__(self) -> None:
        self.logs: HostEventLog | None = None
        self.debug = False
        self.local = threading.local()


_SINK = _Sink()


def paramiko_channel(host: str) -> str:
    """The logger name a paramiko Transport of ``host`` logs under (see ``set_log_channel``)."""
    return PARAMIKO_CHANNEL + host


@contextlib.contextmanager
def about_host(host: str) -> Iterator[None]:
    """Library records logged by this thread inside the block go to ``host``'s log."""
    previous = getattr(_SINK.local, "host", None)
    _SINK.local.host = host
    try:
        yield
    finally:
        _SINK.local.host = previous


@contextlib.contextmanager
def routed_to(logs: HostEventLog) -> Iterator[None]:
    """While the block runs, library records land in ``logs``."""
    previous, _SINK.logs = _SINK.logs, logs
    try:
        yield
    finally:
        _SINK.logs = previous


class _HostLogHandler(logging.Handler):
    """Writes a library record into its host's log; with ``--debug`` also to stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            host = _host_of(record)
            logs = _SINK.logs
            if logs is not None and host is not None:
                for line in text.splitlines() or [""]:
                    logs.event(host, f"{record.name}: {line}")
            if _SINK.debug:
                sys.stderr.write(text + "\n")
        except Exception:  # a logging failure must never break a run (nor print a traceback)
            return


def _host_of(record: logging.LogRecord) -> str | None:
    if record.name.startswith(PARAMIKO_CHANNEL):
        return record.name.removeprefix(PARAMIKO_CHANNEL)
    host = getattr(_SINK.local, "host", None)
    return host if isinstance(host, str) else None


def capture(*, debug: bool = False) -> None:
    """Route every library logger into the host logs (idempotent); ``debug`` also echoes to stderr."""
    _SINK.debug = debug
    logging.captureWarnings(True)
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.propagate = False
        logger.setLevel(logging.DEBUG if debug else logging.INFO)
        if not any(isinstance(h, _HostLogHandler) for h in logger.handlers):
            handler = _HostLogHandler()
            handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
            logger.addHandler(handler)


__all__ = ["LIBRARY_LOGGERS", "about_host", "capture", "paramiko_channel", "routed_to"]
