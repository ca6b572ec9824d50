"""HTTP plumbing of the WinRM test endpoint: a threaded HTTP/1.1 server with TLS done per connection.

Real: sockets, TLS (server certificate, optional client certificates), keep-alive. The backend (the
endpoint) decides what each POST means.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from tests.support.winrm.auth import ConnectionAuth, TlsInfo


class Backend(Protocol):
    """What the HTTP server needs from the endpoint."""

    @property
    def cert_file(self) -> Path | None:
        """The server certificate file, for TLS channel bindings."""

    def track_connection(self, connection: Any, *, add: bool) -> None:
        """Remember (or forget) an open client connection."""

    def handle_post(self, handler: RequestHandler) -> None:
        """Answer one POST."""


class HttpServer(ThreadingHTTPServer):
    """One listening socket; each connection gets a thread that also runs its TLS handshake."""

    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, backend: Backend, address: tuple[str, int], tls: ssl.SSLContext | None) -> None:
        self.backend = backend
        self.tls = tls
        super().__init__(address, RequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Run the TLS handshake in the connection's thread, then serve it while it is tracked."""
        # Headers and body go out in two writes; without NODELAY, Nagle + delayed ACK add 40 ms to each.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            try:
                request.settimeout(10)
                request = self.tls.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                return
        self.backend.track_connection(request, add=True)
        try:
            super().finish_request(request, client_address)
        finally:
            self.backend.track_connection(request, add=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Dropped connections are expected here; stay quiet."""


class RequestHandler(BaseHTTPRequestHandler):
    """One client connection: its authentication state lives as long as the TCP connection."""

    protocol_version = "HTTP/1.1"
    server: HttpServer

    def setup(self) -> None:
        """Per-connection state: NTLM context, TLS facts."""
        super().setup()
        self.auth_state = ConnectionAuth()
        self.tls_info = tls_info(self.request, self.server.backend.cert_file)

    def do_POST(self) -> None:
        """Hand the request to the endpoint."""
        self.server.backend.handle_post(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""

    def reply(
        self, status: int, body: bytes, content_type: str = "", headers: list[tuple[str, str]] | None = None
    ) -> None:
        """Send a response with a Content-Length, keeping the connection alive."""
        try:
            self.send_response(status)
            for name, value in headers or []:
                self.send_header(name, value)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            self.close_connection = True


def server_tls(cert_file: Path | None, key_file: Path | None, client_ca_file: Path | None) -> ssl.SSLContext:
    """The server TLS context; it asks for (not requires) a client certificate when a client CA is set."""
    if cert_file is None or key_file is None:
        raise ValueError("an https endpoint needs cert_file and key_file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file is not None:
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(cafile=str(client_ca_file))
    return context


def tls_info(connection: Any, cert_file: Path | None) -> TlsInfo | None:
    """The server certificate (for channel bindings) and the client certificate's fingerprint."""
    if not isinstance(connection, ssl.SSLSocket) or cert_file is None:
        return None
    server_der = ssl.PEM_cert_to_DER_cert(cert_file.read_text())
    peer = connection.getpeercert(binary_form=True)
    return TlsInfo(server_der, hashlib.sha256(peer).hexdigest() if peer else None)
