"""Kerberos tickets for WinRM: a private credential cache per run, or the user's own ticket.

With a password, hybridctl asks the KDC once per principal and run for a ticket (one AS exchange: a wrong
password is never retried, so it costs the account one failed logon, not one per host) and keeps it in
``<state dir>/krb5cc-run``, a FILE cache of mode 0600 that ``KRB5CCNAME`` points at for the run and that is
destroyed when the run ends. The run lock makes a cache file found at the start of a run stale (a run killed
with SIGKILL): it is removed before anything else. Without a password the user's cache (``KRB5CCNAME`` or
the default) is used as it is, after checking that it holds an unexpired ticket for the user.

``gssapi`` (MIT krb5) is imported only when a host uses Kerberos: ``pip install 'hybridctl[kerberos]'``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from hybridctl.transport.base import AuthenticationError, TransportError, UnreachableError

CACHE_NAME = "krb5cc-run"
_MASK = 0xFFFFFFFF
# MIT krb5 com_err codes (krb5/krb5_err.et), as the unsigned minor status GSSAPI reports.
PREAUTH_FAILED = -1765328360 & _MASK
BAD_INTEGRITY = -1765328353 & _MASK
CLIENT_UNKNOWN = -1765328378 & _MASK
SERVER_UNKNOWN = -1765328377 & _MASK
CLIENT_REVOKED = -1765328366 & _MASK
CLOCK_SKEW = -1765328347 & _MASK
KDC_UNREACHABLE = -1765328228 & _MASK
REALM_UNKNOWN = -1765328164 & _MASK
NO_TICKET = (-1765328189 & _MASK, -1765328243 & _MASK, 2)  # no cache, no TGT in the cache, file missing
SKEW_HINT = "synchronise the clocks of this machine, the KDC and the host (NTP); Kerberos allows 5 minutes"
LOCKOUT_NOTE = "not retried, to keep the account from being locked out"


class KerberosError(AuthenticationError):
    """A ticket could not be obtained or used; never retried (a retry could lock the account out)."""


def remove_stale_cache(directory: Path) -> bool:
    """Remove a cache left by a run that was killed; call it while holding the run lock."""
    path = directory / CACHE_NAME
    if not path.exists():
        return False
    _shred(path)
    return True


class KerberosTickets:
    """The run's private credential cache, shared by every WinRM host of the run (thread-safe)."""

    def __init__(self, directory: Path | None = None) -> None:
        self._owned_dir = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="hybridctl-krb5-"))
        self.path = self.directory / CACHE_NAME
        self._lock = threading.Lock()
        self._principals: set[str] = set()
        self._failures: dict[str, KerberosError] = {}
        self._previous_env: str | None = None
        self._active = False

    @property
    def ccache(self) -> str:
        """The cache name for ``KRB5CCNAME``."""
        return f"FILE:{self.path}"

    def obtain(self, host: str, principal: str, password: str) -> None:
        """Make sure the private cache holds a ticket for ``principal``; one AS exchange per run at most."""
        with self._lock:
            if principal in self._principals:
                return
            if principal in self._failures:
                first = self._failures[principal]
                reason = first.message.removeprefix(f"{first.host}: ")
                raise KerberosError(host, f"{reason}; not asked again for this host", hint=first.hint)
            try:
                self._acquire(host, principal, password)
            except KerberosError as exc:
                self._failures[principal] = exc
                raise
            self._principals.add(principal)

    def destroy(self) -> None:
        """Remove the cache file and restore ``KRB5CCNAME`` (idempotent)."""
        with self._lock:
            if self._active:
                _restore_env(self._previous_env)
                self._active = False
            self._principals.clear()
            _shred(self.path)
            if self._owned_dir:
                with contextlib.suppress(OSError):
                    self.directory.rmdir()

    def _acquire(self, host: str, principal: str, password: str) -> None:
        raw = _gssapi_raw()
        name = raw.import_name(principal.encode(), raw.NameType.kerberos_principal)
        try:
            acquired = raw.acquire_cred_with_password(name, password.encode(), usage="initiate")
        except raw.GSSError as exc:
            raise kinit_error(host, principal, exc) from None
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        raw.store_cred_into(
            {b"ccache": self.ccache.encode()}, acquired.creds, usage="initiate", overwrite=True
        )
        os.chmod(self.path, 0o600)
        if not self._active:
            self._previous_env, self._active = os.environ.get("KRB5CCNAME"), True
        os.environ["KRB5CCNAME"] = self.ccache


