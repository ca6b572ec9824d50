"""The support-bundle archive writer: layout, masking, partial hosts, file mode, never overwriting.

Tier: unit. Real: ``hybridctl.bundle`` writing a tar.gz to a pytest tmp_path, tarfile reading it back.
Simulated: the collected texts (the lab test tests/lab/test_day2.py collects them from running hosts).
"""

from __future__ import annotations

import stat
import tarfile
from pathlib import Path

import pytest

from hybridctl.bundle import Bundle, add_state, refuse_existing, write
from hybridctl.errors import UsageError
from hybridctl.masking import Masker


def _read(path: Path) -> dict[str, str]:
    with tarfile.open(path) as archive:
        return {
            m.name: archive.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in archive.getmembers()
        }


def test_archive_layout_masking_and_partial_hosts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "logs" / "run1").mkdir(parents=True)
    (state / "journal.jsonl").write_text('{"event": "run-start"}\n')
    (state / "logs" / "run1" / "cp1.log").write_text("cp1 $ kubectl get nodes\n")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("password: ${env:WINRM_PASSWORD}\n")
    bundle = Bundle("lab", hosts={"cp1": "complete", "w1": "partial: collect-logs: unreachable: timed out"})
    bundle.add(
        "hosts/cp1", {"routes.txt": "default via 10.0.0.1\n", "files/etc/x.conf": "password: s3cret-value\n"}
    )
    add_state(bundle, state, inventory)
    target = tmp_path / "b.tar.gz"
    write(bundle, target, Masker(["s3cret-value"]))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    files = _read(target)
    assert set(files) == {
        f"b/{name}"
        for name in (
            "README.txt",
            "manifest.json",
            "hosts/cp1/routes.txt",
            "hosts/cp1/files/etc/x.conf",
            "hybridctl/journal.jsonl",
            "hybridctl/logs/run1/cp1.log",
            "hybridctl/inventory.yaml",
        )
    }
    assert "s3cret-value" not in "".join(files.values())
    assert "w1: partial: collect-logs: unreachable: timed out" in files["b/README.txt"]
    assert '"complete": false' in files["b/manifest.json"]
    with pytest.raises(UsageError, match="File exists"):
        write(bundle, target, Masker())
    with pytest.raises(UsageError, match="never overwrites"):
        refuse_existing(target)
    with pytest.raises(UsageError, match="not a writable directory"):
        refuse_existing(tmp_path / "missing" / "b.tar.gz")
