"""Unit tier: schema errors read like advice (did-you-mean, quoting hints), and the repair keeps paths right.

Real: pydantic validation of the real models, the message builder, the repair. Simulated: nothing.
"""

from __future__ import annotations

import pytest

from hybridctl.inventory.models import Cluster
from hybridctl.inventory.schema_errors import Repair, known_keys, validate_repaired
from hybridctl.versions import DEFAULT_VERSION
from tests.inventory.helpers import EXAMPLE_TEXT, edit, example_data, load


def _first(text: str) -> tuple[str, str, str | None]:
    problem = load(text).problems[0]
    return str(problem.path[-1]) if problem.path else "", problem.message, problem.hint


@pytest.mark.parametrize(
    ("old", "new", "suggestion"),
    [
        ("apiVersion:", "apiversion:", "apiVersion"),
        ("metadata:", "metdata:", "metadata"),
        ("serviceSubnet:", "service_subnet:", "serviceSubnet"),
        ("dnsDomain:", "DNSDomain:", "dnsDomain"),
        ("windowsVersion:", "windowsversion:", "windowsVersion"),
        ("isolation:", "Isolation:", "isolation"),
        ("pauseImage:", "pauseimage:", "pauseImage"),
    ],
)
def test_an_unknown_key_suggests_the_key_meant(old: str, new: str, suggestion: str) -> None:
    key, message, hint = _first(edit(EXAMPLE_TEXT, old, new))
    assert (key, message, hint) == (new[:-1], f"unknown key '{new[:-1]}'", f"did you mean '{suggestion}'?")


def test_an_unknown_key_without_a_near_miss_lists_the_known_keys() -> None:
    _, message, hint = _first(edit(EXAMPLE_TEXT, "    mode: routes", "    mode: routes\n    flavour: calico"))
    assert message == "unknown key 'flavour'"
    assert hint == "known keys: mode"


@pytest.mark.parametrize(
    ("old", "new", "hint"),
    [
        ("role: control-plane", "role: master", "did you mean 'control-plane'?"),
        ("os: windows", "os: Windows", "did you mean 'windows'?"),
        ("mode: routes", "mode: vxln", "did you mean 'vxlan'?"),
        ("isolation: [process]", "isolation: [proces]", "did you mean 'process'?"),
    ],
)
def test_a_value_outside_a_fixed_set_suggests_the_value_meant(old: str, new: str, hint: str) -> None:
    _, message, shown = _first(edit(EXAMPLE_TEXT, old, new))
    assert message.startswith("must be ")
    assert shown == hint


@pytest.mark.parametrize(
    ("value", "hinted"), [("1.34", True), ("true", True), ("null", True), ("[1, 2]", False)]
)
def test_a_non_text_value_where_text_is_expected_hints_at_quoting(value: str, hinted: bool) -> None:
    _, message, hint = _first(edit(EXAMPLE_TEXT, "version: 1.37.2", f"version: {value}"))
    assert message == "must be text (a string)"
    assert (hint is not None and "quotes" in hint) is hinted


def test_type_errors_say_what_is_expected() -> None:
    text = edit(EXAMPLE_TEXT, "windowsVersion: 2022", "windowsVersion: twentytwo")
    text = edit(text, "  network:\n    mode: routes", "  network: routes")
    text = edit(text, "isolation: [process]", "isolation: process")
    messages = [p.message for p in load(text).problems]
    assert messages == ["must be a mapping of keys to values", "must be a list", "must be a whole number"]


def test_a_host_that_is_not_a_mapping_does_not_stop_the_other_hosts_being_checked() -> None:
    text = edit(EXAMPLE_TEXT, "    - name: lin1\n", "    - lin1\n    - name: lin1\n")
    text = edit(text, "name: win2", "name: WIN2")
    problems = load(text).problems
    assert [(p.path, p.message.split(" ")[0]) for p in problems] == [
        (("spec", "hosts", 1), "must"),
        (("spec", "hosts", 4, "name"), "Windows"),
    ]


def test_known_keys_follow_lists_and_optional_blocks() -> None:
    assert "privateKeyFile" in known_keys(Cluster, ("spec", "hosts", 3, "ssh", "bastion"))
    assert known_keys(Cluster, ("spec", "hosts", 0, "labels")) == []


def test_repaired_paths_map_back_to_the_file() -> None:
    repair = Repair(data=None, kept={("spec", "hosts"): [0, 2, 3], ("spec", "hosts", 3, "taints"): [1]})
    assert repair.original(("spec", "hosts", 2, "taints", 0, "key")) == (
        "spec",
        "hosts",
        3,
        "taints",
        1,
        "key",
    )
    assert repair.original(("spec", "hosts", 0, "name")) == ("spec", "hosts", 0, "name")


def test_repair_sets_aside_broken_items_and_drops_unknown_keys() -> None:
    data = example_data()
    data["spec"]["hosts"][1]["role"] = "boss"
    data["spec"]["hosts"][2]["winrm"]["colour"] = "blue"
    data["spec"]["kubernetes"]["version"] = 1.34
    try:
        Cluster.model_validate(data, by_alias=True, by_name=False)
    except Exception as exc:  # pydantic.ValidationError
        errors = exc.errors()  # type: ignore[attr-defined]
    repaired, repair = validate_repaired(data, Cluster, errors)
    assert repaired is not None
    assert [h.name for h in repaired.hosts] == ["cp1", "win1", "win2"]
    assert repaired.spec.kubernetes.version == DEFAULT_VERSION, "a field with a default falls back to it"
    assert sorted(repair.changed) == [("spec", "hosts", 1), ("spec", "kubernetes", "version")]
    assert repair.original(("spec", "hosts", 1, "winrm")) == ("spec", "hosts", 2, "winrm")
    assert data["spec"]["hosts"][1]["role"] == "boss", "the caller's data is not changed"
