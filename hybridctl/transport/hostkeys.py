"""SSH host key checking: strict by default, trust on first use only when asked, a changed key never.

Two known_hosts files are consulted: the project's own (in the state directory; hybridctl writes it, mode
0600, atomically) and the user's ``~/.ssh/known_hosts`` (read-only). Entries use OpenSSH's format, including
hashed names, ``*``/``?`` patterns, ``!negation``, ``[address]:port`` for ports other than 22 and the
``@revoked`` marker. Lines hybridctl records carry a ``hybridctl-host=NAME`` comment so that
``hybridctl hosts forget NAME`` finds them by inventory name as well as by address.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import re
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from paramiko import PKey

from hybridctl.transport.base import HostKeyError

DEFAULT_PORT = 22
USER_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
NAME_COMMENT = "hybridctl-host="
# paramiko's host key algorithm names for each known_hosts key type: an RSA key signs with SHA-2 too
_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    """One lock per known_hosts file in this process: parallel first connections must not lose a key."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path.resolve(), threading.Lock())


def host_entry(address: str, port: int) -> str:
    """The known_hosts name of ``address``: plain on port 22, ``[address]:port`` otherwise."""
    return address if port == DEFAULT_PORT else f"[{address}]:{port}"


def fingerprint(key: PKey) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class KnownKey:
    """One known_hosts line."""

    patterns: str
    key_type: str
    key_base64: str
    marker: str = ""
    comment: str = ""

    @classmethod
    def parse(cls, line: str) -> KnownKey | None:
        """The entry on ``line``; None for blank, comment and malformed lines."""
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            return None
        marker = fields.pop(0) if fields[0].startswith("@") else ""
        if len(fields) < 3:
            return None
        return cls(fields[0], fields[1], fields[2], marker, " ".join(fields[3:]))

    def matches(self, name: str) -> bool:
        """Whether this entry is about host ``name`` (an address or ``[address]:port``)."""
        return _patterns_match(self.patterns, name)

    def same_key(self, key: PKey) -> bool:
        """Whether this entry holds exactly ``key``."""
        return self.key_type == key.get_name() and self.key_base64 == key.get_base64()

    @property
    def recorded_name(self) -> str | None:
        """The inventory host name hybridctl noted when it recorded the line."""
        for word in self.comment.split():
            if word.startswith(NAME_COMMENT):
                return word.removeprefix(NAME_COMMENT)
        return None


def _patterns_match(patterns: str, name: str) -> bool:
    if patterns.startswith("|1|"):
        return _hashed_match(patterns, name)
    name = name.lower()
    matched = False
    for pattern in patterns.lower().split(","):
        negated = pattern.startswith("!")
        if _glob(pattern.removeprefix("!"), name):
            if negated:
                return False
            matched = True
    return matched


