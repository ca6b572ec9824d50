"""Patterns, limits and hints shared by the inventory checks."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator

from hybridctl.inventory.models import Cluster
from hybridctl.inventory.problems import Path, Problem, error

LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
HOSTNAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*")
LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
RELEASE = re.compile(r"\d+\.\d+(\.\d+)?", re.ASCII)
EXACT_VERSION = re.compile(r"v?\d+\.\d+\.\d+", re.ASCII)
IMAGE = re.compile(
    r"[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?", re.ASCII
)
# host[:port] and host[:port][/path] as distribution's reference grammar has them (a domain, then
# lowercase path components).
_HOST_PORT = r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*(:\d{1,5})?"
REGISTRY_HOST = re.compile(_HOST_PORT, re.ASCII)
REGISTRY = re.compile(_HOST_PORT + r"(/[a-z0-9]+([._-][a-z0-9]+)*)*", re.ASCII)
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
URL = re.compile(r"https?://[^\s'\"`$;\\]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
SSH_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*")
WINDOWS_USER_FORBIDDEN = re.compile(r'["/\[\]:;|=,+*?<>]')
WINDOWS_NAME_MAX = 15
SSH_USER_MAX = 256
PASSWORD_AUTHS = ("ntlm", "negotiate", "kerberos", "credssp", "basic")
SERVICE_PREFIX_MIN, SERVICE_PREFIX_MAX = 12, 28
NODE_MASK_MAX_DIFF = 16
WINRM_PORTS = {"https": 5986, "http": 5985}
Check = Callable[[Cluster], Iterator[Problem]]
Network = ipaddress.IPv4Network
K8S: Path = ("spec", "kubernetes")
HOSTS: Path = ("spec", "hosts")
NAME_HINT = "use lowercase letters, digits and '-', at most 63 characters"
QUALIFIED_HINT = "[prefix/]name: name of letters, digits, '-', '_', '.', at most 63 characters"
VALUE_HINT = "at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
CONTROL_HINT = "a stray newline often comes from a multi-line YAML string or an environment variable"


def is_dns_name(text: str, *, lowercase: bool) -> bool:
    pattern = SUBDOMAIN if lowercase else HOSTNAME
    return len(text) <= 253 and bool(pattern.fullmatch(text)) and all(len(p) <= 63 for p in text.split("."))


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check_text(path: Path, value: str, what: str) -> Iterator[Problem]:
    """A file path or name that is data: anything printable, but not blank and no control characters."""
    if not value.strip():
        yield error(path, f"{what} is empty", "give a value or leave the key out")
    elif CONTROL.search(value):
        yield error(path, f"{what} contains a control character (newline, tab, ...)", CONTROL_HINT)
