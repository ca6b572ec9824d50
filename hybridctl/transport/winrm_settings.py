"""WinRM connection settings: refuse insecure ones, translate the rest into pypsrp's options.

hybridctl connects to the node's ``address`` and, when ``hostname`` is set, checks the TLS certificate
against that name (SNI and hostname matching of the connection, never the IP as a fallback) and builds the
Kerberos SPN from it (``<spnService>/<hostname>``). No DNS lookup is needed for the name.
"""

from __future__ import annotations

from typing import Any

from hybridctl.errors import ExitCode
from hybridctl.inventory.models import WinRMConnection
from hybridctl.transport.base import (
    TransportError,
)

DEFAULT_CONNECT_TIMEOUT = 10.0
ENCRYPTING_AUTHS = frozenset({"ntlm", "negotiate", "kerberos", "credssp"})


class InsecureConnectionError(TransportError):
    """The connection settings would expose credentials or skip verification without consent."""

    exit_code = ExitCode.INVALID_INVENTORY


def check_settings(host: str, settings: WinRMConnection) -> None:
    """Refuse settings that leak the password or silently skip certificate checks."""
    if settings.scheme == "http" and settings.auth in ("basic", "certificate"):
        raise InsecureConnectionError(
            host, f"auth {settings.auth} over http would expose credentials; use scheme https"
        )
    if settings.scheme == "https" and not settings.verify_certificate and not settings.insecure:
        raise InsecureConnectionError(host, "verify_certificate: false also needs insecure: true")
    if settings.read_timeout <= settings.operation_timeout:
        raise InsecureConnectionError(host, "winrm read_timeout must exceed operation_timeout")
    if settings.auth == "kerberos" and settings.hostname is None:
        raise InsecureConnectionError(host, "auth kerberos needs winrm.hostname (the SPN names the host)")


def wsman_options(
    address: str, settings: WinRMConnection, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> dict[str, Any]:
    """Keyword arguments for ``pypsrp.wsman.WSMan`` from the inventory's connection settings."""
    options: dict[str, Any] = {
        "server": address,
        "port": settings.effective_port,
        "ssl": settings.scheme == "https",
        "auth": settings.auth,
        "cert_validation": _cert_validation(settings),
        "encryption": "always" if settings.scheme == "http" and settings.auth in ENCRYPTING_AUTHS else "auto",
        "operation_timeout": settings.operation_timeout,
        "read_timeout": settings.read_timeout,
        "connection_timeout": connect_timeout,
        "no_proxy": True,  # WinRM goes straight to the node; an environment proxy would see NTLM traffic
        "reconnection_retries": 0,
    }
    if settings.auth == "certificate":
        options["certificate_pem"] = settings.certificate_file
        options["certificate_key_pem"] = settings.certificate_key_file
    else:
        options["username"] = settings.user
        options["password"] = settings.password.get_secret_value() if settings.password else None
    if settings.auth in ("negotiate", "kerberos", "ntlm"):
        options["negotiate_service"] = settings.spn_service
        if settings.hostname is not None:
            options["negotiate_hostname_override"] = settings.hostname
    if settings.auth == "kerberos":
        options["password"] = None  # the ticket comes from the credential cache (see transport.kerberos)
    return options


def _cert_validation(settings: WinRMConnection) -> bool | str:
    if settings.scheme != "https" or (not settings.verify_certificate and settings.insecure):
        return False
    return settings.ca_bundle or True
