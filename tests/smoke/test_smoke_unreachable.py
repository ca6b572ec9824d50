"""ssh contract tier: ``hybridctl smoke`` in a subprocess against a control plane that refuses connections.

Real: the CLI process, paramiko's SSH connect to a test host (network namespace) on a port where nothing
listens (the kernel refuses), the exit code, stderr and the JUnit file read back by junitparser.
Emulated: nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import Error, JUnitXml

from tests.support.inventory import STAND_IN_KEY, write_inventory
from tests.support.linux_hosts import TestHost

CLOSED_PORT = 47029  # nothing listens there on a test host


@pytest.mark.root
def test_a_control_plane_that_refuses_connections_is_exit_4_with_a_junit_error(
    linux_host: TestHost, tmp_path: Path
) -> None:
    ssh = {"user": "root", "port": CLOSED_PORT, "privateKeyFile": str(STAND_IN_KEY)}
    cp1 = {"name": "cp1", "address": linux_host.address, "role": "control-plane", "os": "linux", "ssh": ssh}
    inventory = write_inventory(tmp_path / "inv.yaml", [cp1], name="unreachable")
    junit = tmp_path / "smoke.xml"
    argv = [sys.executable, "-m", "hybridctl", "smoke", "-i", str(inventory), "--junit", str(junit)]
    argv += ["--state-dir", str(tmp_path / "state"), "--accept-new-host-keys"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "cluster unreachable" in result.stderr and "cp1" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    cases = [case for suite in JUnitXml.fromfile(str(junit)) for case in suite]
    assert [(c.classname, c.name) for c in cases] == [("cluster", "reachable")]
    assert isinstance(cases[0].result[0], Error)
