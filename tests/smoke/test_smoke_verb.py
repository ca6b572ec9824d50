"""Unit tier: ``hybridctl smoke`` through the real CLI (in process) against a fake control plane.

Real: the CLI, option checks, the inventory, the rendered smoke objects, the check logic, the JUnit file
(read back by junitparser, a JUnit consumer from PyPI) and the JSON event, exit codes, cleanup.
Emulated: the control plane's transport and what kubectl answers there (``tests/smoke/fake_api.py``);
no pod and no packet is real here - the data path is proven in the lab tier.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped

import hybridctl.smoke.network
from hybridctl.appenv import AppEnv
from hybridctl.cli import run
from hybridctl.events import Outcome
from hybridctl.runner import RunReport
from hybridctl.session import RunSettings, Session
from hybridctl.steps.outcome import StepResult
from hybridctl.testing import FakeHost, FakeTransport
from hybridctl.ui import write_junit
from hybridctl.verbs.smoke import SmokeRequest, run_smoke
from tests.smoke.fake_api import FakeApi, node, runtime_class
from tests.support.inventory import STAND_IN_KEY, write_inventory

BUILD_2022 = "10.0.20348"
NODES = ("cp1", "lin1", "win1", "win2")


def _hosts() -> list[dict[str, Any]]:
    ssh = {"user": "root", "privateKeyFile": str(STAND_IN_KEY)}
    winrm = {"user": "Administrator", "password": "${env:WINRM_PASSWORD}"}
    linux = [
        {"name": n, "address": f"10.0.0.{i}", "role": r, "os": "linux", "ssh": ssh}
        for i, (n, r) in enumerate((("cp1", "control-plane"), ("lin1", "worker")), 10)
    ]
    windows = [
        {
            "name": n,
            "address": f"10.0.0.{i}",
            "role": "worker",
            "os": "windows",
            "windowsVersion": 2022,
            "winrm": winrm,
        }
        for i, n in enumerate(("win1", "win2"), 20)
    ]
    return linux + windows


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WINRM_PASSWORD", "smoke-test-secret")
    pins = {"checksums": {"nssm": "a" * 64, "windows-cni": "b" * 64}}
    return write_inventory(tmp_path / "inv.yaml", _hosts(), artifacts=pins, name="smokecase")


def _api(**overrides: Any) -> FakeApi:
    nodes = [
        node("cp1", "linux"),
        node("lin1", "linux"),
        node("win1", "windows", build=BUILD_2022),
        node("win2", "windows", build=BUILD_2022),
    ]
    classes = [runtime_class("windows-2022", "runhcs-wcow-process", BUILD_2022)]
    return FakeApi(nodes, classes, **overrides)


@pytest.fixture
def control_plane(monkeypatch: pytest.MonkeyPatch) -> Callable[[FakeApi], FakeHost]:
    def install(api: FakeApi) -> FakeHost:
        host = FakeHost("cp1")
        host.on("kubectl", api)
        host.on("test", (0, "", ""))
        monkeypatch.setattr(Session, "_default_factory", lambda self: lambda h: FakeTransport(host))
        return host

    return install


def _smoke(inventory: Path, *extra: str) -> int:
    state = inventory.parent / "state"
    return run(["smoke", "-i", str(inventory), "--state-dir", str(state), "--timeout", "60", *extra])


def _cases(path: Path) -> dict[tuple[str, str], Any]:
    xml = JUnitXml.fromfile(str(path))
    return {(case.classname, case.name): case for suite in xml for case in suite}


def test_a_healthy_cluster_passes_every_check_and_the_namespace_is_removed(
    inventory: Path, control_plane: Callable[[FakeApi], FakeHost], tmp_path: Path
) -> None:
    api = _api()
    control_plane(api)
    junit = tmp_path / "out" / "smoke.xml"
    assert _smoke(inventory, "--junit", str(junit)) == 0
    cases = _cases(junit)
    groups = {group for group, _ in cases}
    assert groups == {
        "nodes",
        "windows-taint",
        "runtimeclass",
        "workloads",
        "placement",
        "linux-only",
        "pod-to-pod",
        "localhost",
        "service-clusterip",
        "service-nodeport",
        "dns",
        "egress",
    }
    pairs = {name for group, name in cases if group == "pod-to-pod"}
    assert pairs == {f"{a} -> {b}" for a in NODES for b in NODES if a != b}  # every ordered pair
    failed = [key for key, case in cases.items() if any(isinstance(r, Failure | Error) for r in case.result)]
    assert failed == []
    skipped = [key for key, case in cases.items() if any(isinstance(r, Skipped) for r in case.result)]
    assert {g for g, _ in skipped} == {"egress"}  # no --egress-target: skipped with the reason
    assert all(case.time is not None and case.time >= 0 for case in cases.values())
    assert ("delete", "namespace", "hybridctl-smoke", "--ignore-not-found", "--wait=false") in api.changes


def test_a_broken_path_fails_exactly_its_checks_with_evidence(
    inventory: Path,
    control_plane: Callable[[FakeApi], FakeHost],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = _api()
    control_plane(api)
    win2_ip = {}

    def connect(source: str, target: str) -> tuple[int, str]:
        ip = win2_ip.setdefault("ip", _pod_ip(api, "smoke-windows-2022-win2"))
        return (1, "TIMEOUT") if source.endswith("-lin1") and target.startswith(ip) else (0, "")

    api.connect = connect
    junit = tmp_path / "smoke.xml"
    assert _smoke(inventory, "--junit", str(junit), "--egress-target", "192.0.2.1:443") == 1
    cases = _cases(junit)
    failed = {key: case for key, case in cases.items() if any(isinstance(r, Failure) for r in case.result)}
    assert set(failed) == {("pod-to-pod", "lin1 -> win2")}
    text = next(iter(failed.values())).result[0].text
    assert (
        "TIMEOUT" in text
        and "on node lin1" in text
        and "events:" in text
        and "last 20 log lines of server" in text
    )
    shown = capsys.readouterr()
    out = shown.out
    assert "smoke pods ready: 4 of 4" in shown.err
    assert "FAIL  pod-to-pod" in out and "--- evidence: pod-to-pod lin1 -> win2" in out
    assert ("egress", "linux (cp1) -> 192.0.2.1:443") in cases  # given a target, egress runs


def test_a_service_with_no_ready_endpoints_says_so_with_the_pods_behind_it(
    inventory: Path,
    control_plane: Callable[[FakeApi], FakeHost],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Windows Service's EndpointSlice lists both Windows pods as not ready, and no Service address
    answers: the Windows Service's ClusterIP and NodePort checks (from the Linux pods) fail saying it has no
    ready endpoints, naming each pod and node; the Linux Service's (ready slice) fail without that line."""
    monkeypatch.setattr(hybridctl.smoke.network, "PAUSE", 0.01)  # between a failing check's 3 handshakes
    api = _api()
    control_plane(api)
    service = "kubernetes.io/service-name"
    api.endpoint_slices = [
        {
            "metadata": {"labels": {service: "smoke-windows"}},
            "endpoints": [
                {
                    "addresses": [f"10.244.{i}.5"],
                    "conditions": {"ready": False},
                    "nodeName": f"win{i}",
                    "targetRef": {"kind": "Pod", "name": f"smoke-windows-2022-win{i}"},
                }
                for i in (1, 2)
            ],
        },
        {"metadata": {"labels": {service: "smoke-linux"}}, "endpoints": [{"addresses": ["10.244.9.5"]}]},
    ]
    api.connect = lambda source, target: (1, "REFUSED") if target.split(":")[1] != "8080" else (0, "")
    junit = tmp_path / "smoke.xml"
    assert _smoke(inventory, "--junit", str(junit)) == 1
    cases = _cases(junit)
    failed = {k: c.result[0] for k, c in cases.items() if any(isinstance(r, Failure) for r in c.result)}
    assert {k[0] for k in failed} == {"service-clusterip", "service-nodeport"}
    from_linux = {k: f for k, f in failed.items() if k[1].split()[0] in ("cp1", "lin1")}
    from_windows = {k: f for k, f in failed.items() if k not in from_linux}
    assert len(from_linux) == 2 + 2 * 2 and len(from_windows) == 2 + 2 * 2  # ClusterIP + a NodePort per node
    for failure in from_linux.values():  # the Windows Service
        assert failure.message.startswith("Service smoke-windows has no ready endpoints; "), failure.message
        assert "Service hybridctl-smoke/smoke-windows: 0 of 2 endpoints ready" in failure.text
        assert "not ready: pod smoke-windows-2022-win1 on node win1 (10.244.1.5)" in failure.text
    for failure in from_windows.values():  # the Linux Service
        assert "no ready endpoints" not in failure.message and "REFUSED" in failure.message
        assert "Service hybridctl-smoke/smoke-linux: 1 of 1 endpoints ready" in failure.text


