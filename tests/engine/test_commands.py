"""Commands as values and the one quoting module: property tests for POSIX and PowerShell quoting.

Tier: unit. Real: shlex, /bin/sh (dash on Debian) executing rendered command lines, and the
tree-sitter PowerShell grammar reading quoted literals back. Simulated: nothing. tree-sitter does not
know that PowerShell also ends single-quoted strings at U+2018..U+201B; ``string_value`` reads doubled
ones back, and a separate test pins that ps_quote doubles them.
"""

from __future__ import annotations

import shlex
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridctl.commands import posix, powershell, ps_quote, script_identity, sh_quote, shell
from tests.support.powershell import parse, problems, single_quoted_literals

# Everything a word may hold on a POSIX system except NUL (argv entries are C strings).
words = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)
argvs = st.lists(words, min_size=1, max_size=6)
ps_text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=60)


@given(argvs, st.booleans())
def test_any_argv_survives_rendering_and_shlex_split(argv: list[str], sudo: bool) -> None:
    command = posix(*argv).as_root(sudo)
    expected = ["sudo", "-n", "--", *argv] if sudo else argv
    assert shlex.split(command.render()) == expected


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(argvs)
def test_a_real_shell_receives_exactly_the_arguments(argv: list[str]) -> None:
    command = shell('printf "%s\\0" "$@"', *argv)
    out = subprocess.run(["/bin/sh", "-c", command.render()], capture_output=True, check=True).stdout
    assert out.decode("utf-8", "surrogateescape").split("\0")[:-1] == argv


@given(words)
def test_environment_values_are_quoted_too(value: str) -> None:
    command = posix("true", env={"HYBRIDCTL_X": value})
    assert shlex.split(command.render()) == ["env", f"HYBRIDCTL_X={value}", "true"]


def test_invalid_environment_names_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid environment variable name"):
        posix("true", env={"A;rm -rf /": "x"})


def test_empty_commands_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one argument"):
        posix()


@settings(max_examples=300, deadline=None)
@given(ps_text)
def test_any_string_survives_powershell_single_quoting(value: str) -> None:
    script = f"$value = {ps_quote(value)}\nWrite-Output $value\n"
    assert problems(script) == []
    assert single_quoted_literals(script) == [value]


@pytest.mark.parametrize("quote", ["'", "\u2018", "\u2019", "\u201a", "\u201b"])
def test_every_character_powershell_ends_a_quote_at_is_doubled(quote: str) -> None:
    assert ps_quote(f"a{quote}b") == f"'a{quote}{quote}b'"


@pytest.mark.parametrize(
    "hostile", ["$(Remove-Item C:\\)", "`n`r", "'; Stop-Computer; '", "@'\nx\n'@", "${env:PATH}"]
)
def test_hostile_strings_stay_data_in_powershell(hostile: str) -> None:
    script = f"$x = {ps_quote(hostile)}\n"
    tree = parse(script)
    kinds = {node.type for node in _walk(tree.root_node)}
    assert "sub_expression" not in kinds and "command" not in kinds
    assert single_quoted_literals(script) == [hostile]


def _walk(node):  # type: ignore[no-untyped-def]
    yield node
    for child in node.children:
        yield from _walk(child)


def test_sh_quote_is_shlex_quote() -> None:
    assert sh_quote("a b'c") == shlex.quote("a b'c")


def test_powershell_commands_carry_parameters_as_data_and_mask_secrets() -> None:
    script = "# hybridctl-script: win/example\nparam([string]$Token)\n"
    command = powershell(script, {"Token": "abc.def-secret", "Name": "x'y"}, secrets=["Token"])
    assert command.name == "win/example"
    assert "abc.def-secret" not in command.describe()
    assert "abc.def-secret" not in repr(command)
    assert command.parameters == (("Token", "abc.def-secret"), ("Name", "x'y"))
    assert command.script == script


def test_scripts_need_an_identity() -> None:
    with pytest.raises(ValueError, match="hybridctl-script"):
        script_identity("param()\n")
