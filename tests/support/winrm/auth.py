"""Authentication and message encryption for the WinRM test endpoint (real pyspnego acceptors).

NTLM and Negotiate use pyspnego's acceptor with ``NTLM_USER_FILE``; Kerberos uses pyspnego's ``kerberos`` (or
``negotiate``) acceptor over MIT GSSAPI with ``KRB5_KTNAME`` pointing at a keytab a real test KDC made
(``tests/support/kdc.py``): the ticket is checked against the keytab's service key, as on Windows.

``NTLM_USER_FILE`` (pyspnego's acceptor credential store) is process-global: ``register_ntlm_user`` owns one
file for the whole test process, sets the variable once under a lock, and keeps any users an earlier value
pointed at.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hashlib
import os
import re
import shutil
import struct
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import spnego
import spnego.channel_bindings
import spnego.exceptions

MUTUAL_TLS_HEADER = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"
SPNEGO_ENCRYPTED = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = "Encrypted Boundary"
_NEGOTIATE_RE = re.compile(r"^(Negotiate|NTLM|Kerberos)\s+(\S+)", re.IGNORECASE)
_CREDSSP_RE = re.compile(r"^CredSSP\s+(\S+)", re.IGNORECASE)
_BOUNDARY_RE = re.compile(rb"--\s*Encrypted Boundary(?:--)?\r\n")

_user_file_lock = threading.Lock()
_user_file: Path | None = None


def register_ntlm_user(user: str, password: str) -> Path:
    """Let ``user`` log on with NTLM in this process; returns the credential file."""
    global _user_file  # noqa: PLW0603 - one credential file per process, like the env var it backs
    with _user_file_lock:
        if _user_file is None:
            directory = Path(tempfile.mkdtemp(prefix="hybridctl-ntlm-"))
            atexit.register(shutil.rmtree, directory, True)
            _user_file = directory / "ntlm_users"
            previous = os.environ.get("NTLM_USER_FILE")
            _user_file.write_text(Path(previous).read_text() if previous and Path(previous).is_file() else "")
            os.environ["NTLM_USER_FILE"] = str(_user_file)
        domain, _, name = user.rpartition("\\")
        with _user_file.open("a", encoding="utf-8") as handle:
            handle.write(f"{domain}:{name}:{password}\n")
        return _user_file


@dataclass
class Accounts:
    """Who may log on: passwords by user name, and client certificates (SHA-256 fingerprint) to users."""

    passwords: dict[str, str] = field(default_factory=dict)
    certificates: dict[str, str] = field(default_factory=dict)


@dataclass
class ConnectionAuth:
    """Per TCP connection: NTLM authenticates the connection, not each request."""

    user: str | None = None
    context: Any = None


@dataclass
class AuthResult:
    """The outcome for one request: a user, or a 401 with headers."""

    user: str | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    encrypting: bool = False


def authenticate(
    header: str, state: ConnectionAuth, accounts: Accounts, methods: frozenset[str], tls: TlsInfo | None
) -> AuthResult:
    """Check one request's Authorization header against the enabled ``methods``."""
    if header == MUTUAL_TLS_HEADER and "certificate" in methods and tls is not None:
        return AuthResult(accounts.certificates.get(tls.peer_fingerprint or ""), _offer(methods))
    if header.lower().startswith("basic ") and "basic" in methods and tls is not None:
        return _basic(header[6:], accounts, methods)
    credssp = _CREDSSP_RE.match(header)
    if credssp and "credssp" in methods:
        return _credssp(credssp.group(1), state, accounts, methods)
    match = _NEGOTIATE_RE.match(header)
    if match and methods & {"ntlm", "negotiate", "kerberos"}:
        return _negotiate(match.group(1), match.group(2), state, methods, tls)
    if not header and state.user is not None:
        return AuthResult(state.user, encrypting=state.context is not None)
    return AuthResult(None, _offer(methods))


def _basic(token: str, accounts: Accounts, methods: frozenset[str]) -> AuthResult:
    try:
        user, _, password = base64.b64decode(token).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return AuthResult(None, _offer(methods))
    if user in accounts.passwords and accounts.passwords[user] == password:
        return AuthResult(user)
    return AuthResult(None, _offer(methods))


def _negotiate(
    scheme: str, token: str, state: ConnectionAuth, methods: frozenset[str], tls: TlsInfo | None
) -> AuthResult:
    if state.context is None or state.user is not None:
        bindings = tls.channel_bindings() if tls is not None else None
        state.context = spnego.server(protocol="negotiate", channel_bindings=bindings)
        state.user = None
    try:
        out = state.context.step(base64.b64decode(token))
    except (spnego.exceptions.SpnegoError, binascii.Error):
        state.context = None
        return AuthResult(None, _offer(methods))
    reply = [("WWW-Authenticate", f"{scheme} {base64.b64encode(out).decode()}")] if out else []
    if not state.context.complete:
        return AuthResult(None, reply)
    if _ntlm_refused(state.context, methods):
        state.context = None
        return AuthResult(None, _offer(methods))
    state.user = str(state.context.client_principal or "")
    return AuthResult(state.user, reply, encrypting=True)


