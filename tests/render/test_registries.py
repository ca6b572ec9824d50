"""``spec.containerd.registries``: hosts.toml files that containerd's own hosts loader resolves as intended.

Tier: render + upstream. Real: Jinja2 and the templates, tomllib; containerd v2.4.2's hosts loader
(``config.ConfigureHosts`` with ``config.HostDirFromRoot``, core/remotes/docker/config) and config loader,
built from tests/upstream/containerd-2 (tests/support/upstream.py); a CA certificate from the tests'
CertificateAuthority (tests/support/winrm/tls.py). Simulated: nothing. containerd 1.7 configs are judged
by the 1.7 config loader; their hosts.toml files by the 2.x hosts loader (same format).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from hybridctl.inventory import Cluster
from hybridctl.render import RuntimeValues, render_all, render_host
from tests.render import helpers
from tests.support.upstream import Validators, Verdict, refused
from tests.support.upstream_checks import judge_files, registry_checks
from tests.support.winrm.tls import CertificateAuthority

LAB = "10.231.5.1:5000"
PLAIN_HTTP = {"host": LAB, "server": f"http://{LAB}"}
K8S_MIRROR = {
    "host": "registry.k8s.io",
    "mirrors": [{"url": f"http://{LAB}", "capabilities": ["pull", "resolve"]}],
}


def _ca() -> str:
    return CertificateAuthority("registry test CA").cert_pem.decode()


def _cluster(*registries: dict[str, Any], containerd: str = "2.4.2", version: str = "1.37.2") -> Cluster:
    data = helpers.cluster_data("example")
    data["spec"]["kubernetes"]["version"] = version
    data["spec"]["kubernetes"]["imageRepository"] = f"{LAB}/k8s"
    data["spec"]["containerd"] = {"version": containerd, "registries": list(registries)}
    return helpers.build(data)


def _resolved(validators: Validators, cluster: Cluster) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(host, registry) -> the hosts containerd resolves, after every rendered file was accepted."""
    files = render_all(cluster, helpers.assume("example"))
    verdicts = judge_files(validators, cluster, files)
    assert refused(verdicts) == [], "\n".join(refused(verdicts))
    hosts = [v for v in verdicts if v.check.kind == "containerd-hosts"]
    assert len(hosts) == len(cluster.hosts) * len(cluster.spec.containerd.registries)
    return {(v.check.host or "", json.loads(v.check.data)["host"]): json.loads(v.detail) for v in hosts}


@pytest.mark.parametrize(("containerd", "version"), [("2.4.2", "1.37.2"), ("1.7.28", "1.35.10")])
def test_plain_http_lab_registry_on_every_node(
    containerd: str, version: str, upstream_validators: Validators
) -> None:
    """The air-gapped case: images under 10.231.5.1:5000/k8s are pulled over plain HTTP, on Linux and
    Windows; config_path is accepted by containerd's config loader of the line."""
    cluster = _cluster(PLAIN_HTTP, containerd=containerd, version=version)
    resolved = _resolved(upstream_validators, cluster)
    for host in ("cp1", "lin1", "win1", "win2"):
        assert resolved[(host, LAB)] == [
            {
                "scheme": "http",
                "host": LAB,
                "path": "/v2",
                "capabilities": ["pull", "resolve", "push"],
                "skipVerify": False,
                "customCA": False,
            }
        ]
    for host in ("cp1", "win1"):
        config = helpers.one(render_host(cluster, cluster.host(host), RuntimeValues()), host, "config.toml")
        plugins = helpers.toml_doc(config)["plugins"]
        section = plugins.get("io.containerd.cri.v1.images") or plugins["io.containerd.grpc.v1.cri"]
        want = "C:\\Program Files\\containerd\\certs.d" if host == "win1" else "/etc/containerd/certs.d"
        assert section["registry"] == {"config_path": want}


def test_mirror_first_then_upstream_and_private_ca(upstream_validators: Validators) -> None:
    """registry.k8s.io goes to the lab mirror first (pull+resolve), then upstream; a private-CA mirror of
    docker.io gets its CA, and a skipVerify mirror skips verification, as containerd resolves them."""
    ca = _ca()
    hub = {
        "host": "docker.io",
        "mirrors": [
            {"url": "https://hub-mirror.example:8443", "capabilities": ["pull"], "caCertificate": ca},
            {"url": "https://other.example", "skipVerify": True},
        ],
    }
    resolved = _resolved(upstream_validators, _cluster(K8S_MIRROR, hub))
    for host in ("cp1", "win1"):
        k8s = resolved[(host, "registry.k8s.io")]
        assert [(h["scheme"], h["host"], h["capabilities"]) for h in k8s] == [
            ("http", LAB, ["pull", "resolve"]),
            ("https", "registry.k8s.io", ["pull", "resolve", "push"]),
        ]
        docker = resolved[(host, "docker.io")]
        assert [(h["host"], h["customCA"], h["skipVerify"]) for h in docker] == [
            ("hub-mirror.example:8443", True, False),
            ("other.example", False, True),
            ("registry-1.docker.io", False, False),
        ]


def test_containerd_refuses_a_broken_directory(upstream_validators: Validators) -> None:
    """The validator can fail: a hosts.toml naming a CA file that is not there is refused by containerd."""
    cluster = _cluster({"host": LAB, "server": f"https://{LAB}", "caCertificate": _ca()})
    files = render_all(cluster, helpers.assume("example"))
    (check, *_) = registry_checks(cluster, files)
    data = json.loads(check.data)
    del data["files"]["ca.crt"]
    verdicts: list[Verdict] = upstream_validators.judge([replace(check, data=json.dumps(data))], "1.37", 2)
    assert not verdicts[0].ok
    assert "ca.crt" in verdicts[0].error


def test_no_registries_no_config_path() -> None:
    cluster = helpers.inventory("example")
    files = render_all(cluster, RuntimeValues())
    assert not [f for f in files if f.purpose == "registry-hosts"]
    assert all(b"config_path" not in f.content for f in files if f.purpose == "containerd-config")