def _pod_ip(api: FakeApi, name: str) -> str:
    pods = [p for ds in api.daemonsets for p in api._pods(ds)]
    return next(p["status"]["podIP"] for p in pods if p["metadata"]["name"] == name)


def test_a_windows_pod_on_a_linux_node_fails_placement(
    inventory: Path, control_plane: Callable[[FakeApi], FakeHost], tmp_path: Path
) -> None:
    api = _api()
    api.nodes[1]["metadata"]["labels"]["node.kubernetes.io/windows-build"] = (
        BUILD_2022  # lin1 wrongly labelled
    )
    api.runtime_classes[0]["scheduling"]["nodeSelector"].pop("kubernetes.io/os")
    control_plane(api)
    junit = tmp_path / "smoke.xml"
    assert _smoke(inventory, "--junit", str(junit)) == 1
    case = _cases(junit)[("placement", "smoke-windows-2022")]
    assert "pods on lin1, which are not windows nodes" in case.result[0].message


def test_unready_node_and_wrong_version_fail_the_node_check(
    inventory: Path, control_plane: Callable[[FakeApi], FakeHost], tmp_path: Path
) -> None:
    api = _api()
    api.nodes[2] = node("win1", "windows", build=BUILD_2022, ready=False, version="v1.36.6")
    control_plane(api)
    junit = tmp_path / "smoke.xml"
    assert _smoke(inventory, "--junit", str(junit)) == 1
    message = _cases(junit)[("nodes", "win1")].result[0].message
    assert "not Ready" in message and "kubelet v1.36.6 (expected v1.37.2)" in message


