"""A WS-Management endpoint on 127.0.0.1 that the unmodified pypsrp client talks to over HTTP(S).

Real: HTTP/1.1 with keep-alive, TLS (server and optional client certificates), Basic, NTLM/SPNEGO and
Kerberos authentication (pyspnego acceptors; Kerberos against a real MIT KDC's keytab), message
encryption, PSRP fragments (psrpcore). Simulated: the Windows host behind it (``SimulatedWindowsHost``).
A restart really closes the listening socket, so clients see "connection refused" until the host is back
on the same port.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import socket
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.support.winrm import soap
from tests.support.winrm.auth import Accounts, AuthResult, authenticate, encryption_protocol, unwrap, wrap
from tests.support.winrm.host import SimulatedWindowsHost
from tests.support.winrm.httpd import HttpServer, RequestHandler, server_tls
from tests.support.winrm.shells import PsrpShell, ShellError

PS_RESOURCE_PREFIX = "http://schemas.microsoft.com/powershell/"
SHELL_RESOURCE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CONFIG_RESOURCE = "http://schemas.microsoft.com/wbem/wsman/1/config"
SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"
THREAD_JOIN_SECONDS = 10.0


@dataclass
class EndpointConfig:
    """How the endpoint listens and whom it lets in."""

    scheme: Literal["https", "http"] = "https"
    methods: frozenset[str] = frozenset({"basic"})
    accounts: Accounts = field(default_factory=Accounts)
    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None
    address: str = "127.0.0.1"
    port: int = 0
    restart_down_seconds: float = 1.0
    receive_linger: float = 0.5
    max_envelope_kb: int = 500


@dataclass(frozen=True)
class WireRecord:
    """The start of one raw HTTP body as it crossed the socket (to prove encryption)."""

    direction: Literal["request", "response"]
    content_type: str
    head: bytes


class WinRMEndpoint:
    """The endpoint: HTTP server, shells, request counters, and restart / connection-drop controls."""

    def __init__(self, host: SimulatedWindowsHost, config: EndpointConfig | None = None) -> None:
        self.host = host
        self.config = config or EndpointConfig()
        self.port = self.config.port
        self.shells: dict[str, PsrpShell] = {}
        self.request_count = 0
        self.action_counts: collections.Counter[str] = collections.Counter()
        self.wire: collections.deque[WireRecord] = collections.deque(maxlen=200)
        self._lock = threading.RLock()
        self._lifecycle = threading.Lock()
        self._connections: set[Any] = set()
        self._server: HttpServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._helpers: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._tls = (
            server_tls(self.config.cert_file, self.config.key_file, self.config.client_ca_file)
            if self.config.scheme == "https"
            else None
        )
        host.power = self

    @property
    def url(self) -> str:
        """The endpoint URL, e.g. ``https://127.0.0.1:40123/wsman``."""
        return f"{self.config.scheme}://{self.config.address}:{self.port}/wsman"

    @property
    def listening(self) -> bool:
        """True while the listening socket is open."""
        return self._server is not None

    def start(self) -> WinRMEndpoint:
        """Start listening (on the configured port, or a free one the first time)."""
        with self._lifecycle:
            self._listen()
        return self

    def stop(self) -> None:
        """Stop everything this endpoint started: listener, connections, commands, restart timers."""
        self._stopping.set()
        with self._lifecycle:
            self._go_down()
        for thread in self._helpers:
            thread.join(THREAD_JOIN_SECONDS)

    def __enter__(self) -> WinRMEndpoint:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset_counts(self) -> None:
        """Zero the request counters."""
        with self._lock:
            self.request_count = 0
            self.action_counts.clear()

    def drop_connections(self) -> None:
        """Close every client TCP connection now (the commands keep running, like a network cut)."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                socket.socket.shutdown(connection, socket.SHUT_RDWR)
        for shell in list(self.shells.values()):
            shell.wake()

    def schedule_restart(self, delay: float) -> None:
        """Restart ``delay`` seconds from now (what the reboot script's scheduled task does)."""
        thread = threading.Thread(
            target=self._restart_later, args=(delay,), name="winrm-restart", daemon=True
        )
        self._helpers.append(thread)
        thread.start()

    def restart(self, down_for: float | None = None) -> None:
        """Go down now (refuse connections, lose every shell), come back after ``down_for`` seconds."""
        with self._lifecycle:
            if self._stopping.is_set():
                return
            self._go_down()
        if self._stopping.wait(self.config.restart_down_seconds if down_for is None else down_for):
            return
        with self._lifecycle:
            if not self._stopping.is_set():
                self.host.machine.power_cycle()
                self._listen()

    def _restart_later(self, delay: float) -> None:
        if not self._stopping.wait(delay):
            self.restart()

    def _listen(self) -> None:
        server = HttpServer(self, (self.config.address, self.port), self._tls)
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.name = f"winrm-endpoint-{self.port}"
        thread.start()
        self._server, self._serve_thread = server, thread

    def _go_down(self) -> None:
        server = self._server
        if server is None:
            return
        server.shutdown()
        self.drop_connections()
        for shell in list(self.shells.values()):
            shell.close()
        self.shells.clear()
        server.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join(THREAD_JOIN_SECONDS)
        self._server = None  # only now: "not listening" means the socket is really closed

    @property
    def cert_file(self) -> Path | None:
        """The server certificate file (https)."""
        return self.config.cert_file

    def track_connection(self, connection: Any, *, add: bool) -> None:
        """Remember an open client connection, so a restart or a drop can close it."""
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def handle_post(self, handler: RequestHandler) -> None:
        """Count, authenticate, decrypt, dispatch and answer one POST."""
        with self._lock:
            self.request_count += 1
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        content_type = handler.headers.get("Content-Type", "")
        self.wire.append(WireRecord("request", content_type, body[:4096]))
        auth = authenticate(
            handler.headers.get("Authorization", ""),
            handler.auth_state,
            self.config.accounts,
            self.config.methods,
            handler.tls_info,
        )
        if auth.user is None:
            handler.reply(401, b"", headers=auth.headers)
            return
        self._serve(handler, auth, body, content_type)

    def _serve(self, handler: RequestHandler, auth: AuthResult, body: bytes, content_type: str) -> None:
        encrypted = content_type.startswith(("multipart/encrypted", "multipart/x-multi-encrypted"))
        if encrypted:
            body = unwrap(body, handler.auth_state.context)
        elif body and self.config.scheme == "http":
            # AllowUnencrypted=false, the Windows default: plain SOAP over HTTP is refused.
            handler.reply(400, b"unencrypted traffic is not allowed", "text/plain")
            return
        if not body:
            handler.reply(200, b"", headers=auth.headers)
            return
        status, response = self._dispatch(body, auth.user or "")
        reply_type = SOAP_CONTENT_TYPE
        if encrypted:
            reply_type, response = wrap(
                response, handler.auth_state.context, encryption_protocol(content_type)
            )
        self.wire.append(WireRecord("response", reply_type, response[:4096]))
        handler.reply(status, response, reply_type, auth.headers)

    def _dispatch(self, body: bytes, user: str) -> tuple[int, bytes]:
        try:
            request = soap.parse_request(body)
        except (ET.ParseError, ValueError) as exc:
            return 500, soap.fault("", soap.INVALID_REQUEST, f"invalid request: {exc}")
        with self._lock:
            self.action_counts[request.verb] += 1
        action = getattr(self, f"_action_{request.verb.lower()}", None)
        if action is None:
            return 500, soap.fault(
                request.message_id, soap.ACTION_NOT_SUPPORTED, f"{request.action} is not supported"
            )
        try:
            return 200, action(request, user)
        except ShellError as exc:
            return 500, soap.fault(
                request.message_id, exc.code, exc.message, machine=self.host.machine.hostname
            )
        except _Timeout:
            return 500, self._timeout_fault(request)
        except Exception as exc:  # an endpoint bug must surface in the test, not as a dropped connection
            return 500, soap.fault(request.message_id, soap.INTERNAL_ERROR, f"test endpoint bug: {exc!r}")

    @staticmethod
    def _timeout_fault(request: soap.Request) -> bytes:
        message = (
            "The WS-Management service cannot complete the operation within the time specified in "
            "OperationTimeout."
        )
        return soap.fault(request.message_id, soap.OPERATION_TIMEOUT, message, subcode="w:TimedOut")

    def _shell(self, request: soap.Request) -> PsrpShell:
        shell = self.shells.get(request.shell_id or "")
        if shell is None:
            raise ShellError(
                soap.SHELL_NOT_FOUND, f"The shell {request.shell_id} was not found on the server."
            )
        return shell

    def _action_create(self, request: soap.Request, user: str) -> bytes:
        if not request.resource_uri.startswith(PS_RESOURCE_PREFIX) or request.body is None:
            raise ShellError(soap.ACTION_NOT_SUPPORTED, "this endpoint only offers PowerShell shells")
        creation = request.body.find("pwsh:creationXml", soap.NS)
        shell_id = request.body.attrib.get("ShellId", "")
        if creation is None or not shell_id:
            raise ShellError(soap.INVALID_REQUEST, "Create needs a ShellId and creationXml")
        shell = PsrpShell(shell_id, self.host, linger=self.config.receive_linger)
        shell.open(base64.b64decode(creation.text or ""))
        self.shells[shell.id] = shell
        return soap.envelope(
            soap.TRANSFER + "CreateResponse", request.message_id, *_created(self, request, shell, user)
        )

    def _action_command(self, request: soap.Request, user: str) -> bytes:
        shell, body = self._shell(request), _body(request)
        arguments = body.find("rsp:Arguments", soap.NS)
        command_id = shell.command(
            body.attrib.get("CommandId", ""),
            base64.b64decode(arguments.text or "") if arguments is not None else b"",
        )
        response = soap.element("rsp:CommandResponse")
        soap.child(response, "rsp:CommandId", command_id)
        return soap.envelope(soap.SHELL + "CommandResponse", request.message_id, response)

    def _action_send(self, request: soap.Request, user: str) -> bytes:
        shell = self._shell(request)
        for stream in _body(request).findall("rsp:Stream", soap.NS):
            shell.send(stream.attrib.get("CommandId"), base64.b64decode(stream.text or ""))
        return soap.envelope(
            soap.SHELL + "SendResponse", request.message_id, soap.element("rsp:SendResponse")
        )

    def _action_receive(self, request: soap.Request, user: str) -> bytes:
        shell = self._shell(request)
        desired = _body(request).find("rsp:DesiredStream", soap.NS)
        command_id = desired.attrib.get("CommandId") if desired is not None else None
        received = shell.receive(command_id, request.operation_timeout)
        if received is None:
            raise _Timeout
        response = soap.element("rsp:ReceiveResponse")
        ids = {"CommandId": command_id.upper()} if command_id else {}
        if received.data:
            soap.child(
                response, "rsp:Stream", base64.b64encode(received.data).decode(), {"Name": "stdout", **ids}
            )
        if command_id:
            state = soap.COMMAND_DONE if received.done else soap.COMMAND_RUNNING
            soap.child(response, "rsp:CommandState", None, {**ids, "State": state})
        return soap.envelope(soap.SHELL + "ReceiveResponse", request.message_id, response)

    def _action_signal(self, request: soap.Request, user: str) -> bytes:
        shell, body = self._shell(request), _body(request)
        code = body.find("rsp:Code", soap.NS)
        shell.signal(body.attrib.get("CommandId", ""), (code.text or "") if code is not None else "")
        return soap.envelope(
            soap.SHELL + "SignalResponse", request.message_id, soap.element("rsp:SignalResponse")
        )

    def _action_delete(self, request: soap.Request, user: str) -> bytes:
        shell = self._shell(request)
        self.shells.pop(shell.id, None)
        shell.close()
        return soap.envelope(soap.TRANSFER + "DeleteResponse", request.message_id)

    def _action_get(self, request: soap.Request, user: str) -> bytes:
        if request.resource_uri.startswith(CONFIG_RESOURCE):
            config = soap.element("cfg:Config")
            soap.child(config, "cfg:MaxEnvelopeSizekb", str(self.config.max_envelope_kb))
            soap.child(config, "cfg:MaxTimeoutms", "60000")
            return soap.envelope(soap.TRANSFER + "GetResponse", request.message_id, config)
        if request.resource_uri == SHELL_RESOURCE:
            return soap.envelope(
                soap.TRANSFER + "GetResponse", request.message_id, _shell_element(self._shell(request), user)
            )
        raise ShellError(soap.ACTION_NOT_SUPPORTED, f"Get on {request.resource_uri} is not supported")


class _Timeout(Exception):
    pass


def _body(request: soap.Request) -> ET.Element:
    if request.body is None:
        raise ShellError(soap.INVALID_REQUEST, f"{request.verb} needs a body")
    return request.body


def _created(endpoint: WinRMEndpoint, request: soap.Request, shell: PsrpShell, user: str) -> list[ET.Element]:
    created = soap.element("wst:ResourceCreated")
    soap.child(created, "wsa:Address", endpoint.url)
    params = soap.child(created, "wsa:ReferenceParameters")
    soap.child(params, "wsman:ResourceURI", request.resource_uri)
    selectors = soap.child(params, "wsman:SelectorSet")
    soap.child(selectors, "wsman:Selector", shell.id, {"Name": "ShellId"})
    return [created, _shell_element(shell, user, request.resource_uri)]


def _shell_element(shell: PsrpShell, user: str, resource_uri: str = "") -> ET.Element:
    element = soap.element("rsp:Shell")
    for tag, value in (
        ("ShellId", shell.id),
        ("ResourceUri", resource_uri or PS_RESOURCE_PREFIX + "Microsoft.PowerShell"),
        ("Owner", user),
        ("ClientIP", "127.0.0.1"),
        ("IdleTimeOut", "PT7200.000S"),
        ("InputStreams", "stdin pr"),
        ("OutputStreams", "stdout"),
        ("State", "Connected"),
    ):
        soap.child(element, f"rsp:{tag}", value)
    return element
