"""The simulated Windows agents refuse to start when upstream code refuses their config or command line.

Tier: winrm contract (the emulated Windows host's agents). Real: the files hybridctl renders for a Windows
node of the example inventory, and the upstream validators (tests/support/upstream.py) the agents consult:
the kubelet's flag set and strict KubeletConfiguration decoding, kube-proxy's strict decoder, containerd
2.x's config loader. Emulated: the Windows machine and its services (tests/support/winrm). Without this,
a simulated service would "run" with a config the real one rejects.
"""

from __future__ import annotations

import json

import pytest

from hybridctl.render import RenderedFile, render_all
from tests.render import helpers
from tests.support.upstream import default_judge
from tests.support.winrm.host import ScriptError
from tests.support.winrm.machine import Service, WindowsMachine
from tests.support.winrm.windows_kube import KubeSide

HOST = "win1"


def _files() -> dict[str, RenderedFile]:
    files = render_all(helpers.inventory("example"), helpers.assume("example"))
    return {f.purpose: f for f in files if f.host == HOST}


def _windows_path(item: RenderedFile) -> str:
    return "C:\\" + item.relpath.split("/C/", 1)[1].replace("/", "\\")


def _machine(replace: dict[str, tuple[str, str]]) -> WindowsMachine:
    """win1 with hybridctl's files written and its three services defined (``replace``: purpose -> edit)."""
    machine = WindowsMachine(hostname=HOST)
    files = _files()
    for purpose, item in files.items():
        text = helpers.text(item)
        if purpose in replace:
            old, new = replace[purpose]
            assert old in text
            text = text.replace(old, new)
        machine.write_file(_windows_path(item), text.encode())
    for name, purpose in (("kubelet", "kubelet-service"), ("kube-proxy", "kube-proxy-service")):
        service = json.loads(machine.read_file(_windows_path(files[purpose])).decode())
        line = " ".join(f'"{arg}"' if " " in arg else arg for arg in service["arguments"])
        machine.services[name] = Service(name, parameters={"AppParameters": line})
    machine.services["containerd"] = Service("containerd")
    return machine


def test_containerd_with_hybridctls_config_starts() -> None:
    machine = _machine({})
    KubeSide(None, default_judge()).start(machine, "containerd")
    assert machine.services["containerd"].status == "Running"


@pytest.mark.parametrize(
    ("service", "purpose", "old", "new", "upstream_text"),
    [
        ("kubelet", "kubelet-service", "--node-ip=", "--nodeip=", "unknown flag: --nodeip"),
        ("kubelet", "kubelet-config", "hairpinMode:", "hairpinModes:", 'unknown field "hairpinModes"'),
        (
            "kube-proxy",
            "kube-proxy-config",
            "networkName:",
            "netwrokName:",
            'unknown field "winkernel.netwrokName"',
        ),
        (
            "containerd",
            "containerd-config",
            "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runhcs-wcow-process]",
            "[plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.runhcs-wcow-process]",
            '[plugins."io.containerd.grpc.v1.cri"]',
        ),
    ],
)
def test_agent_refuses_what_upstream_refuses(
    service: str, purpose: str, old: str, new: str, upstream_text: str
) -> None:
    machine = _machine({purpose: (old, new)})
    machine.services["kubelet"].depends_on = []
    machine.services["kube-proxy"].depends_on = []
    with pytest.raises(ScriptError, match="refused upstream") as caught:
        KubeSide(None, default_judge()).start(machine, service)
    assert upstream_text in str(caught.value)
    assert f"host {HOST}" in str(caught.value)
    assert machine.services[service].status == "Stopped"