def test_keep_leaves_the_namespace(inventory: Path, control_plane: Callable[[FakeApi], FakeHost]) -> None:
    api = _api()
    control_plane(api)
    assert _smoke(inventory, "--keep") == 0
    kinds = [change[0] for change in api.changes]
    last_apply = len(kinds) - 1 - kinds[::-1].index("apply")
    assert "delete" not in kinds[last_apply:]  # only the earlier run's namespace was deleted, before applying


def test_ctrl_c_still_removes_the_namespace_and_exits_130(
    inventory: Path, control_plane: Callable[[FakeApi], FakeHost], tmp_path: Path
) -> None:
    api = _api()

    def interrupted(source: str, target: str) -> tuple[int, str]:
        raise KeyboardInterrupt

    api.connect = interrupted
    control_plane(api)
    junit = tmp_path / "smoke.xml"
    assert _smoke(inventory, "--junit", str(junit)) == 130
    assert ("delete", "namespace", "hybridctl-smoke", "--ignore-not-found", "--wait=false") in api.changes
    assert ("placement", "smoke-linux") in _cases(junit)  # what ran before Ctrl-C is reported


def test_api_not_answering_is_exit_4_with_an_error_case(
    inventory: Path,
    control_plane: Callable[[FakeApi], FakeHost],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = _api(
        readyz=(
            1,
            "",
            "The connection to the server 10.0.0.10:6443 was refused - did you specify the right host?",
        )
    )
    control_plane(api)
    junit = tmp_path / "smoke.xml"
    assert _smoke(inventory, "--junit", str(junit), "--output", "json") == 4
    event = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert event["event"] == "smoke" and event["exitCode"] == 4 and "was refused" in event["unreachable"]
    case = _cases(junit)[("cluster", "reachable")]
    assert isinstance(case.result[0], Error)
    assert api.daemonsets == []  # nothing was created


def test_unreachable_control_plane_is_exit_4(
    inventory: Path, control_plane: Callable[[FakeApi], FakeHost]
) -> None:
    control_plane(_api()).reachable = False
    assert _smoke(inventory) == 4


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--timeout", "ten"], "--timeout 'ten' is not a duration"),
        (["--egress-target", "example.com"], "is not HOST:PORT"),
        (["--egress-target", "example.com:70000"], "is not HOST:PORT"),
    ],
)
def test_bad_options_are_usage_errors_before_connecting(
    inventory: Path,
    control_plane: Callable[[FakeApi], FakeHost],
    flags: list[str],
    words: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = control_plane(_api())
    assert _smoke(inventory, *flags) == 2
    assert words in capsys.readouterr().err
    assert host.history == []


def test_image_option_and_inventory_image_reach_the_pods(
    inventory: Path, control_plane: Callable[[FakeApi], FakeHost]
) -> None:
    api = _api()
    control_plane(api)
    assert _smoke(inventory, "--image", "mirror.example:5000/agnhost:2.66.1") == 0
    images = {c["image"] for ds in api.daemonsets for c in ds["spec"]["template"]["spec"]["containers"]}
    assert images == {"mirror.example:5000/agnhost:2.66.1"}


def test_up_refuses_egress_target_without_smoke(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["up", "-i", str(inventory), "--yes", "--egress-target", "192.0.2.1:443"]) == 2
    assert "--egress-target needs --smoke" in capsys.readouterr().err


def test_after_up_the_smoke_suite_joins_ups_junit_file(
    inventory: Path, control_plane: Callable[[FakeApi], FakeHost], tmp_path: Path
) -> None:
    """What ``up --yes --smoke --junit FILE`` does once up wrote FILE: one file, up's suite then smoke's."""
    junit = tmp_path / "ci.xml"
    up_report = RunReport("run", [StepResult("cp1", "kubeadm-init", Outcome.CHANGED, duration=1.5)])
    write_junit(junit, up_report, "hybridctl up smokecase")
    control_plane(_api())

    env = AppEnv(inventory=inventory)
    settings = RunSettings(state_dir=tmp_path / "state", junit=junit)
    assert run_smoke(env, settings, SmokeRequest(timeout="60"), after_up=True) == 0
    suites = [suite.name for suite in JUnitXml.fromfile(str(junit))]
    assert suites == ["hybridctl up smokecase", "hybridctl smoke smokecase"]


def test_json_output_streams_each_check_then_the_report(
    inventory: Path, control_plane: Callable[[FakeApi], FakeHost], capsys: pytest.CaptureFixture[str]
) -> None:
    control_plane(_api())
    assert _smoke(inventory, "--output", "json") == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    streamed = [e for e in events if e["event"] == "smoke-check"]
    final = events[-1]
    assert final["event"] == "smoke" and final["summary"] == {"passed": 45, "failed": 0, "skipped": 2}
    assert len(streamed) == len(final["checks"]) == 47  # 4 nodes, 2 of each OS
    assert "smoke-test-secret" not in json.dumps(events)


@pytest.mark.parametrize("up_code", [0, 1, 4])
def test_up_with_smoke_runs_it_only_after_a_successful_up(
    inventory: Path,
    control_plane: Callable[[FakeApi], FakeHost],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    up_code: int,
) -> None:
    """``up --yes --smoke --junit FILE``: up's own run is replaced here (its lab tests cover it); smoke
    follows only when up exited 0, into the same JUnit file, with up's --egress-target."""
    import hybridctl.cli

    api = _api()
    control_plane(api)
    monkeypatch.setattr(hybridctl.cli, "_lifecycle", lambda *args, **kwargs: up_code)
    junit = tmp_path / "ci.xml"
    argv = ["up", "-i", str(inventory), "--yes", "--smoke", "--junit", str(junit)]
    assert run([*argv, "--state-dir", str(tmp_path / "state"), "--egress-target", "192.0.2.9:443"]) == up_code
    assert bool(api.daemonsets) == (up_code == 0)
    if up_code == 0:
        cases = _cases(junit)
        assert ("egress", "linux (cp1) -> 192.0.2.9:443") in cases


def test_a_cluster_without_windows_tests_its_linux_services_from_linux_pods(
    tmp_path: Path, control_plane: Callable[[FakeApi], FakeHost]
) -> None:
    linux = [h for h in _hosts() if h["os"] == "linux"]
    inventory = write_inventory(tmp_path / "linux.yaml", linux, name="linuxonly")
    api = FakeApi([node("cp1", "linux"), node("lin1", "linux")], [])
    control_plane(api)
    junit = tmp_path / "smoke.xml"
    assert _smoke(inventory, "--junit", str(junit)) == 0
    cases = _cases(junit)
    assert {n for g, n in cases if g == "service-clusterip"} == {"cp1 -> smoke-linux", "lin1 -> smoke-linux"}
    assert len([n for g, n in cases if g == "service-nodeport"]) == 4
    assert not [g for g, _ in cases if g in ("windows-taint", "runtimeclass")]


def test_evidence_is_masked_in_every_output(
    inventory: Path,
    control_plane: Callable[[FakeApi], FakeHost],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A pod log that happens to hold an inventory secret reaches neither the terminal nor the JUnit file."""

    def connect(source: str, target: str) -> tuple[int, str]:
        return (1, "TIMEOUT") if source.endswith("-lin1") and target.startswith("127.") else (0, "")

    api = _api(connect=connect, logs="token=smoke-test-secret\n")
    control_plane(api)
    junit = tmp_path / "smoke.xml"
    assert _smoke(inventory, "--junit", str(junit)) == 1
    shown = capsys.readouterr()
    assert "token=***" in junit.read_text() and "token=***" in shown.out
    assert "smoke-test-secret" not in junit.read_text() + shown.out + shown.err
