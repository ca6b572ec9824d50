"""Unit tier: reading YAML with positions, and what happens to files that are not a usable YAML mapping.

Real: ruamel.yaml parsing, the loader, files on disk (pytest's tmp_path). Simulated: nothing.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridctl.inventory.load import load_inventory
from hybridctl.inventory.yamlsource import YamlSyntaxError, parse_yaml
from tests.inventory.helpers import EXAMPLE_TEXT, TEST_ENV, edit, load


def test_positions_are_one_based_for_keys_items_and_flow_mappings() -> None:
    document = parse_yaml("a: 1\nlist:\n  - x\n  - {k: v, w: z}\n")
    assert document.positions.table[("a",)] == (1, 1)
    assert document.positions.table[("list", 1)] == (4, 5)
    assert document.positions.table[("list", 1, "w")] == (4, 12)
    assert document.positions.find(("list", 1, "w", "deeper")) == (4, 12)


def test_merge_keys_and_anchors_are_supported() -> None:
    text = edit(
        EXAMPLE_TEXT,
        "    - name: cp1\n",
        "    - name: cp1\n      labels: &pool {example.com/pool: general}\n",
    )
    text = edit(text, "      labels:\n        example.com/pool: general\n", "      labels: *pool\n")
    text = edit(
        text, "      winrm:\n        user: Administrator", "      winrm: &winrm\n        user: Administrator"
    )
    second = "      winrm:\n        user: Administrator\n        password: ${env:WINRM_PASSWORD}\n"
    text = edit(
        text,
        second + "        # caBundle",
        "      winrm:\n        <<: *winrm\n        port: 5986\n        # caBundle",
    )
    result = load(text)
    assert result.errors == []
    cluster = result.require()
    assert cluster.hosts[0].labels == cluster.hosts[1].labels == {"example.com/pool": "general"}
    assert cluster.hosts[3].winrm is not None and cluster.hosts[3].winrm.port == 5986
    assert cluster.hosts[3].winrm.user == "Administrator"


def test_a_problem_in_a_merged_key_points_at_the_mapping_that_merges_it() -> None:
    text = "base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n"
    document = parse_yaml(text)
    assert document.data["m"] == {"y": 2, "x": 1}
    assert document.positions.find(("m", "x")) == (2, 1)


def test_an_alias_bomb_is_refused_quickly_with_a_clear_message() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]" for n in range(1, 9)]
    with pytest.raises(YamlSyntaxError) as caught:
        parse_yaml("\n".join(lines) + "\n")
    assert "too large" in caught.value.message


def test_deep_nesting_is_refused_not_a_crash() -> None:
    problems = load("a: " + "[" * 500 + "]" * 500 + "\n").problems
    assert len(problems) == 1 and "not valid YAML" in problems[0].message


def test_a_reused_anchor_is_valid_yaml_and_prints_no_python_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_yaml("a: &x 1\nb: &x 2\nc: *x\n").data == {"a": 1, "b": 2, "c": 2}


def test_several_documents_in_one_file_are_refused_at_the_second() -> None:
    problems = load(EXAMPLE_TEXT + "---\nkind: Other\n").problems
    assert [(p.line, p.message) for p in problems] == [
        (len(EXAMPLE_TEXT.splitlines()) + 1, "not valid YAML: but found another document")
    ]


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + EXAMPLE_TEXT.encode())
    assert load_inventory(path, TEST_ENV).errors == []


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(EXAMPLE_TEXT.replace("name: example", "name: caf\u00e9").encode("latin-1"))
    [problem] = load_inventory(path, TEST_ENV).problems
    assert (problem.line, problem.message) == (7, "the file is not UTF-8 text")


def test_an_empty_file_is_one_clear_problem(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    result = load_inventory(path, TEST_ENV)
    assert [str(p) for p in result.problems] == [
        f"{path}: error: the inventory file is empty\n    hint: start from inventories/example.yaml"
    ]
    assert result.cluster is None


def test_a_missing_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    result = load_inventory(tmp_path / "nope.yaml", TEST_ENV)
    assert [p.message for p in result.problems] == ["the inventory file does not exist"]
    assert result.cluster is None


def test_a_directory_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    assert [p.message for p in load_inventory(tmp_path, TEST_ENV).problems] == [
        "this is a directory, not an inventory file"
    ]


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_gives_problems_never_an_exception(text: str) -> None:
    for problem in load(text).problems:
        assert str(problem) and problem.to_json()["severity"] in ("error", "warning")


_LINES = EXAMPLE_TEXT.splitlines()
_EDITS = st.lists(
    st.tuples(
        st.sampled_from(["delete", "repeat", "indent", "dedent", "insert"]),
        st.integers(0, len(_LINES) - 1),
        st.sampled_from(["- a", "{", "[]", "x: ~", "? a", "*a", "&a b", ": :"]),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(edits=_EDITS)
def test_a_mangled_example_gives_problems_never_an_exception(edits: list[tuple[str, int, str]]) -> None:
    lines = list(_LINES)
    for kind, index, junk in edits:
        at = index % len(lines)
        if kind == "delete" and len(lines) > 1:
            del lines[at]
        elif kind == "repeat":
            lines.insert(at, lines[at])
        elif kind == "indent":
            lines[at] = "  " + lines[at]
        elif kind == "dedent":
            lines[at] = lines[at].removeprefix("  ")
        else:
            lines.insert(at, junk)
    result = load("\n".join(lines) + "\n")
    assert all(p.file == "inv.yaml" for p in result.problems)