def check_user_ticket(host: str, principal: str) -> None:
    """Fail early and clearly when the user's cache has no valid ticket for ``principal``."""
    raw = _gssapi_raw()
    where = os.environ.get("KRB5CCNAME") or "the default credential cache"
    name = raw.import_name(principal.encode(), raw.NameType.kerberos_principal)
    hint = f"run 'kinit {principal}' (or give winrm.password so hybridctl gets a ticket itself)"
    try:
        lifetime = raw.inquire_cred(raw.acquire_cred(name, usage="initiate").creds, lifetime=True).lifetime
    except raw.ExpiredCredentialsError:
        raise KerberosError(
            host, f"the Kerberos ticket of {principal} in {where} has expired", hint=hint
        ) from None
    except raw.GSSError as exc:
        message = f"no usable Kerberos ticket for {principal} in {where}: {_text(exc)}"
        raise KerberosError(host, message, hint=hint) from None
    if lifetime is not None and lifetime <= 0:
        raise KerberosError(host, f"the Kerberos ticket of {principal} in {where} has expired", hint=hint)


def kinit_error(host: str, principal: str, exc: Exception) -> TransportError:
    """A clear error for a failed AS exchange (getting the ticket-granting ticket)."""
    code = minor_code(exc)
    if code in (PREAUTH_FAILED, BAD_INTEGRITY):
        return KerberosError(host, f"the KDC refused the password of {principal} ({LOCKOUT_NOTE})")
    if code == CLIENT_UNKNOWN:
        return KerberosError(host, f"the KDC does not know the principal {principal}", hint=_user_hint())
    if code == CLIENT_REVOKED:
        return KerberosError(host, f"the KDC refuses {principal}: the account is locked or disabled")
    if code == CLOCK_SKEW:
        return KerberosError(host, "clock skew between this machine and the KDC is too large", hint=SKEW_HINT)
    if code in (KDC_UNREACHABLE, REALM_UNKNOWN):
        hint = "check the realm's kdc entries in krb5.conf (KRB5_CONFIG) and that the KDC is reachable"
        return UnreachableError(host, f"cannot reach a KDC for {principal}: {_text(exc)}", hint=hint)
    return KerberosError(host, f"getting a Kerberos ticket for {principal} failed: {_text(exc)}")


def context_error(host: str, spn: str, exc: Exception) -> TransportError | None:
    """A clear error for a failed service-ticket / security-context step; None if it is not Kerberos."""
    code = minor_code(exc)
    if code == SERVER_UNKNOWN:
        hint = f"register it for the host's account (setspn -S {spn} HOST) or set winrm.spnService"
        return KerberosError(host, f"the KDC has no service principal {spn} (SPN not registered)", hint=hint)
    if code == CLOCK_SKEW:
        message = "clock skew beyond Kerberos' tolerance (this machine against the KDC or the host)"
        return KerberosError(host, message, hint=SKEW_HINT)
    if code in NO_TICKET or "expired" in _text(exc).lower():
        return KerberosError(
            host, f"no valid Kerberos ticket to reach {spn}: {_text(exc)}", hint="run kinit again"
        )
    return None


def minor_code(exc: BaseException) -> int | None:
    """The krb5 minor status of a GSSAPI error, also when pyspnego wrapped it; None if there is none."""
    seen: BaseException | None = exc
    while seen is not None:
        code = getattr(seen, "min_code", None)
        if isinstance(code, int) and code:
            return code & _MASK
        base = getattr(seen, "base_error", None)
        seen = base if isinstance(base, BaseException) else seen.__cause__ or seen.__context__
    return None


def _user_hint() -> str:
    return "write winrm.user as user@REALM exactly as the directory knows it (the realm in capitals)"


def _text(exc: BaseException) -> str:
    text = getattr(exc, "gen_message", None)
    return " ".join(str(text() if callable(text) else exc).split())


def _shred(path: Path) -> None:
    """Overwrite and remove a cache file (like kdestroy); missing is fine."""
    with contextlib.suppress(FileNotFoundError):
        size = path.stat().st_size
        with path.open("r+b") as handle:
            handle.write(b"\0" * size)
        path.unlink()


def _restore_env(previous: str | None) -> None:
    if previous is None:
        os.environ.pop("KRB5CCNAME", None)
    else:
        os.environ["KRB5CCNAME"] = previous


def _gssapi_raw() -> Any:
    try:
        import gssapi.raw
    except ImportError:
        raise TransportError(
            "kerberos", "auth kerberos needs the gssapi package", hint="pip install 'hybridctl[kerberos]'"
        ) from None
    return gssapi.raw
