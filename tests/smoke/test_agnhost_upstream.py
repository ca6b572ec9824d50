"""Upstream truth for the smoke pods: the real agnhost runs what hybridctl renders and says what smoke reads.

Tier: upstream (root: one network namespace with only loopback, standing for a pod's). Real: agnhost built
from k8s.io/kubernetes v1.36.3 (``test/images/agnhost``, the program of registry.k8s.io/e2e-test-images/
agnhost:2.63.0, hybridctl smoke's default image) by ``tests/upstream/build.py``, and that module's
``VERSION`` and ``BASEIMAGE`` files; the two containers' arguments taken from the rendered
smoke DaemonSet; the readiness probe's path; the exact ``agnhost connect`` argv the checks run, and how
hybridctl reads its answers (``reason``, ``resolved``). Emulated: the container runtime (the two
"containers" are two processes in one network namespace, as a pod's containers share one).
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybridctl.render import RuntimeValues
from hybridctl.smoke.kubectl import connect_argv
from hybridctl.smoke.network import reason, resolved
from hybridctl.smoke.workloads import AGNHOST_TAG, render_smoke
from hybridctl.transport.base import Result
from hybridctl.versions import WINDOWS_BUILDS
from tests.render.helpers import inventory
from tests.support.ci import require_root, require_tool
from tests.support.upstream import module_source
from tests.upstream.build import AGNHOST_KUBERNETES, agnhost, ensure

pytestmark = [pytest.mark.root]


# Upstream's names for the Windows builds hybridctl supports (hcsshim osversion/windowsbuilds.go: RS5 = 1809 =
# 17763 is Server 2019, ltsc2022 = 20348, ltsc2025 = 26100).
BASE_OS = {2019: "1809", 2022: "ltsc2022", 2025: "ltsc2025"}


def _containers() -> list[dict[str, Any]]:
    files = render_smoke(inventory("example"), RuntimeValues(), "agnhost")
    daemonset = yaml.safe_load(next(f for f in files if f.relpath.endswith("smoke-linux.yaml")).content)
    containers: list[dict[str, Any]] = daemonset["spec"]["template"]["spec"]["containers"]
    return containers


@pytest.fixture(scope="module")
def binary() -> Path:
    require_tool("go", "install Go 1.26 (/usr/local/go/bin) and reach the Go module proxy")
    return ensure(agnhost()) / "agnhost"


@pytest.fixture
def pod(binary: Path) -> Iterator[str]:
    """A network namespace running both smoke containers' commands; removed (processes by pid) after."""
    require_root("a network namespace standing for the pod")
    namespace = f"hsa{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run(["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"], check=True)
        for container in _containers():
            argv = ["ip", "netns", "exec", namespace, str(binary), *container["args"]]
            processes.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        time.sleep(1.5)
        for process in processes:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        yield namespace
    finally:
        for process in processes:
            process.kill()
            process.wait()
        subprocess.run(["ip", "netns", "del", namespace], check=False)


def _in_pod(namespace: str, binary: Path, target: str) -> Result:
    argv = [str(binary), *connect_argv(target)[1:]]
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, *argv], capture_output=True, text=True, timeout=30, check=False
    )
    return Result(" ".join(argv), done.returncode, done.stdout, done.stderr, 0.0)


def test_both_containers_serve_and_the_readiness_probe_answers(pod: str, binary: Path) -> None:
    """Two netexec servers share the pod's network (each its own UDP port: no clash on netexec's default
    8081); the readiness probe answers 200 (netexec is ready only once its UDP server runs)."""
    probe = _containers()[0]["readinessProbe"]["httpGet"]
    url = f"http://127.0.0.1:{probe['port']}{probe['path']}"
    script = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).status)"
    done = subprocess.run(
        ["ip", "netns", "exec", pod, "python3", "-c", script], capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "200", done.stderr
    ports = [c["ports"][0]["containerPort"] for c in _containers()]
    for port in ports:
        assert _in_pod(pod, binary, f"127.0.0.1:{port}").ok


def test_smoke_reads_agnhost_connect_as_upstream_prints_it(pod: str, binary: Path) -> None:
    """REFUSED and DNS are told apart the way the checks need: a refused port resolved its name."""
    refused = _in_pod(pod, binary, "localhost:9")
    assert not refused.ok and reason(refused) == "REFUSED" and resolved(refused)
    unknown = _in_pod(pod, binary, "smoke-linux.hybridctl-smoke.svc.cluster.local:80")
    assert not unknown.ok and reason(unknown).startswith("DNS:") and not resolved(unknown)


def test_the_default_image_is_that_agnhost_with_a_variant_for_every_windows_build() -> None:
    """The default image's tag is ``test/images/agnhost/VERSION`` of the release built here, and that
    release's ``BASEIMAGE`` (the platforms upstream's image build produces) has linux/amd64 and a Windows
    variant for each Windows Server build hybridctl supports, so process isolation finds one on every node."""
    images = module_source("k8s.io/kubernetes", f"v{AGNHOST_KUBERNETES}") / "test" / "images" / "agnhost"
    assert (images / "VERSION").read_text().strip() == AGNHOST_TAG
    lines = (images / "BASEIMAGE").read_text().splitlines()
    platforms = {line.split("=", 1)[0] for line in lines if "=" in line}
    assert "linux/amd64" in platforms
    assert {f"windows/amd64/{BASE_OS[year]}" for year in WINDOWS_BUILDS} <= platforms, platforms
