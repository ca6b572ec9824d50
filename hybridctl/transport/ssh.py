"""SSH transport over paramiko: one connection per host for the whole run, one channel per command.

Threads: paramiko multiplexes channels over one connection, so ``run`` may even be called from several
threads at once; the runner calls each transport from one worker thread at a time. Connecting (and
reconnecting after a lost connection) and the SFTP session behind ``put``/``get`` are serialised by locks.

Commands run as the login user, or as root through ``sudo -n --`` when the inventory says so (``sudo`` is
probed once at connect time, so a password prompt fails early with SudoPasswordError). A command with a
timeout runs under the remote coreutils ``timeout``; see ``with_deadline``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import posixpath
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paramiko

from hybridctl.commands import Command, PosixCommand, posix, shell
from hybridctl.inventory.models import Host
from hybridctl.library_logs import paramiko_channel
from hybridctl.masking import Masker
from hybridctl.transport.base import (
    ByteProgress,
    CommandLog,
    CommandTimeoutError,
    ConnectionLostError,
    NullLog,
    ProgressSink,
    PutResult,
    Result,
    SudoPasswordError,
    TransferReports,
    TransportError,
    UnreachableError,
    loggable,
    size_of,
)
from hybridctl.transport.hostkeys import KnownHosts, fingerprint
from hybridctl.transport.ssh_auth import (
    CONNECTION_ERRORS,
    KEEPALIVE,
    Login,
    authenticate,
    prefer_key_types,
    tcp_connect,
)

KILL_AFTER = 5.0  # seconds between TERM and KILL when a command outlives its timeout
WAIT_SLACK = 10.0  # how long past timeout + KILL_AFTER we wait for the host before calling it lost
POLL = 0.2  # how often a waiting command re-checks its deadline
CHUNK = 256 * 1024
# timeout(1) exits 124 after TERM; when KILL is needed it kills its own process group, itself included,
# so the shell reports 137 or sshd reports a signal death, which paramiko shows as -1
TIMED_OUT = (124, 137, -1)
SUDO_PASSWORD_SIGNS = ("a password is required", "a terminal is required", "no tty present")
MISSING_FILE_EXIT = 44  # GET_SCRIPT's "no such file" exit code, chosen to differ from cat's and sudo's
GET_SCRIPT = '[ -e "$1" ] || exit 44; exec cat -- "$1"'

# Runs (as root for sudo users) after an upload: copy into the target directory if the upload went
# elsewhere, check the hash, set the mode, rename into place; the trap removes leftovers on any failure.
INSTALL_SCRIPT = """\
set -e
umask 077
staging=$1 work=$2 want=$3 mode=$4 dest=$5
trap 'rm -f -- "$work" "$staging"' EXIT
[ "$staging" = "$work" ] || cp -- "$staging" "$work"
got=$(sha256sum < "$work")
got=${got%% *}
if [ "$got" != "$want" ]; then echo "sha256 mismatch: sent $want, host has $got" >&2; exit 3; fi
chmod "$mode" -- "$work"
mv -fT -- "$work" "$dest"
"""


@dataclass(frozen=True)
class ConnectionInfo:
    """Facts about an open connection, for diagnostics and tests."""

    peer: str
    local_port: int
    nodelay: bool
    auth: str
    host_key: str
    via: str | None


def with_deadline(command: PosixCommand, timeout: float) -> PosixCommand:
    """``command`` wrapped in the remote ``timeout -k KILL_AFTER SECONDS``.

    Why the remote side ends it: closing our channel would only end our wait, and the process would go on
    running on the host. ``timeout`` puts itself and the command in a new process group and signals the
    whole group (TERM, then KILL), and it does so even if our connection drops in between. It is placed
    inside ``sudo`` so that it may signal root's processes.
    """
    argv = ("timeout", "-k", f"{KILL_AFTER:g}", f"{timeout:.3f}", *command.argv)
    return dataclasses.replace(command, argv=argv)


class SSHTransport:
    """A Transport to one Linux host over SSH (paramiko), optionally through a bastion."""

    def __init__(
        self,
        host: Host,
        *,
        known_hosts: KnownHosts,
        log: CommandLog | None = None,
        masker: Masker | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        if host.ssh is None:
            raise ValueError(f"{host.name}: no ssh settings in the inventory")
        self.host = host.name
        self._target = Login.of(host.ssh, host.address, f"{host.address}:{host.ssh.port}")
        bastion = host.ssh.bastion
        self._bastion = (
            Login.of(bastion, bastion.address, f"bastion {bastion.address}:{bastion.port}")
            if bastion
            else None
        )
        self._sudo = host.ssh.uses_sudo
        self._known_hosts = known_hosts
        self._log = log or NullLog()
        self._masker = masker or Masker()
        for login in filter(None, (self._target, self._bastion)):
            self._masker.add(login.password, login.passphrase)
        self._timeout = connect_timeout
        self._lock = threading.RLock()
        self._sftp_lock = threading.Lock()
        self._ssh: paramiko.Transport | None = None
        self._jump: paramiko.Transport | None = None
        self._sock: socket.socket | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._home: str | None = None
        self._closed = False
        self.info: ConnectionInfo | None = None

    @classmethod
    def connect(
        cls,
        host: Host,
        *,
        known_hosts: KnownHosts,
        log: CommandLog | None = None,
        masker: Masker | None = None,
        connect_timeout: float = 10.0,
    ) -> SSHTransport:
        """Open a verified, authenticated connection to ``host``; raises TransportError subclasses."""
        transport = cls(
            host, known_hosts=known_hosts, log=log, masker=masker, connect_timeout=connect_timeout
        )
        transport.open()
        return transport

    def __repr__(self) -> str:
        via = f", via={self._bastion.what!r}" if self._bastion else ""
        user, where = self._target.user, self._target.what
        return f"SSHTransport(host={self.host!r}, target='{user}@{where}'{via}, sudo={self._sudo})"

    # --- connecting ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, verify the host key, log in and, for sudo users, check that ``sudo -n`` works."""
        with self._lock:
            self._drop()
            try:
                self._ssh, auth = self._login(self._target, self._socket_to_target())
            except BaseException:
                self._drop()
                raise
            self._ssh.set_keepalive(KEEPALIVE)
            self.info = self._describe(self._ssh, auth)
            self._event(f"connected to {self._target.user}@{self.info.peer} ({auth}, {self.info.host_key})")
            if self._sudo:
                self._check_sudo_or_drop()

    def _check_sudo_or_drop(self) -> None:
        try:
            self._check_sudo()
        except BaseException:
            self._drop()  # a login that cannot become root is of no use to any step
            raise

    def _socket_to_target(self) -> socket.socket | paramiko.Channel:
        if self._bastion is None:
            self._sock = tcp_connect(self.host, self._target, self._timeout)
            return self._sock
        self._sock = tcp_connect(self.host, self._bastion, self._timeout)
        self._jump, _ = self._login(self._bastion, self._sock)
        return self._tunnel(self._jump)

    def _tunnel(self, jump: paramiko.Transport) -> paramiko.Channel:
        """A direct-tcpip channel from the bastion to the target, used as the target's socket."""
        target = (self._target.address, self._target.port)
        try:
            return jump.open_channel("direct-tcpip", target, ("127.0.0.1", 0), timeout=self._timeout)
        except paramiko.ChannelException as error:
            raise UnreachableError(
                self.host, f"bastion cannot reach {self._target.what}: {error.text}"
            ) from None
        except CONNECTION_ERRORS as error:
            raise UnreachableError(self.host, f"bastion connection failed: {error}") from None

    def _login(self, login: Login, sock: socket.socket | paramiko.Channel) -> tuple[paramiko.Transport, str]:
        ssh = paramiko.Transport(sock)
        ssh.set_log_channel(paramiko_channel(self.host))  # its records go to this host's log
        try:
            self._handshake(ssh, login)
            return ssh, authenticate(self.host, ssh, login)
        except BaseException:
            ssh.close()
            raise

    def _handshake(self, ssh: paramiko.Transport, login: Login) -> None:
        ssh.banner_timeout = ssh.handshake_timeout = ssh.auth_timeout = self._timeout
        prefer_key_types(ssh, self._known_hosts.key_types(login.address, login.port))
        try:
            ssh.start_client(timeout=self._timeout)
        except CONNECTION_ERRORS as error:
            raise _handshake_error(self.host, login, error) from None
        key = ssh.get_remote_server_key()
        # a bastion's key is recorded under the bastion's own address, so forgetting a host keeps it
        owner = self.host if login is self._target else login.address
        if self._known_hosts.verify(owner, login.address, login.port, key):
            self._event(f"recorded new host key of {login.what}: {key.get_name()} {fingerprint(key)}")

    def _check_sudo(self) -> None:
        # LC_ALL=C: sudo translates its messages, and SUDO_PASSWORD_SIGNS are the English ones
        probe = posix("env", "LC_ALL=C", "sudo", "-n", "--", "true").render()
        code, _, err = self._execute(probe, None, "sudo -n -- true", None)
        if code != 0:
            raise self._sudo_error(_text(err))

    def _sudo_error(self, stderr: str) -> TransportError:
        user = self._target.user
        if any(sign in stderr for sign in SUDO_PASSWORD_SIGNS):
            return SudoPasswordError(
                self.host,
                f"sudo asks {user!r} for a password; hybridctl runs 'sudo -n' and never types one",
                hint=f"allow passwordless sudo: '{user} ALL=(ALL) NOPASSWD: ALL' in /etc/sudoers.d/hybridctl",
            )
        detail = self._masker.mask(stderr.strip()) or "no message"
        return TransportError(self.host, f"'sudo -n true' failed for {user!r}: {detail}")

    def _describe(self, ssh: paramiko.Transport, auth: str) -> ConnectionInfo:
        key = ssh.get_remote_server_key()
        sock = self._sock
        assert sock is not None
        nodelay = bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        via = self._bastion.what if self._bastion else None
        return ConnectionInfo(self._target.what, sock.getsockname()[1], nodelay, auth, fingerprint(key), via)

    def _connected(self) -> paramiko.Transport:
        """The live connection, reconnecting once if it was lost since the last command."""
        with self._lock:
            if self._closed:
                raise TransportError(self.host, "the SSH transport is closed")
            if self._ssh is None or not self._ssh.is_active():
                if self._ssh is not None:
                    self._event("connection lost; reconnecting")
                self.open()
            assert self._ssh is not None
            return self._ssh

    def _drop(self) -> None:
        for resource in (self._sftp, self._ssh, self._jump, self._sock):
            if resource is not None:
                with contextlib.suppress(Exception):
                    resource.close()
        self._sftp = self._ssh = self._jump = self._sock = None

    def close(self) -> None:
        """Close the connection and everything riding on it (idempotent)."""
        with self._lock:
            if not self._closed and self._ssh is not None:
                self._event("disconnected")
            self._closed = True
            self._drop()

    # --- commands -----------------------------------------------------------------------------------

    def run(
        self, command: Command, timeout: float | None = None, progress: ProgressSink | None = None
    ) -> Result:
        """Run ``command`` (as root through sudo when configured); a non-zero exit is a Result.

        The exit code is -1 when the remote process died of a signal (paramiko drops SSH's exit-signal).
        ``progress`` hears each complete stdout line as it arrives.
        """
        if not isinstance(command, PosixCommand):
            raise TypeError("SSH hosts run POSIX commands, not PowerShell scripts")
        display = self._masker.mask(command.as_root(self._sudo).render())
        wire = with_deadline(command, timeout) if timeout is not None else command
        started = time.monotonic()
        lines = _Lines(progress) if progress is not None else None
        code, out, err = self._execute(
            wire.as_root(self._sudo).render(), command.stdin, display, timeout, lines
        )
        result = Result(display, code, _text(out), _text(err), time.monotonic() - started)
        self._log.command(self.host, display, self._masked(loggable(command, result)))
        if timeout is not None and code in TIMED_OUT and result.duration >= timeout:
            raise CommandTimeoutError(self.host, display, timeout)
        if self._sudo and code == 1 and any(s in result.stderr for s in SUDO_PASSWORD_SIGNS):
            raise self._sudo_error(result.stderr)
        return result

    def _execute(
        self,
        wire: str,
        stdin: bytes | None,
        display: str,
        timeout: float | None,
        lines: _Lines | None = None,
    ) -> tuple[int, bytes, bytes]:
        """Run a rendered command line on a new channel; (exit code, stdout, stderr)."""
        ssh = self._connected()
        try:
            channel = ssh.open_session(timeout=self._timeout)
        except CONNECTION_ERRORS as error:
            raise UnreachableError(self.host, f"cannot open a channel: {error}") from None
        try:
            channel.exec_command(wire)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            return self._collect(ssh, channel, display, timeout, lines)
        except CONNECTION_ERRORS:
            raise self._lost(display) from None
        finally:
            channel.close()

    def _collect(
        self,
        ssh: paramiko.Transport,
        channel: paramiko.Channel,
        display: str,
        timeout: float | None,
        lines: _Lines | None,
    ) -> tuple[int, bytes, bytes]:
        out, err = bytearray(), bytearray()
        give_up = None if timeout is None else time.monotonic() + timeout + KILL_AFTER + WAIT_SLACK
        arrived = threading.Event()  # set by paramiko when either stream has data or ends
        channel.in_buffer.set_event(arrived)
        channel.in_stderr_buffer.set_event(arrived)
        while not (channel.eof_received or channel.closed):
            _drain(channel, out, err)
            if lines is not None:
                lines.feed(out)
            self._check_deadline(give_up, display)
            arrived.wait(POLL)
        _drain(channel, out, err)
        while not channel.status_event.wait(POLL):  # exit status (or close) follows EOF
            self._check_deadline(give_up, display)
        _drain(channel, out, err)
        if lines is not None:
            lines.feed(out)
        # paramiko reports -1 both for a dead connection and for a process killed by a signal
        if channel.exit_status == -1 and not ssh.is_active():
            raise self._lost(display)
        return channel.exit_status, bytes(out), bytes(err)

    def _check_deadline(self, give_up: float | None, display: str) -> None:
        if give_up is not None and time.monotonic() > give_up:
            raise self._lost(display, f"no answer {KILL_AFTER + WAIT_SLACK:g}s after its timeout")

    def _lost(self, display: str, why: str = "the connection dropped") -> ConnectionLostError:
        message = f"{why} while running: {display}; its outcome on the host is unknown"
        self._event(message)
        return ConnectionLostError(self.host, message)

    # --- files ----------------------------------------------------------------------------------------

    def put(
        self, source: bytes | Path, remote_path: str, mode: int = 0o644, progress: ByteProgress | None = None
    ) -> PutResult:
        """Upload to a temporary name, verify sha256 on the host, then chmod and rename into place."""
        started = time.monotonic()
        name = f".hybridctl-{uuid.uuid4().hex[:16]}.tmp"
        work = posixpath.join(posixpath.dirname(remote_path) or ".", name)
        with self._sftp_lock:
            staging = posixpath.join(self._sftp_home(), name) if self._sudo else work
            reports = TransferReports(progress, size_of(source))
            size, digest = self._upload(source, staging, remote_path, reports)
        self._install(staging, work, digest, mode, remote_path)
        result = PutResult(remote_path, size, digest, time.monotonic() - started)
        self._event(
            f"put {remote_path} ({size} bytes, sha256 {digest}, mode {mode:04o}, {result.duration:.2f}s)"
        )
        return result

    def _upload(
        self, source: bytes | Path, staging: str, remote_path: str, reports: TransferReports
    ) -> tuple[int, str]:
        sftp = self._sftp_client()
        hasher, size = hashlib.sha256(), 0
        try:
            with sftp.open(staging, "wxb") as remote:
                remote.chmod(0o600)  # before any byte arrives: uploads may be secrets
                remote.set_pipelined(True)
                for chunk in _chunks(source):
                    hasher.update(chunk)
                    remote.write(chunk)
                    size += len(chunk)
                    reports.moved(len(chunk))
        except CONNECTION_ERRORS as error:
            with contextlib.suppress(*CONNECTION_ERRORS):
                sftp.remove(staging)
            raise self._sftp_error(error, f"upload {remote_path}") from None
        reports.end()
        return size, hasher.hexdigest()

    def _sftp_error(self, error: BaseException, action: str) -> TransportError:
        """A failed SFTP request: the connection died (transient) or the host said no (not transient)."""
        if self._ssh is None or not self._ssh.is_active():
            return self._lost(action)
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        return TransportError(self.host, f"cannot {action}: {reason}")

    def _install(self, staging: str, work: str, digest: str, mode: int, remote_path: str) -> None:
        script = shell(INSTALL_SCRIPT, staging, work, digest, f"{mode:o}", remote_path).as_root(self._sudo)
        code, _, err = self._execute(script.render(), None, f"install {remote_path}", None)
        if code != 0:
            detail = self._masker.mask(_text(err).strip())
            raise TransportError(self.host, f"cannot install {remote_path}: {detail}")

    def get(self, remote_path: str) -> bytes:
        """Download a file's bytes (through ``sudo cat`` for sudo users); FileNotFoundError if missing."""
        if self._sudo:
            return self._get_as_root(remote_path)
        with self._sftp_lock:
            try:
                with self._sftp_client().open(remote_path, "rb") as remote:
                    remote.prefetch()
                    return remote.read()
            except FileNotFoundError:
                raise FileNotFoundError(remote_path) from None
            except CONNECTION_ERRORS as error:
                raise self._sftp_error(error, f"read {remote_path}") from None

    def _get_as_root(self, remote_path: str) -> bytes:
        # a test, not cat's message: that message is translated on hosts with another locale
        script = shell(f'[ -e "$1" ] || exit {MISSING_FILE_EXIT}; exec cat -- "$1"', remote_path).as_root(
            True
        )
        code, out, err = self._execute(script.render(), None, self._masker.mask(f"get {remote_path}"), None)
        if code == MISSING_FILE_EXIT:
            raise FileNotFoundError(remote_path)
        if code != 0:
            detail = self._masker.mask(_text(err).strip())
            raise TransportError(self.host, f"cannot read {remote_path}: {detail}")
        return out

    def _sftp_client(self) -> paramiko.SFTPClient:
        ssh = self._connected()
        with self._lock:
            if self._sftp is None or self._sftp.get_channel() is None or self._sftp.sock.closed:
                try:
                    self._sftp = paramiko.SFTPClient.from_transport(ssh)
                except CONNECTION_ERRORS as error:
                    raise UnreachableError(self.host, f"cannot start SFTP: {error}") from None
                if self._sftp is None:
                    raise UnreachableError(self.host, "cannot start SFTP")
            return self._sftp

    def _sftp_home(self) -> str:
        """The login user's home: where sudo users stage uploads before root installs them."""
        if self._home is None:
            self._home = self._sftp_client().normalize(".")
        return self._home

    # --- logging --------------------------------------------------------------------------------------

    def _event(self, message: str) -> None:
        self._log.event(self.host, self._masker.mask(message))

    def _masked(self, result: Result) -> Result:
        mask = self._masker.mask
        return Result(
            result.command, result.exit_code, mask(result.stdout), mask(result.stderr), result.duration
        )


