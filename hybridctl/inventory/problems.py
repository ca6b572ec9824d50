"""A problem found in an inventory: where it is, what is wrong, what to do."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

Path = tuple[str | int, ...]
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class Severity(StrEnum):
    """Errors fail validation; warnings do not."""

    ERROR = "error"
    WARNING = "warning"


def format_path(path: Path) -> str:
    """``('spec', 'hosts', 2, 'labels', 'example.com/x')`` -> ``spec.hosts[2].labels["example.com/x"]``."""
    out = ""
    for part in path:
        if isinstance(part, str) and _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            # Keys with dots, slashes or control characters are quoted so the path stays one readable line.
            out += f"[{json.dumps(part)}]"
    return out or "(document)"


@dataclass(frozen=True)
class Problem:
    """One finding, with its location in the inventory file."""

    severity: Severity
    path: Path
    message: str
    hint: str | None = None
    file: str = ""
    line: int | None = None
    column: int | None = None

    @property
    def is_error(self) -> bool:
        """True when the problem fails validation."""
        return self.severity is Severity.ERROR

    def located(self, file: str, line: int | None, column: int | None) -> Problem:
        """A copy with its file position filled in."""
        return replace(self, file=file, line=line, column=column)

    def masked(self, mask: Callable[[str], str]) -> Problem:
        """A copy with ``mask`` applied to the message and the hint (secrets never reach the user)."""
        hint = mask(self.hint) if self.hint is not None else None
        return replace(self, message=mask(self.message), hint=hint)

    def __str__(self) -> str:
        where = self.file or "<inventory>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        # A problem with the whole file (empty, unreadable, not YAML) has no field path to name.
        field = f"{format_path(self.path)}: " if self.path else ""
        text = f"{where}: {self.severity.value}: {field}{self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text

    def to_json(self) -> dict[str, Any]:
        """Machine-readable form for ``--output json``."""
        return {
            "severity": self.severity.value,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": format_path(self.path),
            "message": self.message,
            "hint": self.hint,
        }


def error(path: Path, message: str, hint: str | None = None) -> Problem:
    """An error at ``path``."""
    return Problem(Severity.ERROR, path, message, hint)


def warning(path: Path, message: str, hint: str | None = None) -> Problem:
    """A warning at ``path``."""
    return Problem(Severity.WARNING, path, message, hint)


def in_document_order(problems: Iterable[Problem]) -> list[Problem]:
    """``problems`` sorted by line and column; ties keep the order they were found in."""
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))
