"""Check PowerShell text without PowerShell: tree-sitter-powershell syntax trees.

Real: the tree-sitter PowerShell grammar. Not covered: runtime behaviour on Windows. The grammar does not
know that PowerShell also ends single-quoted strings at the Unicode quotes U+2018..U+201B; callers that
care (the quoting tests) check those separately.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import tree_sitter
import tree_sitter_powershell

PS7_ONLY_NODES = {"pipeline_chain_tail"}  # '&&' and '||' chains; '??' and '?:' already fail to parse


@lru_cache(maxsize=1)
def _parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def parse(script: str) -> tree_sitter.Tree:
    """The syntax tree of ``script``."""
    return _parser().parse(script.encode("utf-8"))


def _walk(node: tree_sitter.Node):  # type: ignore[no-untyped-def]
    yield node
    for child in node.children:
        yield from _walk(child)


def walk(node: tree_sitter.Node):  # type: ignore[no-untyped-def]
    """Every node below ``node`` (itself first), depth first."""
    yield from _walk(node)


def problems(script: str) -> list[str]:
    """Syntax errors and Windows PowerShell 5.1 incompatibilities; empty when the script is fine."""
    found: list[str] = []
    for node in _walk(parse(script).root_node):
        row, col = node.start_point
        where = f"line {row + 1} column {col + 1}"
        if node.type == "ERROR" or node.is_missing:
            found.append(f"{where}: syntax error near {node.text.decode(errors='replace')[:40]!r}")
        elif node.type in PS7_ONLY_NODES:
            found.append(f"{where}: '&&'/'||' pipeline chains need PowerShell 7")
        elif node.type == "try_statement" and not any(
            c.type in ("catch_clauses", "catch_clause", "finally_clause") for c in node.children
        ):
            found.append(f"{where}: try without catch or finally")
    found += _here_string_problems(script)
    return found


def _here_string_problems(script: str) -> list[str]:
    found = []
    for number, line in enumerate(script.splitlines(), 1):
        stripped = line.strip()
        if stripped in ("'@", '"@') and not line.startswith(stripped):
            found.append(f"line {number}: here-string terminator must start at column 1")
    return found


def string_value(node: tree_sitter.Node) -> str:
    """The value of a single-quoted literal node (``'it''s'`` -> ``it's``)."""
    text = node.text.decode("utf-8")
    if len(text) < 2 or text[0] != "'" or text[-1] != "'":
        raise ValueError(f"not a single-quoted literal: {text!r}")
    return re.sub(r"(['\u2018\u2019\u201a\u201b])\1", r"\1", text[1:-1])


def single_quoted_literals(script: str) -> list[str]:
    """Values of every single-quoted (verbatim) string literal, in order."""
    return [
        string_value(node)
        for node in _walk(parse(script).root_node)
        if node.type == "string_literal" and node.text.startswith(b"'")
    ]


@dataclass
class Invocation:
    """A command call found in a script: ``name -Param value ...``."""

    name: str
    parameters: dict[str, str | None] = field(default_factory=dict)
    line: int = 0

    def literal(self, parameter: str) -> str:
        """The single-quoted literal value passed to ``parameter``."""
        value = self.parameters.get(parameter)
        if value is None or not value.startswith("'"):
            raise KeyError(f"{self.name} has no literal -{parameter}")
        return re.sub(r"(['\u2018\u2019\u201a\u201b])\1", r"\1", value[1:-1])


def invocations(script: str, name: str | None = None) -> list[Invocation]:
    """Every command invocation (optionally only of ``name``), with its parameters' source text."""
    found = []
    for node in _walk(parse(script).root_node):
        if node.type != "command":
            continue
        inv = _invocation(node)
        if name is None or inv.name.lower() == name.lower():
            found.append(inv)
    return found


def _invocation(node: tree_sitter.Node) -> Invocation:
    name_node = node.child_by_field_name("command_name")
    inv = Invocation(name_node.text.decode() if name_node else "", line=node.start_point[0] + 1)
    elements = node.child_by_field_name("command_elements")
    pending: str | None = None
    for child in elements.children if elements else []:
        if child.type == "command_argument_sep":
            continue
        if child.type == "command_parameter":
            pending = child.text.decode().lstrip("-").split(":", 1)[0]
            inv.parameters[pending] = None
        elif pending is not None:
            inv.parameters[pending] = child.text.decode()
            pending = None
    return inv
