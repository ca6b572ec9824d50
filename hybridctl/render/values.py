"""Values only known once the cluster runs (pod CIDRs, tokens, the CA), and the ``--assume`` file format.

The file is YAML, checked strictly; every problem is reported with its line and column::

    apiVersion: hybridctl.io/v1alpha1
    kind: RuntimeValues
    podCIDRs: {cp1: 10.244.0.0/24, win1: 10.244.1.0/24}   # node name -> node.spec.podCIDR
    bootstrapToken: abcdef.0123456789abcdef                # kubeadm bootstrap token <id>.<secret>
    caCertHash: sha256:<64 hex digits>                     # kubeadm --discovery-token-ca-cert-hash
    caCertificate: |                                       # the cluster CA, PEM
      -----BEGIN CERTIFICATE-----
      ...
    kubeProxyToken: <JWT>                                  # kube-system/kube-proxy ServiceAccount token
    flannelToken: <JWT>                                    # kube-flannel/flannel ServiceAccount token
    certificateKey: <64 hex digits>                        # kubeadm init --upload-certs key
    windowsBuilds: {win1: 10.0.20348}                      # for Windows hosts without windowsVersion
    sourceVIPs: {win1: 10.244.1.2}                         # kube-proxy source VIP per node (vxlan)

Every key but ``apiVersion`` and ``kind`` is optional; a missing value stays a placeholder.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from hybridctl.errors import UsageError
from hybridctl.inventory.yamlsource import Positions, YamlSyntaxError, parse_yaml

API_VERSION = "hybridctl.io/v1alpha1"
KIND = "RuntimeValues"

Check = Callable[[str], str | None]


def _cidr(text: str) -> str | None:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        return f"{text!r} is not a CIDR with its host bits zero, e.g. 10.244.1.0/24"
    return None if net.version == 4 else f"{text!r} is IPv6; hybridctl supports IPv4 only"


def _address(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return f"{text!r} is not an IP address"
    return None if address.version == 4 else f"{text!r} is IPv6; hybridctl supports IPv4 only"


def _pattern(regex: str, example: str) -> Check:
    compiled = re.compile(regex)

    def check(text: str) -> str | None:
        return None if compiled.fullmatch(text) else f"expected the form {example}"

    return check


def _pem(text: str) -> str | None:
    ok = "-----BEGIN CERTIFICATE-----" in text and "-----END CERTIFICATE-----" in text
    return None if ok and text.isascii() else "expected a PEM certificate (-----BEGIN CERTIFICATE----- ...)"


@dataclass(frozen=True)
class _Field:
    attr: str
    check: Check
    mapping: bool = False
    secret: bool = False


_FIELDS: dict[str, _Field] = {
    "podCIDRs": _Field("pod_cidrs", _cidr, mapping=True),
    "bootstrapToken": _Field(
        "bootstrap_token", _pattern(r"[a-z0-9]{6}\.[a-z0-9]{16}", "abcdef.0123456789abcdef"), secret=True
    ),
    "caCertHash": _Field("ca_cert_hash", _pattern(r"sha256:[0-9a-f]{64}", "sha256:<64 hex digits>")),
    "caCertificate": _Field("ca_certificate", _pem),
    "kubeProxyToken": _Field("kube_proxy_token", _pattern(r"[A-Za-z0-9._-]+", "a JWT"), secret=True),
    "flannelToken": _Field("flannel_token", _pattern(r"[A-Za-z0-9._-]+", "a JWT"), secret=True),
    "certificateKey": _Field("certificate_key", _pattern(r"[0-9a-f]{64}", "<64 hex digits>"), secret=True),
    "windowsBuilds": _Field("windows_builds", _pattern(r"10\.0\.\d{5}", "10.0.20348"), mapping=True),
    "sourceVIPs": _Field("source_vips", _address, mapping=True),
}


@dataclass(frozen=True)
class RuntimeValues:
    """Runtime values for rendering; anything left unset renders as a placeholder."""

    pod_cidrs: Mapping[str, str] = field(default_factory=dict)
    bootstrap_token: SecretStr | None = None
    ca_cert_hash: str | None = None
    ca_certificate: str | None = None
    kube_proxy_token: SecretStr | None = None
    flannel_token: SecretStr | None = None
    certificate_key: SecretStr | None = None
    windows_builds: Mapping[str, str] = field(default_factory=dict)
    source_vips: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> RuntimeValues:
        """Read an ``--assume`` file; UsageError listing every problem with its line and column."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the --assume file {path}: {exc}") from exc
        return cls.from_text(text, str(path))

    @classmethod
    def from_text(cls, text: str, shown: str = "<assume>") -> RuntimeValues:
        """Parse ``--assume`` YAML text; ``shown`` names the file in messages."""
        try:
            document = parse_yaml(text)
        except YamlSyntaxError as exc:
            raise UsageError(
                f"{shown}:{exc.line or '?'}:{exc.column or '?'}: not valid YAML: {exc.message}"
            ) from exc
        reader = _Reader(shown, document.positions)
        values = reader.read(document.data)
        if reader.problems:
            raise UsageError(
                f"{shown} is not a valid --assume file:\n" + "\n".join(reader.problems),
                hint="see the --assume format in the README",
            )
        return cls(**values)

    def secret(self, name: str) -> str | None:
        """The plain value of secret field ``name`` (None when unset)."""
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else value

    def host_names(self) -> set[str]:
        """Every host named by a per-host mapping."""
        return set(self.pod_cidrs) | set(self.windows_builds) | set(self.source_vips)


@dataclass
class _Reader:
    shown: str
    positions: Positions
    problems: list[str] = field(default_factory=list)

    def problem(self, path: tuple[Any, ...], message: str) -> None:
        line, column = self.positions.find(path)
        where = ".".join(str(p) for p in path) or "document"
        self.problems.append(f"{self.shown}:{line or '?'}:{column or '?'}: {where}: {message}")

    def read(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.problem((), f"must be a mapping with apiVersion: {API_VERSION} and kind: {KIND}")
            return {}
        self._header(data)
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("apiVersion", "kind"):
                continue
            spec = _FIELDS.get(key)
            if spec is None:
                known = ", ".join(sorted(_FIELDS))
                self.problem((key,), f"unknown key {key!r} (known keys: apiVersion, kind, {known})")
                continue
            out[spec.attr] = (
                self._mapping(key, value, spec) if spec.mapping else self._scalar((key,), value, spec)
            )
        return out

    def _header(self, data: dict[Any, Any]) -> None:
        for key, wanted in (("apiVersion", API_VERSION), ("kind", KIND)):
            if data.get(key) != wanted:
                self.problem((key,), f"must be {wanted!r}, got {data.get(key)!r}")

    def _mapping(self, key: str, value: Any, spec: _Field) -> dict[str, str]:
        if not isinstance(value, dict):
            self.problem((key,), "must be a mapping of host name to value")
            return {}
        out: dict[str, str] = {}
        for host, item in value.items():
            checked = self._scalar((key, host), item, spec)
            if isinstance(host, str) and isinstance(checked, str):
                out[host] = checked
        return out

    def _scalar(self, path: tuple[Any, ...], value: Any, spec: _Field) -> str | SecretStr | None:
        if not isinstance(value, str):
            self.problem(path, f"must be a string, got {type(value).__name__}")
            return None
        message = spec.check(value.strip() if spec.attr == "ca_certificate" else value)
        if message:
            self.problem(path, message)
            return None
        return SecretStr(value) if spec.secret else value