def _credssp(token: str, state: ConnectionAuth, accounts: Accounts, methods: frozenset[str]) -> AuthResult:
    """CredSSP (pyspnego acceptor): TLS inside HTTP, NTLM inside that, then the client delegates its password,
    which the endpoint checks against the account like Windows logs the user on with it."""
    if state.context is None or state.user is not None:
        state.context, state.user = spnego.server(protocol="credssp"), None
    try:
        out = state.context.step(base64.b64decode(token))
    except (spnego.exceptions.SpnegoError, binascii.Error):
        state.context = None
        return AuthResult(None, _offer(methods))
    reply = [("WWW-Authenticate", f"CredSSP {base64.b64encode(out).decode()}")] if out else []
    if not state.context.complete:
        return AuthResult(None, reply)
    delegated = state.context.get_extra_info("client_credential")
    user = str(getattr(delegated, "username", "") or "")
    if accounts.passwords.get(user) != getattr(delegated, "password", None):
        state.context = None
        return AuthResult(None, _offer(methods))
    state.user = user
    return AuthResult(user, reply, encrypting=True)


def _ntlm_refused(context: Any, methods: frozenset[str]) -> bool:
    """A domain host where policy disabled NTLM: only a Kerberos logon counts (SPNEGO or raw Kerberos)."""
    return not methods & {"ntlm", "negotiate"} and getattr(context, "negotiated_protocol", "") != "kerberos"


def _offer(methods: frozenset[str]) -> list[tuple[str, str]]:
    offered = []
    if methods & {"ntlm", "negotiate", "kerberos"}:
        offered.append(("WWW-Authenticate", "Negotiate"))
    if "kerberos" in methods:
        offered.append(("WWW-Authenticate", "Kerberos"))
    if "credssp" in methods:
        offered.append(("WWW-Authenticate", "CredSSP"))
    if "basic" in methods:
        offered.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
    return offered


@dataclass
class TlsInfo:
    """What the endpoint knows about a TLS connection: its own certificate and the client's."""

    server_cert_der: bytes
    peer_fingerprint: str | None = None

    def channel_bindings(self) -> spnego.channel_bindings.GssChannelBindings:
        """RFC 5929 tls-server-end-point bindings, the same ones pypsrp sends."""
        digest = hashlib.sha256(self.server_cert_der).digest()
        return spnego.channel_bindings.GssChannelBindings(application_data=b"tls-server-end-point:" + digest)


def unwrap(body: bytes, context: Any) -> bytes:
    """Decrypt a ``multipart/encrypted`` WinRM body (one or more encrypted parts)."""
    parts = [part for part in _BOUNDARY_RE.split(body) if part]
    message = b""
    for header_part, payload in zip(parts[::2], parts[1::2], strict=True):
        expected = int(header_part.strip().split(b"Length=")[1])
        wrapped = payload.split(b"application/octet-stream\r\n", 1)[1]
        header_length = struct.unpack("<i", wrapped[:4])[0]
        plain = context.unwrap_winrm(wrapped[4 : 4 + header_length], wrapped[4 + header_length :])
        if len(plain) != expected:
            raise ValueError(f"decrypted length {len(plain)} does not match the announced {expected}")
        message += plain
    return message


def encryption_protocol(content_type: str) -> str:
    """The ``protocol`` of a ``multipart/encrypted`` Content-Type (SPNEGO, Kerberos or CredSSP)."""
    match = re.search(r'protocol="([^"]+)"', content_type)
    return match.group(1) if match else SPNEGO_ENCRYPTED


def wrap(message: bytes, context: Any, protocol: str = SPNEGO_ENCRYPTED) -> tuple[str, bytes]:
    """Encrypt a response body; returns (Content-Type, payload) the way Windows frames it."""
    header, data, padding = context.wrap_winrm(message)
    frame = "\r\n".join(
        [
            f"--{BOUNDARY}",
            f"\tContent-Type: {protocol}",
            f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={len(message) + padding}",
            f"--{BOUNDARY}",
            "\tContent-Type: application/octet-stream",
            "",
        ]
    ).encode()
    payload = frame + struct.pack("<i", len(header)) + header + data + f"--{BOUNDARY}--\r\n".encode()
    content_type = f'multipart/encrypted;protocol="{protocol}";boundary="{BOUNDARY}"'
    return content_type, payload
