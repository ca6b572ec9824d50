"""Read YAML into plain data while remembering the line and column of every key and item."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from hybridctl.inventory.problems import Path, Problem, error


@dataclass
class Positions:
    """1-based (line, column) of every mapping key and sequence item, by data path."""

    table: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def find(self, path: Path) -> tuple[int | None, int | None]:
        """Position of ``path`` or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            pos = self.table.get(tuple(path[:end]))
            if pos is not None:
                return pos
        return None, None

    def locate(self, problem: Problem, file: str) -> Problem:
        """``problem`` with its file, line and column filled in."""
        line, column = self.find(problem.path)
        return problem.located(file, line, column)


@dataclass
class Document:
    """A parsed YAML document: plain data plus positions."""

    data: Any
    positions: Positions


def _plain(node: Any, path: Path, positions: Positions) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            line, col = node.lc.key(key)
            positions.table[(*path, key)] = (line + 1, col + 1)
            out[key] = _plain(value, (*path, key), positions)
        return out
    if isinstance(node, CommentedSeq):
        items: list[Any] = []
        for index, value in enumerate(node):
            line, col = node.lc.item(index)
            positions.table[(*path, index)] = (line + 1, col + 1)
            items.append(_plain(value, (*path, index), positions))
        return items
    if isinstance(node, str):
        return str(node)
    return node


def parse_yaml(text: str) -> Document:
    """Parse one YAML document; raises ``YamlSyntaxError`` with a position."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        node = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise YamlSyntaxError(str(exc.problem or exc.context or "invalid YAML"), line, column) from exc
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. duplicate keys in some versions)
        raise YamlSyntaxError(str(exc).splitlines()[0], None, None) from exc
    positions = Positions({(): (1, 1)})
    return Document(_plain(node, (), positions), positions)


class YamlSyntaxError(Exception):
    """The file is not well-formed YAML."""

    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def problem(self, file: str) -> Problem:
        """This error as an inventory problem."""
        return error((), f"not valid YAML: {self.message}").located(file, self.line, self.column)


def read_text(path: FsPath) -> str:
    """The file's text as UTF-8."""
    return path.read_text(encoding="utf-8")
