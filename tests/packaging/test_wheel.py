"""The wheel carries the templates: build it, install it into a fresh virtualenv, render the example there.

Tier: unit (packaging). Real: the PEP 517 build (hatchling), pip, a virtualenv, the installed console
script. Simulated: nothing. The fresh virtualenv sees only the *running* environment's site-packages
(appended to its path by a ``.pth`` line, so the wheel's own files come first and the checkout's editable
install is not activated): the test needs no network and no package installed outside this environment,
and the installed hybridctl itself must come from the wheel, not from this checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly built wheel of this checkout."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (found,) = out.glob("hybridctl-*.whl")
    return found


def test_wheel_contains_the_templates(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    templates = [n for n in names if n.startswith("hybridctl/templates/")]
    assert "hybridctl/templates/windows/kubelet/config.yaml.j2" in templates
    assert "hybridctl/templates/linux/kubeadm/kubeadm-init.yaml.j2" in templates
    assert any(n.startswith("hybridctl/templates/windows/scripts/") for n in templates)
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def _venv_seeing_this_environment(venv: Path) -> Path:
    """A new virtualenv whose path ends with this environment's site-packages; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    # A plain path line, not site.addsitedir: the .pth files in those directories (the checkout's
    # editable install among them) stay inactive, so hybridctl can only come from the wheel.
    (Path(purelib) / "zz_test_environment.pth").write_text("".join(f"{d}\n" for d in sorted(ours)))
    return python


def test_installed_wheel_renders_the_example(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = _venv_seeing_this_environment(venv)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    where = subprocess.run(
        [str(python), "-c", "import hybridctl.resources as r; print(r.__file__); print(r.templates_dir())"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert all(str(venv) in line for line in where), where
    out = tmp_path / "out"
    env = {**os.environ, "WINRM_PASSWORD": "example"}
    inventory = ROOT / "inventories" / "example.yaml"
    subprocess.run(
        [str(venv / "bin" / "hybridctl"), "render", "-i", str(inventory), "-o", str(out)],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    manifest = json.loads((out / "manifest.json").read_text())
    purposes = {f["purpose"] for f in manifest["files"]}
    assert {"kubeadm-init", "kubelet-config", "containerd-config", "routes", "script"} <= purposes
    assert (out / "win1" / "C" / "var" / "lib" / "kubelet" / "config.yaml").is_file()
