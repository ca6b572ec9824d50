"""How hybridctl reaches hosts: SSH (and bastions) and WinRM settings."""

from __future__ import annotations

from collections.abc import Iterator

from hybridctl.inventory.checks.common import (
    CONTROL,
    HOSTS,
    SSH_USER,
    SSH_USER_MAX,
    WINDOWS_USER_FORBIDDEN,
    WINRM_PORTS,
    check_text,
    is_dns_name,
    is_ip,
)
from hybridctl.inventory.models import Bastion, Cluster, SSHConnection, WinRMConnection
from hybridctl.inventory.problems import Path, Problem, error, warning


def check_ssh(path: Path, ssh: SSHConnection, address: str) -> Iterator[Problem]:
    """User, key file and bastion of an SSH block."""
    yield from _check_ssh_login(path, ssh)
    if not ssh.uses_sudo and ssh.user != "root":
        message = "sudo: false with a user other than root: installing Kubernetes needs root"
        yield warning((*path, "sudo"), message, "set sudo: true (passwordless sudo) or connect as root")
    if ssh.bastion is not None:
        yield from _check_bastion((*path, "bastion"), ssh.bastion, address)


def _check_ssh_login(path: Path, login: SSHConnection | Bastion) -> Iterator[Problem]:
    yield from _check_ssh_user((*path, "user"), login.user)
    if login.private_key_file is not None:
        yield from check_text((*path, "privateKeyFile"), login.private_key_file, "privateKeyFile")
    if login.passphrase is not None and login.private_key_file is None:
        yield error(
            (*path, "passphrase"), "passphrase without privateKeyFile", "give the key file it unlocks"
        )


def _check_ssh_user(path: Path, user: str) -> Iterator[Problem]:
    if not SSH_USER.fullmatch(user) or len(user) > SSH_USER_MAX:
        message = "the SSH user name may contain only letters, digits, '_', '.', '@' and '-'"
        yield error(path, message, "quotes, spaces, '$', ';', backticks and control characters are refused")


def _check_bastion(path: Path, bastion: Bastion, address: str) -> Iterator[Problem]:
    yield from _check_ssh_login(path, bastion)
    if not (is_ip(bastion.address) or is_dns_name(bastion.address, lowercase=False)):
        message = f"bastion address {bastion.address!r} is neither an IP address nor a DNS name"
        yield error((*path, "address"), message, "e.g. 172.20.0.5 or jump.example.com")
    elif bastion.address == address:
        yield warning((*path, "address"), "the bastion is the host itself", "leave out the bastion block")


def check_winrm(path: Path, winrm: WinRMConnection) -> Iterator[Problem]:
    """Transport security, credentials and timeouts of a WinRM block."""
    yield from _check_winrm_security(path, winrm)
    yield from _check_winrm_hostname(path, winrm)
    yield from _check_winrm_credentials(path, winrm)
    for key, value in _winrm_files(winrm).items():
        if value is not None:
            yield from check_text((*path, key), value, key)
    if winrm.read_timeout <= winrm.operation_timeout:
        message = "readTimeout must be larger than operationTimeout"
        yield error((*path, "readTimeout"), message, f"e.g. readTimeout: {winrm.operation_timeout + 10}")


def _winrm_files(winrm: WinRMConnection) -> dict[str, str | None]:
    return {
        "caBundle": winrm.ca_bundle,
        "certificateFile": winrm.certificate_file,
        "certificateKeyFile": winrm.certificate_key_file,
    }


def _check_winrm_security(path: Path, winrm: WinRMConnection) -> Iterator[Problem]:
    if winrm.auth == "basic" and winrm.scheme == "http":
        message = "basic auth over plain http is refused: the password would travel in clear"
        hint = "use scheme: https, or auth: ntlm/negotiate/kerberos (message encryption)"
        yield error((*path, "auth"), message, hint)
    if not winrm.verify_certificate and not winrm.insecure:
        message = "certificate validation is turned off without insecure: true"
        hint = "give caBundle instead, or set insecure: true if you accept the risk"
        yield error((*path, "verifyCertificate"), message, hint)
    if winrm.ca_bundle is not None and (winrm.scheme == "http" or not winrm.verify_certificate):
        yield warning(
            (*path, "caBundle"), "caBundle is ignored: certificates are not checked here", "use scheme: https"
        )
    yield from _check_winrm_port(path, winrm)