def _handshake_error(host: str, login: Login, error: BaseException) -> UnreachableError:
    """A failed SSH handshake; a port that answers without an SSH banner is named as such."""
    text = str(error)
    if "protocol banner" not in text:
        return UnreachableError(host, f"SSH handshake with {login.what} failed: {text}")
    detail = text.split("banner", 1)[1].strip() or "no banner"
    return UnreachableError(
        host,
        f"{login.what} answers, but not with SSH ({detail})",
        hint="check the address and ssh.port: is sshd listening there, or another service?",
    )


def _drain(channel: paramiko.Channel, out: bytearray, err: bytearray) -> None:
    """Read whatever has arrived on both streams (they share one flow-control window)."""
    # re-check both after each read: a read that empties one stream clears the shared "arrived" event
    while channel.recv_ready() or channel.recv_stderr_ready():
        if channel.recv_ready():
            out += channel.recv(CHUNK)
        if channel.recv_stderr_ready():
            err += channel.recv_stderr(CHUNK)


class _Lines:
    """Hands each complete line of a growing stdout buffer to a ProgressSink, once."""

    def __init__(self, sink: ProgressSink) -> None:
        self._sink = sink
        self._seen = 0

    def feed(self, out: bytearray) -> None:
        """Report the lines completed since the last call."""
        end = out.rfind(b"\n") + 1
        if end <= self._seen:
            return
        for line in _text(bytes(out[self._seen : end])).splitlines():
            self._sink(line)
        self._seen = end


def _chunks(source: bytes | Path) -> Iterator[bytes]:
    if isinstance(source, bytes):
        for start in range(0, len(source), CHUNK):
            yield source[start : start + CHUNK]
        return
    with source.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
