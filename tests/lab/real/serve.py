"""A plain HTTP server for the lab's artifact mirror (the apt repository, tarballs), on a lab address."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves files; logs nothing (apt and curl requests would flood the test output)."""

    def log_message(self, format: str, *args: Any) -> None:
        """Drop the access log."""


@contextlib.contextmanager
def http_server(directory: Path, address: str) -> Iterator[str]:
    """Serve ``directory`` on ``address`` (a free port) in a thread; yields the base URL (ends in ``/``)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer((address, 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="lab-http", daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
