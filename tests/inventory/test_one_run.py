"""Unit tier: one run reports every problem of a file, schema errors and semantic errors together.

Real: YAML parsing, schema validation, the repair of the data around schema errors, the semantic checks
and positions. Simulated: nothing (environment variables come from a test mapping).
"""

from __future__ import annotations

from hybridctl.inventory.problems import Severity
from tests.inventory.helpers import EXAMPLE_TEXT, edit, load

HA_TEXT = EXAMPLE_TEXT.replace(
    "podSubnet: 10.244.0.0/16", "podSubnet: 10.244.0.0/16\n    controlPlaneEndpoint: api:6443"
)


def _line_of(text: str, fragment: str) -> int:
    """1-based number of the line that contains ``fragment``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def _summary(text: str) -> list[tuple[int | None, str, str]]:
    return [(p.line, p.severity.value, p.message) for p in load(text).problems]


def test_schema_and_semantic_errors_come_out_together_in_document_order() -> None:
    text = edit(
        EXAMPLE_TEXT, "dnsDomain: cluster.local", "dnsDomain: cluster.local\n    podSubnett: 10.0.0.0/8"
    )
    text = edit(text, "address: 192.168.10.22", "address: 192.168.10.21")
    text = edit(text, "name: win1", "name: Win1")
    text = edit(text, "    mode: routes", "    mode: vxlan\n    mtu: 1450")
    result = load(text)
    found = [(p.line, str(p.path[-1]), p.severity) for p in result.problems]
    assert found == [
        (_line_of(text, "podSubnett"), "podSubnett", Severity.ERROR),
        (_line_of(text, "mtu:"), "mtu", Severity.ERROR),
        (_line_of(text, "name: Win1"), "name", Severity.ERROR),
        (_line_of(text, "address: 192.168.10.21") + 9, "address", Severity.ERROR),
        (_line_of(text, "checksums:"), "checksums", Severity.ERROR),  # vxlan: flanneld.exe must be pinned
    ]
    assert result.cluster is None


def test_positions_stay_right_after_a_broken_host_is_set_aside() -> None:
    text = edit(HA_TEXT, "role: control-plane", "role: master")
    text = edit(text, "address: 192.168.10.22", "address: 192.168.10.21")
    result = load(text)
    by_field = {p.path: p for p in result.problems}
    role = by_field[("spec", "hosts", 0, "role")]
    duplicate = by_field[("spec", "hosts", 3, "address")]
    assert role.line == _line_of(text, "role: master")
    assert "did you mean 'control-plane'" in (role.hint or "")
    assert duplicate.line == _line_of(text, "address: 192.168.10.21") + 9
    assert "already used by host 'win1'" in duplicate.message


def test_no_follow_up_errors_about_values_that_were_set_aside() -> None:
    # Without the broken host there is no control plane, but saying so would blame the wrong thing.
    text = edit(EXAMPLE_TEXT, "role: control-plane", "role: controlplane")
    text = edit(
        text,
        "      winrm:\n        user: Administrator\n        password: ${env:WINRM_PASSWORD}",
        "      winrm:\n        user: [Administrator]\n        password: ${env:WINRM_PASSWORD}",
    )
    messages = [p.message for p in load(text).problems]
    assert len(messages) == 2, messages
    assert not any("control-plane" in m and "no host" in m for m in messages)
    assert not any("needs a user" in m for m in messages)


def test_semantic_checks_run_even_when_the_top_level_is_wrong() -> None:
    text = edit(EXAMPLE_TEXT, "apiVersion: hybridctl.io/v1alpha1", "apiVersion: hybridctl.io/v1")
    text = edit(text, "serviceSubnet: 10.96.0.0/12", "serviceSubnet: 10.244.0.0/12")
    summary = _summary(text)
    assert [line for line, _, _ in summary] == [_line_of(text, "apiVersion"), _line_of(text, "serviceSubnet")]
    assert "has host bits set" in summary[1][2]


def test_a_missing_required_section_still_lets_the_hosts_be_checked() -> None:
    text = edit(EXAMPLE_TEXT, "metadata:\n  name: example\n", "")
    text = edit(text, "name: win2", "name: win-2-with-a-long-name")
    summary = _summary(text)
    assert summary[0][2] == "required field 'metadata' is missing"
    assert "longer than 15 characters" in summary[1][2]
    assert summary[1][0] == _line_of(text, "win-2-with-a-long-name")


def test_an_unset_variable_is_reported_once_not_again_as_an_empty_password() -> None:
    summary = _summary(EXAMPLE_TEXT.replace("${env:WINRM_PASSWORD}", "${env:HYBRIDCTL_TEST_UNSET}"))
    assert [m for _, _, m in summary] == ["environment variable HYBRIDCTL_TEST_UNSET is not set"] * 2


def test_an_unset_variable_in_a_number_field_is_not_also_a_type_error() -> None:
    text = edit(
        EXAMPLE_TEXT,
        "caBundle: ./winrm-ca.pem",
        "caBundle: ./winrm-ca.pem\n        port: ${env:HYBRIDCTL_TEST_UNSET}",
    )
    assert [m for _, _, m in _summary(text)] == ["environment variable HYBRIDCTL_TEST_UNSET is not set"]


def test_warnings_and_errors_are_both_listed_and_only_errors_fail() -> None:
    text = edit(EXAMPLE_TEXT, "isolation: [process]", "isolation: [process, hyperv]")
    result = load(text)
    assert [p.severity for p in result.problems] == [Severity.WARNING]
    assert result.errors == [] and result.require()
    broken = load(edit(text, "version: 1.37.2", "version: 1.20.0"))
    assert [p.severity for p in broken.problems] == [Severity.ERROR, Severity.WARNING]


def test_every_host_problem_is_reported_not_just_the_first() -> None:
    text = EXAMPLE_TEXT.replace("address: 192.168.10.", "address: 10.244.10.")
    summary = _summary(text)
    assert len(summary) == 4
    assert all("inside the pod subnet" in m for _, _, m in summary)
