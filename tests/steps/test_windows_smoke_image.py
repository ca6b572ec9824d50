"""spec.smoke.prePull on Windows: each node pulls the smoke image in the background during up.

Tier: winrm contract. Real: the Runner, the steps, pypsrp over HTTPS with a test CA, the WinRM protocol, the
packaged win/smoke-image and win/reset scripts (their calls read from the syntax tree). Simulated: the
Windows hosts, containerd's image store and the SYSTEM task's run (tests/support/winrm/windows_images.py:
the task's command line must read as crictl's, ``--runtime-endpoint``/``--image-endpoint`` on
containerd's pipe, then ``pull REF``), the control plane.
"""

from __future__ import annotations

from hybridctl.inventory.models import SmokeSpec
from hybridctl.steps.smoke_image import pull_ref
from hybridctl.steps.windows import teardown
from hybridctl.steps.windows.common import CRICTL_EXE
from tests.lab.windows_sim.testbed import Testbed
from tests.steps.test_windows_steps import ALL, changes, failures

TASK = "hybridctl-smoke-pull"


def _pre_pull(testbed: Testbed) -> str:
    spec = testbed.cluster.spec.model_copy(update={"smoke": SmokeSpec(pre_pull=True)})
    testbed.cluster = testbed.cluster.model_copy(update={"spec": spec})
    return pull_ref(testbed.cluster)


def test_without_pre_pull_no_node_pulls_the_smoke_image(testbed: Testbed) -> None:
    plan, _ = testbed.run(testbed.steps(ALL), read_only=True)
    assert not [r for r in plan.results if r.step == "windows-smoke-image"]


def test_up_pulls_the_smoke_image_through_the_cri_in_a_system_task_and_a_second_run_changes_nothing(
    testbed: Testbed,
) -> None:
    ref = _pre_pull(testbed)
    plan, _ = testbed.run(testbed.steps(ALL), read_only=True)
    planned = {(h, s): found for h, s, found in changes(plan)}
    assert any(ref in c for c in planned[("win1", "windows-smoke-image")]), planned

    report, _ = testbed.run(testbed.steps(ALL))

    assert not failures(report), failures(report)
    for node in testbed.nodes.values():
        machine = node.host.machine
        assert ref in machine.images, node.name
        task = machine.scheduled_tasks[TASK]
        assert (task["execute"], task["userId"]) == (CRICTL_EXE, "SYSTEM")
        assert task["arguments"].endswith(f" pull {ref}")
    again, _ = testbed.run(testbed.steps(ALL))
    assert changes(again) == []


def test_a_failed_pull_is_started_again_and_down_removes_the_task_and_the_images(testbed: Testbed) -> None:
    ref = _pre_pull(testbed)
    report, _ = testbed.run(testbed.steps(ALL))
    assert not failures(report), failures(report)
    machine = testbed.nodes["win1"].host.machine
    machine.images.discard(ref)
    machine.extra["taskResults"][TASK] = 1  # crictl pull exited 1 (say, the registry was unreachable)

    plan, _ = testbed.run(testbed.steps(ALL), read_only=True, hosts=["win1"])
    assert [c for h, s, c in changes(plan) if h == "win1"] == [
        [
            f"pull the smoke image {ref} again (the last pull ended with 0x1) in the background "
            f"(scheduled task {TASK}; spec.smoke.prePull)"
        ]
    ]
    testbed.run(testbed.steps(ALL))
    assert ref in machine.images

    down, _ = testbed.run(teardown(False), hosts=["win1"])
    assert not failures(down), failures(down)
    assert TASK not in machine.scheduled_tasks and not machine.images
