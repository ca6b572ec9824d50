"""How pypsrp, requests and urllib3 failures become hybridctl's transport errors."""

from __future__ import annotations

import requests
import urllib3.exceptions
from pypsrp import exceptions as psrp_errors

from hybridctl.inventory.models import WinRMConnection
from hybridctl.transport.base import (
    AuthenticationError,
    ConnectionLostError,
    TLSValidationError,
    TransportError,
    UnreachableError,
)
from hybridctl.transport.kerberos import context_error, minor_code

SHELL_NOT_FOUND = 0x8033805B


def map_error(
    host: str, url: str, settings: WinRMConnection, exc: Exception, *, running: bool
) -> TransportError:
    """The hybridctl error for a pypsrp/requests failure. ``running``: a command was in flight."""
    if isinstance(exc, TransportError):
        return exc
    return _negotiation_error(host, url, settings, exc) or _mapped_library_error(
        host, url, settings, exc, running
    )


def _negotiation_error(
    host: str, url: str, settings: WinRMConnection, exc: Exception
) -> TransportError | None:
    """Kerberos (SPN, clock, ticket) and other SPNEGO failures raised while authenticating."""
    if settings.auth in ("kerberos", "negotiate") and minor_code(exc) is not None:
        spn = f"{settings.spn_service}/{settings.hostname or urllib3.util.parse_url(url).host}"
        kerberos = context_error(host, spn, exc)
        if kerberos is not None:
            return kerberos
    if _is_spnego_error(exc):
        message = f"{url} refused the credentials of {settings.user!r} (auth {settings.auth}): {exc}"
        return AuthenticationError(host, message)
    if isinstance(exc, ImportError) and settings.auth == "credssp":
        return TransportError(
            host, f"auth credssp is not available: {exc}", hint="pip install 'hybridctl[credssp]'"
        )
    return None


def _mapped_library_error(
    host: str, url: str, settings: WinRMConnection, exc: Exception, running: bool
) -> TransportError:
    if isinstance(exc, psrp_errors.AuthenticationError):
        return AuthenticationError(
            host, f"{url} refused the credentials of {settings.user!r} (auth {settings.auth})"
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return _tls_error(host, url, exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout) or _refused(exc):
        return UnreachableError(host, f"cannot connect to {url}: {_reason(exc)}")
    if isinstance(exc, requests.exceptions.RequestException):
        return _dropped(host, url, exc, running)
    if isinstance(exc, psrp_errors.WSManFaultError):
        return _fault(host, exc, running)
    return TransportError(host, f"WinRM error from {url}: {exc}")


def _tls_error(host: str, url: str, exc: Exception) -> TransportError:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text or "match" in text:
        hint = "set winrm.caBundle to the CA that signed the host's WinRM certificate"
        return TLSValidationError(
            host, f"the TLS certificate of {url} did not validate: {_reason(exc)}", hint=hint
        )
    return UnreachableError(host, f"TLS handshake with {url} failed: {_reason(exc)}")


def _dropped(host: str, url: str, exc: Exception, running: bool) -> TransportError:
    if running:
        return ConnectionLostError(host, f"connection to {url} lost while a command ran: {_reason(exc)}")
    return UnreachableError(host, f"{url} did not answer: {_reason(exc)}")


def _fault(host: str, exc: psrp_errors.WSManFaultError, running: bool) -> TransportError:
    if exc.code == SHELL_NOT_FOUND:
        return ConnectionLostError(host, "the remote PowerShell shell is gone (did the host restart?)")
    return TransportError(host, f"WinRM fault {exc.code}: {exc.reason}")


def _is_spnego_error(exc: Exception) -> bool:
    """pyspnego's errors, and requests-credssp's (CredSSP: the server's TSRequest carried an error status)."""
    return type(exc).__module__.startswith(("spnego", "requests_credssp"))


def _refused(exc: Exception) -> bool:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))


def _reason(exc: Exception) -> str:
    """The innermost useful text of a requests error (they nest urllib3 errors three deep)."""
    inner: object = exc
    while isinstance(inner, Exception) and inner.args and isinstance(inner.args[0], Exception):
        inner = getattr(inner.args[0], "reason", None) or inner.args[0]
    return str(inner)
