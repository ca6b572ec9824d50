"""``hybridctl init``: the starter inventory a new user gets, checked through the real CLI.

Tier: unit. Real: the CLI as ``python -m hybridctl`` subprocesses (init, then validate on its output),
the inventory loader with every semantic check, an ed25519 key and a CA certificate made with
``cryptography``. Simulated: nothing; init connects nowhere.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from hybridctl.verbs.init import default_kubernetes_version
from hybridctl.versions import KubeVersion

WINDOWS_ENV = ("WINRM_PASSWORD", "WINRM_CA_BUNDLE", "NSSM_SHA256", "WINDOWS_CNI_SHA256")
PASSWORD = "init-test-Passw0rd!"


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in (*WINDOWS_ENV, "HYBRIDCTL_SSH_KEY")}
    command = [sys.executable, "-m", "hybridctl", *args]
    return subprocess.run(
        command, cwd=cwd, env={**clean, **(env or {})}, capture_output=True, text=True, check=False
    )


def _key(directory: Path) -> Path:
    key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    path = directory / "id_ed25519"
    path.write_bytes(key)
    path.chmod(0o600)
    return path


def _ca(directory: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "init test CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / "winrm-ca.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def _environment(directory: Path, *, windows: bool) -> dict[str, str]:
    env = {"HYBRIDCTL_SSH_KEY": str(_key(directory))}
    if windows:
        env |= {
            "WINRM_PASSWORD": PASSWORD,
            "WINRM_CA_BUNDLE": str(_ca(directory)),
            "NSSM_SHA256": "a" * 64,
            "WINDOWS_CNI_SHA256": "b" * 64,
        }
    return env


def test_init_writes_a_commented_inventory_that_validates(tmp_path: Path) -> None:
    result = cli(tmp_path, "init", "--linux-workers", "2", "--windows-workers", "2", "-o", "cluster.yaml")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "cluster.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=hybridctl.schema.json\n")
    assert "password: ${env:WINRM_PASSWORD}" in text
    assert "privateKeyFile: ${env:HYBRIDCTL_SSH_KEY}" in text
    hosts = [h["name"] for h in yaml.safe_load(text)["spec"]["hosts"]]
    assert hosts == ["cp1", "lin1", "lin2", "win1", "win2"]
    for variable in ("HYBRIDCTL_SSH_KEY", *WINDOWS_ENV):
        assert f"export {variable}=" in result.stdout
    assert "hybridctl validate -i cluster.yaml" in result.stdout
    assert "hybridctl up -i cluster.yaml" in result.stdout
    checked = cli(tmp_path, "validate", "-i", "cluster.yaml", env=_environment(tmp_path, windows=True))
    assert checked.returncode == 0, checked.stderr
    assert "valid (5 hosts" in checked.stdout


def test_the_inventory_needs_its_environment_and_never_holds_a_secret(tmp_path: Path) -> None:
    assert cli(tmp_path, "init").returncode == 0
    text = (tmp_path / "inventory.yaml").read_text()
    assert PASSWORD not in text
    unset = cli(tmp_path, "validate")
    assert unset.returncode == 3
    assert "environment variable WINRM_PASSWORD is not set" in unset.stderr


def test_linux_only_inventory_asks_only_for_the_ssh_key(tmp_path: Path) -> None:
    result = cli(tmp_path, "init", "--windows-workers", "0", "--linux-workers", "3")
    assert result.returncode == 0, result.stderr
    assert "WINRM_PASSWORD" not in result.stdout
    assert "WINRM" not in (tmp_path / "inventory.yaml").read_text()
    checked = cli(tmp_path, "validate", env=_environment(tmp_path, windows=False))
    assert checked.returncode == 0, checked.stderr


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "inventory.yaml"
    target.write_text("mine\n")
    result = cli(tmp_path, "init")
    assert result.returncode == 2
    assert "exists; init never overwrites" in result.stderr
    assert "Traceback" not in result.stderr
    assert target.read_text() == "mine\n"


def test_init_json_output(tmp_path: Path) -> None:
    result = cli(tmp_path, "init", "--name", "edge", "--windows-workers", "1", "--output", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["file"] == "inventory.yaml"
    assert document["cluster"] == "edge"
    assert document["hosts"] == ["cp1", "lin1", "win1"]
    assert document["kubernetesVersion"] == default_kubernetes_version()
    assert "WINRM_PASSWORD" in document["environment"]
    assert document["next"][1] == "hybridctl validate -i inventory.yaml"


def test_default_version_comes_from_the_version_table_and_is_supported() -> None:
    assert KubeVersion.parse(default_kubernetes_version()).supported


def test_bad_counts_and_names_are_usage_errors(tmp_path: Path) -> None:
    for args in (("--linux-workers", "-1"), ("--windows-workers", "51"), ("--name", "Bad_Name")):
        result = cli(tmp_path, "init", *args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "inventory.yaml").exists()
