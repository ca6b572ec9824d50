"""``kernel-modules`` on a kernel with overlay and br_netfilter built in and no /lib/modules (as CI's).

Tier: lab. Real: an OpenSSH test host in a network namespace, paramiko, the Runner, the step's read-only
probe against the real kernel's /proc/filesystems and the host namespace's /proc/sys/net/bridge, and
/lib/modules as this machine has it. Simulated (tests/lab/linux_sim): the host's /sys/module is an empty
tmpfs (as for a built-in module without parameters, which has no /sys/module entry), and modprobe is a
stand-in (the real one must never touch the build machine's kernel); the failing one prints kmod's
"Module X not found in directory /lib/modules/<release>" message, which a kernel without modules gives.
"""

from __future__ import annotations

import json

from hybridctl.steps.linux.kernel_modules import KernelModules
from tests.lab.linux_sim.lab import SimLab, run_steps
from tests.support.linux_hosts import TestHost

STEP = [KernelModules()]
CONF = "/etc/modules-load.d/hybridctl.conf"
STAND_IN = """#!/bin/sh
echo "modprobe: FATAL: Module $1 not found in directory /lib/modules/$(uname -r)" >&2
exit 1
"""


def _provided(host: TestHost) -> None:
    """This test's premise, stated: the kernel provides both modules without /sys/module entries."""
    filesystems = host.exec("cat", "/proc/filesystems").stdout.split()
    bridge = host.exec("test", "-d", "/proc/sys/net/bridge", check=False).returncode == 0
    assert "overlay" in filesystems and bridge, "needs a kernel with overlay and br_netfilter (as CI's)"
    assert host.exec("ls", "-A", "/sys/module").stdout == ""


def _modprobe_calls(host: TestHost) -> list[list[str]]:
    out = host.exec("cat", "/var/lib/hybridctl-sim/calls.log", check=False).stdout
    return [c for c in (json.loads(line) for line in out.splitlines()) if c[0] == "modprobe"]


def test_built_in_modules_are_recognised_and_nothing_is_loaded(lab: SimLab) -> None:
    (host,) = lab.add(1)
    _provided(host)
    cluster = lab.cluster([(host, "control-plane")])
    plan = run_steps(lab, cluster, STEP, read_only=True)
    plan.assert_ok()
    assert plan.changed() == {(host.name, "kernel-modules"): [f"create {CONF}"]}
    run_steps(lab, cluster, STEP).assert_ok()
    again = run_steps(lab, cluster, STEP, read_only=True)
    again.assert_ok()
    assert again.changed() == {}
    assert _modprobe_calls(host) == []


def test_a_module_modprobe_cannot_load_fails_naming_it(lab: SimLab) -> None:
    (host,) = lab.add(1)
    cluster = lab.cluster([(host, "control-plane")])
    fake = "/run/hybridctl-test-filesystems"
    host.exec("sh", "-c", f"grep -v overlay /proc/filesystems > {fake}")
    host.exec("mount", "--bind", fake, "/proc/filesystems")
    host.exec("sh", "-c", "cat > /usr/local/sbin/modprobe", input=STAND_IN)
    try:
        plan = run_steps(lab, cluster, STEP, read_only=True)
        assert plan.changed()[(host.name, "kernel-modules")] == [
            f"create {CONF}",
            "load kernel module overlay",
        ]
        failed = run_steps(lab, cluster, STEP).failures()[(host.name, "kernel-modules")]
        assert "kernel module overlay cannot be loaded" in failed
        assert "Module overlay not found in directory /lib/modules/" in failed
    finally:
        host.exec("umount", "/proc/filesystems", check=False)
        host.exec("rm", "-f", fake)  # /run is not private to the test host
