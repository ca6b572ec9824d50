"""The --assume file (RuntimeValues.load) and the checks of runtime values against the inventory.

Tier: render. Real: ruamel.yaml through hybridctl's YAML reader, pydantic SecretStr. Simulated: nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridctl.errors import RenderError, UsageError
from hybridctl.render import RuntimeValues, render_all
from tests.render import helpers

HEADER = "apiVersion: hybridctl.io/v1alpha1\nkind: RuntimeValues\n"


def _load(tmp_path: Path, body: str) -> RuntimeValues:
    path = tmp_path / "assume.yaml"
    path.write_text(HEADER + body, encoding="utf-8")
    return RuntimeValues.load(path)


def test_sample_files_load() -> None:
    values = helpers.assume("ha-vxlan")
    assert values.pod_cidrs["win2025"] == "10.244.6.0/24"
    assert values.secret("bootstrap_token") == "7k3m9q.x2v8b4n6p0r5t1w7"
    assert "7k3m9q" not in repr(values)  # secrets stay masked in reprs and logs
    assert values.source_vips == {"win2019": "10.244.4.2", "win2022": "10.244.5.2", "win2025": "10.244.6.2"}


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    body = (
        "podCIDRs:\n"
        "  cp1: 10.244.0.1/24\n"  # line 4: host bits set
        "bootstrapToken: nope\n"  # line 5
        "caCertHash: sha256:xyz\n"  # line 6
        "podCidrs: {}\n"  # line 7: unknown key (case matters)
        "windowsBuilds:\n"
        "  win1: 2022\n"  # line 9: not a string
    )
    with pytest.raises(UsageError) as caught:
        _load(tmp_path, body)
    message = caught.value.message
    assert ":4:" in message and "podCIDRs.cp1" in message
    assert ":5:" in message and "bootstrapToken" in message
    assert ":6:" in message and "caCertHash" in message
    assert ":7:" in message and "unknown key 'podCidrs'" in message
    assert ":9:" in message and "must be a string" in message


def test_header_is_required(tmp_path: Path) -> None:
    path = tmp_path / "assume.yaml"
    path.write_text("kind: Other\npodCIDRs: {}\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"apiVersion: must be 'hybridctl\.io/v1alpha1'"):
        RuntimeValues.load(path)


def test_yaml_errors_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"assume\.yaml:4:\d+: not valid YAML"):
        _load(tmp_path, "podCIDRs: [\n")
    with pytest.raises(UsageError, match="cannot read"):
        RuntimeValues.load(tmp_path / "missing.yaml")
    with pytest.raises(UsageError, match=r"duplicate"):
        _load(tmp_path, "bootstrapToken: abcdef.0123456789abcdef\nbootstrapToken: abcdef.0123456789abcdef\n")


def test_empty_file_means_all_placeholders(tmp_path: Path) -> None:
    assert _load(tmp_path, "") == RuntimeValues()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (RuntimeValues(pod_cidrs={"nope": "10.244.0.0/24"}), "host 'nope' is not in the inventory"),
        (RuntimeValues(pod_cidrs={"cp1": "10.99.0.0/24"}), "outside the pod subnet"),
        (RuntimeValues(pod_cidrs={"cp1": "10.244.0.0/25"}), "is not a /24"),
        (RuntimeValues(pod_cidrs={"cp1": "10.244.0.0/24", "lin1": "10.244.0.0/24"}), "given to both"),
        (
            RuntimeValues(pod_cidrs={"win1": "10.244.2.0/24"}, source_vips={"win1": "10.244.3.2"}),
            "outside its pod CIDR",
        ),
        (RuntimeValues(windows_builds={"cp1": "10.0.20348"}), "is a Linux host"),
    ],
)
def test_values_that_contradict_the_inventory(values: RuntimeValues, message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render_all(helpers.inventory("example"), values)


def test_assume_format_doc_matches_the_loader() -> None:
    doc = (helpers.HERE / "ASSUME_FORMAT.md").read_text(encoding="utf-8")
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    values = RuntimeValues.from_text(block, "ASSUME_FORMAT.md")
    assert values.pod_cidrs and values.windows_builds and values.source_vips