def _glob(pattern: str, name: str) -> bool:
    """OpenSSH pattern matching: only ``*`` and ``?`` are special (``[`` is literal, as in ``[a]:22``)."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, name) is not None


def _hashed_match(entry: str, name: str) -> bool:
    try:
        salt, digest = (base64.b64decode(part) for part in entry[3:].split("|", 1))
    except ValueError:
        return False
    mine = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(mine, digest)


def read_known_hosts(path: Path) -> list[KnownKey]:
    """Every entry in ``path`` (empty when the file does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [entry for line in text.splitlines() if (entry := KnownKey.parse(line))]


class KnownHosts:
    """Verifies host keys against the project's known_hosts and the user's; records new ones if allowed.

    Thread-safe: many connections may verify and record at once.
    """

    def __init__(
        self,
        path: Path,
        *,
        accept_new: bool = False,
        user_file: Path | None = USER_KNOWN_HOSTS,
        inventory: Path | None = None,
    ):
        self.path = path
        self.accept_new = accept_new
        self.inventory = inventory  # named in the 'hosts forget' hint
        self.user_file = user_file.expanduser() if user_file is not None else None
        self._lock = _lock_for(path)

    def __repr__(self) -> str:
        return f"KnownHosts({str(self.path)!r}, accept_new={self.accept_new}, user_file={self.user_file!r})"

    def key_types(self, address: str, port: int) -> list[str]:
        """Host key algorithms already known for the host, to offer first in key exchange."""
        name = host_entry(address, port)
        types = [k.key_type for _, k in self._entries() if k.matches(name) and not k.marker]
        return list(dict.fromkeys(alg for t in types for alg in _ALGORITHMS.get(t, (t,))))

    def verify(self, host: str, address: str, port: int, key: PKey) -> bool:
        """Accept ``key`` for ``address``:``port`` or raise HostKeyError; True when it was just recorded.

        ``host`` is the inventory name, used in messages and recorded beside new keys.
        """
        name = host_entry(address, port)
        with self._lock:
            entries = [(source, k) for source, k in self._entries() if k.matches(name)]
            _refuse_revoked(host, name, key, entries)
            known = [(source, k) for source, k in entries if not k.marker]
            if any(k.same_key(key) for _, k in known):
                return False
            if known:
                hint = _forget_hint(host, name, known[0][0], self.inventory, self.path)
                raise _changed(host, name, key, known[0], hint)
            if not self.accept_new:
                raise _unknown(host, name, key, self.path)
            self._record(host, name, key)
            return True

    def _entries(self) -> list[tuple[Path, KnownKey]]:
        files = [self.path] + ([self.user_file] if self.user_file else [])
        return [(path, entry) for path in files for entry in read_known_hosts(path)]

    def _record(self, host: str, name: str, key: PKey) -> None:
        line = f"{name} {key.get_name()} {key.get_base64()} {NAME_COMMENT}{host}\n"
        _atomic_write(self.path, _read_text(self.path) + line)


def _refuse_revoked(host: str, name: str, key: PKey, entries: list[tuple[Path, KnownKey]]) -> None:
    for source, entry in entries:
        if entry.marker == "@revoked" and entry.same_key(key):
            raise HostKeyError(host, f"{name} presented a host key marked @revoked in {source}")


def _changed(host: str, name: str, key: PKey, known: tuple[Path, KnownKey], hint: str) -> HostKeyError:
    source, entry = known
    message = (
        f"the host key of {name} has CHANGED: it presented {key.get_name()} {fingerprint(key)}, "
        f"but {source} expects {entry.key_type} {_entry_fingerprint(entry)}. "
        "Someone may be intercepting the connection, or the host was rebuilt."
    )
    return HostKeyError(host, message, hint=hint)


def _forget_hint(host: str, name: str, source: Path, inventory: Path | None, project: Path) -> str:
    if source != project:
        return f"if the host was rebuilt, remove the old key with: ssh-keygen -R '{name}' -f {source}"
    where = f" -i {inventory}" if inventory is not None else " -i INVENTORY"
    return (
        f"if the host was rebuilt, check its new key, then run 'hybridctl hosts forget {host}{where}' "
        "and connect again with --accept-new-host-keys"
    )


def _unknown(host: str, name: str, key: PKey, path: Path) -> HostKeyError:
    message = f"{name} presented an unknown host key {key.get_name()} {fingerprint(key)}"
    hint = (
        "compare it with 'ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub' on the host, then re-run with "
        f"--accept-new-host-keys (or add the key to {path})"
    )
    return HostKeyError(host, message, hint=hint)


def _entry_fingerprint(entry: KnownKey) -> str:
    try:
        digest = hashlib.sha256(base64.b64decode(entry.key_base64)).digest()
    except ValueError:
        return "(unreadable key)"
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def forget(path: Path, names_or_addresses: Iterable[str], keep: Iterable[str] = ()) -> int:
    """Remove every entry for the given inventory names or addresses (any port); returns how many.

    Entries for an address in ``keep`` (the inventory's bastions) stay even when an older hybridctl recorded
    them under a target's name, unless that address is itself among the targets.
    """
    targets = {t.lower() for t in names_or_addresses}
    kept_addresses = {k.lower() for k in keep} - targets
    with _lock_for(path):
        lines = _read_text(path).splitlines(keepends=True)
        kept = [line for line in lines if not _removes(KnownKey.parse(line), targets, kept_addresses)]
        if len(kept) != len(lines):
            _atomic_write(path, "".join(kept))
    return len(lines) - len(kept)


def _removes(entry: KnownKey | None, targets: set[str], keep: set[str]) -> bool:
    if entry is None or (keep and _about(entry, keep, by_name=False)):
        return False
    return _about(entry, targets)


def _about(entry: KnownKey | None, targets: set[str], *, by_name: bool = True) -> bool:
    if entry is None:
        return False
    if by_name and (entry.recorded_name or "").lower() in targets:
        return True
    names = {_strip_port(p).lower() for p in entry.patterns.split(",")}
    return bool(names & targets) or any(_hashed_match(entry.patterns, t) for t in targets)


def _strip_port(pattern: str) -> str:
    if pattern.startswith("[") and "]:" in pattern:
        return pattern[1 : pattern.index("]:")]
    return pattern


def _read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    return text if not text or text.endswith("\n") else text + "\n"


def _atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (mode 0600) so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