def _check_winrm_port(path: Path, winrm: WinRMConnection) -> Iterator[Problem]:
    other = "http" if winrm.scheme == "https" else "https"
    if winrm.port == WINRM_PORTS[other]:
        message = f"port {winrm.port} is WinRM's {other} port but scheme is {winrm.scheme}"
        yield warning((*path, "port"), message, f"use port {WINRM_PORTS[winrm.scheme]} or scheme: {other}")


def _check_winrm_credentials(path: Path, winrm: WinRMConnection) -> Iterator[Problem]:
    if winrm.auth == "certificate":
        yield from _check_certificate_auth(path, winrm)
        return
    if winrm.user is None:
        yield error((*path, "user"), f"auth {winrm.auth} needs a user", "e.g. user: Administrator")
    else:
        yield from _check_windows_user((*path, "user"), winrm.user)
    if winrm.auth == "kerberos":
        yield from _check_kerberos_user(path, winrm)
    hint = "e.g. password: ${env:WINRM_PASSWORD}"
    if winrm.password is None:
        if winrm.auth != "kerberos":  # kerberos without a password uses the user's ticket (KRB5CCNAME)
            yield error((*path, "password"), f"auth {winrm.auth} needs a password", hint)
    elif not winrm.password.get_secret_value():
        yield error((*path, "password"), "the password is empty", hint)


def _check_winrm_hostname(path: Path, winrm: WinRMConnection) -> Iterator[Problem]:
    if winrm.hostname is None:
        if winrm.auth == "kerberos":
            message = "auth kerberos needs hostname: the SPN names the host, not its address"
            hint = "e.g. hostname: win1.corp.example.com (the SPN is then HTTP/win1.corp.example.com)"
            yield error((*path, "hostname"), message, hint)
        return
    if is_ip(winrm.hostname) or not is_dns_name(winrm.hostname, lowercase=False):
        message = f"hostname {winrm.hostname!r} is not a DNS name"
        yield error((*path, "hostname"), message, "give the host's FQDN, e.g. win1.corp.example.com")


def _check_kerberos_user(path: Path, winrm: WinRMConnection) -> Iterator[Problem]:
    if winrm.user is None:
        return
    realm = winrm.realm
    if realm is None or not is_dns_name(realm, lowercase=False):
        message = f"cannot tell the Kerberos realm from user {winrm.user!r}"
        yield error((*path, "user"), message, "write user@REALM, e.g. admin@CORP.EXAMPLE.COM")


def _check_windows_user(path: Path, user: str) -> Iterator[Problem]:
    forbidden = CONTROL.search(user) or WINDOWS_USER_FORBIDDEN.search(user) or user.count("\\") > 1
    if forbidden or not user.strip() or user != user.strip():
        hint = 'write user, DOMAIN\\user or user@domain, without control characters or "/[]:;|=,+*?<>'
        yield error(path, "the WinRM user name is not a Windows account name", hint)


def _check_certificate_auth(path: Path, winrm: WinRMConnection) -> Iterator[Problem]:
    if winrm.scheme != "https":
        yield error((*path, "scheme"), "certificate auth works over https only", "set scheme: https")
    for key in ("certificateFile", "certificateKeyFile"):
        if _winrm_files(winrm)[key] is None:
            yield error((*path, key), f"auth certificate needs {key}", "give the PEM file")


def check_kerberos_cache(cluster: Cluster) -> Iterator[Problem]:
    """Kerberos hosts all with a password or all without: a run points KRB5CCNAME at one cache.

    With passwords the run's tickets live in a private cache that KRB5CCNAME names for the whole process,
    so a host meant to use the operator's own ticket would look in the private cache and fail.
    """
    kerberos = [(i, h) for i, h in enumerate(cluster.hosts) if h.winrm and h.winrm.auth == "kerberos"]
    with_password = [h.name for _, h in kerberos if h.winrm and h.winrm.password is not None]
    if not with_password or len(with_password) == len(kerberos):
        return
    for index, host in kerberos:
        if host.winrm and host.winrm.password is None:
            others = ", ".join(with_password)
            message = f"{host.name!r} uses your Kerberos ticket, {others} a password: one run has one cache"
            hint = "give every kerberos host a password, or none"
            yield error((*HOSTS, index, "winrm", "password"), message, hint)
