"""SSH logins: the TCP connection, host-key algorithm preference and user authentication.

Credentials are tried in order (key file, agent, password; OpenSSH's defaults when none are configured);
nothing about a passphrase or password ever reaches a message.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from pydantic import SecretStr

from hybridctl.inventory.models import Bastion, SSHConnection
from hybridctl.transport.base import (
    AuthenticationError,
    UnreachableError,
)

KEEPALIVE = 15  # seconds between SSH keepalives; a dead peer then fails the socket (TCP_USER_TIMEOUT)
USER_TIMEOUT_MS = KEEPALIVE * 3 * 1000
DEFAULT_KEY_FILES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
CONNECTION_ERRORS = (paramiko.SSHException, EOFError, OSError)


@dataclass(frozen=True)
class Login:
    """An SSH endpoint and the credentials for it: the host itself or its bastion."""

    what: str
    address: str
    port: int
    user: str
    key_file: str | None = None
    passphrase: SecretStr | None = field(default=None, repr=False)
    agent: bool = False
    password: SecretStr | None = field(default=None, repr=False)

    @classmethod
    def of(cls, settings: SSHConnection | Bastion, address: str, what: str) -> Login:
        """The login described by an inventory connection or bastion."""
        return cls(
            what,
            address,
            settings.port,
            settings.user,
            settings.private_key_file,
            settings.passphrase,
            settings.agent,
            settings.password,
        )

    @property
    def configured(self) -> bool:
        """Whether the inventory names any credential at all."""
        return bool(self.key_file or self.agent or self.password)


def tcp_connect(host: str, login: Login, timeout: float) -> socket.socket:
    """A connected TCP socket with TCP_NODELAY (one command is many small packets) and keepalives."""
    try:
        sock = socket.create_connection((login.address, login.port), timeout=timeout)
    except socket.gaierror as error:
        raise UnreachableError(host, f"cannot resolve {login.address}: {error.strerror}") from None
    except TimeoutError:
        raise UnreachableError(host, f"{login.what}: connection timed out after {timeout:g}s") from None
    except OSError as error:
        raise UnreachableError(host, f"{login.what}: {error.strerror or error}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    with contextlib.suppress(AttributeError, OSError):  # Linux only: fail a silent peer in bounded time
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
    return sock


def prefer_key_types(ssh: paramiko.Transport, known: list[str]) -> None:
    """Offer the key types known_hosts has for the host first, so the check compares like with like."""
    options = ssh.get_security_options()
    offered = list(options.key_types)
    first = [t for t in known if t in offered]
    if first:
        options.key_types = first + [t for t in offered if t not in first]


class _PassphraseMissingError(Exception):
    """A private key is encrypted and the inventory has no passphrase for it."""


def _read_key(path: Path, passphrase: SecretStr | None) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(path)
    except (TypeError, paramiko.PasswordRequiredException):
        # cryptography says "encrypted, no password given" with a TypeError
        if passphrase is None:
            raise _PassphraseMissingError from None
    # paramiko's stub says str, but from_path hands the password to cryptography, which needs bytes
    return paramiko.PKey.from_path(path, passphrase.get_secret_value().encode())  # type: ignore[arg-type]


def _auth_key(ssh: paramiko.Transport, user: str, key: paramiko.PKey) -> bool:
    ssh.auth_publickey(user, key)
    return ssh.is_authenticated()


def _auth_agent(ssh: paramiko.Transport, user: str) -> bool:
    agent = paramiko.Agent()
    try:
        for key in agent.get_keys():
            with contextlib.suppress(paramiko.AuthenticationException):
                if _auth_key(ssh, user, key):
                    return True
    finally:
        agent.close()
    return False


def _auth_password(ssh: paramiko.Transport, user: str, password: str) -> bool:
    # fallback=True: servers that only offer keyboard-interactive get the password there
    ssh.auth_password(user, password, fallback=True)
    return ssh.is_authenticated()


def _default_key_attempt(path: str, user: str) -> Callable[[paramiko.Transport], bool]:
    def attempt(ssh: paramiko.Transport) -> bool:
        try:
            key = paramiko.PKey.from_path(Path(path).expanduser())
        except (OSError, paramiko.SSHException, ValueError, TypeError):
            return False  # absent or passphrase-protected: OpenSSH would skip it too
        return _auth_key(ssh, user, key)

    return attempt


def authenticate(host: str, ssh: paramiko.Transport, login: Login) -> str:
    tried = []
    for method, attempt in auth_methods(host, login):
        tried.append(method)
        try:
            if attempt(ssh):
                return method
        except paramiko.AuthenticationException:
            continue
        except CONNECTION_ERRORS as error:
            raise UnreachableError(host, f"{login.what} closed the connection: {error}") from None
    raise AuthenticationError(
        host,
        f"{login.what} refused {login.user!r} (tried: {', '.join(tried) or 'no credentials'})",
        hint="check the user, key file, passphrase, agent or password in the inventory",
    )


def auth_methods(host: str, login: Login) -> list[tuple[str, Callable[[paramiko.Transport], bool]]]:
    """Credentials to try, in order; OpenSSH's defaults (agent, ~/.ssh/id_*) when none are configured."""
    methods: list[tuple[str, Callable[[paramiko.Transport], bool]]] = []
    if login.key_file:
        key = load_key(host, Path(login.key_file).expanduser(), login.passphrase)
        methods.append((f"key {login.key_file}", lambda ssh: _auth_key(ssh, login.user, key)))
    if login.agent or not login.configured:
        methods.append(("agent", lambda ssh: _auth_agent(ssh, login.user)))
    if login.password is not None:
        password = login.password.get_secret_value()
        methods.append(("password", lambda ssh: _auth_password(ssh, login.user, password)))
    if not login.configured:
        methods += [(f"key {path}", _default_key_attempt(path, login.user)) for path in DEFAULT_KEY_FILES]
    return methods


def load_key(host: str, path: Path, passphrase: SecretStr | None) -> paramiko.PKey:
    problem, hint = (
        "cannot be loaded",
        "check the passphrase and that it is an OpenSSH or PEM private key",
    )
    try:
        return _read_key(path, passphrase)
    except _PassphraseMissingError:
        problem, hint = "is passphrase-protected", "set ssh.passphrase in the inventory"
    except OSError as error:
        problem, hint = f"cannot be read ({error.strerror})", "check ssh.privateKeyFile"
    except (paramiko.SSHException, ValueError, TypeError):
        pass  # deliberately no detail: nothing about the passphrase may reach the message
    raise AuthenticationError(host, f"private key {path} {problem}", hint=hint)
