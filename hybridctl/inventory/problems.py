"""A problem found in an inventory: where it is, what is wrong, what to do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Path = tuple[str | int, ...]


class Severity(StrEnum):
    """Errors fail validation; warnings do not."""

    ERROR = "error"
    WARNING = "warning"


def format_path(path: Path) -> str:
    """``('spec', 'hosts', 2, 'name')`` -> ``spec.hosts[2].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
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
        return Problem(self.severity, self.path, self.message, self.hint, file, line, column)

    def __str__(self) -> str:
        where = self.file or "<inventory>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.severity.value}: {format_path(self.path)}: {self.message}"
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
