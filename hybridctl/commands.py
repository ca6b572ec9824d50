"""Remote commands as values, and the one place that quotes them (POSIX shell and PowerShell).

A POSIX command is an argv tuple, rendered with ``shlex.join`` and optionally wrapped in ``sudo -n --``.
A PowerShell command is a constant script plus parameters passed as data (pypsrp ``add_parameter``);
``ps_quote`` exists for the rare file that must carry a literal, such as a rendered route script.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

PsValue: TypeAlias = "str | int | bool | float | list[PsValue] | dict[str, PsValue] | None"

# PowerShell ends a single-quoted string at any of these, so each is doubled inside one.
_PS_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_PS_QUOTE_RE = re.compile(f"([{_PS_SINGLE_QUOTES}])")
_SCRIPT_ID_RE = re.compile(r"^# hybridctl-script: ([a-z0-9/._-]+)$", re.MULTILINE)


def sh_quote(value: str) -> str:
    """Quote one word for a POSIX shell."""
    return shlex.quote(value)


def ps_quote(value: str) -> str:
    """Quote a string as a PowerShell single-quoted literal: no expansion of ``$``, backticks or ``$()``."""
    return "'" + _PS_QUOTE_RE.sub(r"\1\1", value) + "'"


@dataclass(frozen=True)
class PosixCommand:
    """An argv to run through ``sh -c`` on a Linux host."""

    argv: tuple[str, ...]
    sudo: bool = False
    probe: bool = False
    stdin: bytes | None = field(default=None, repr=False)
    env: tuple[tuple[str, str], ...] = ()
    sensitive: bool = False
    """Its output may hold credentials: transports keep its stdout out of the logs."""

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("a command needs at least one argument")
        for name, _ in self.env:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"invalid environment variable name {name!r}")

    def render(self) -> str:
        """The command line the remote shell receives."""
        words = [f"{name}={value}" for name, value in self.env]
        argv = (*(("env", *words) if words else ()), *self.argv)
        if self.sudo:
            argv = ("sudo", "-n", "--", *argv)
        return shlex.join(argv)

    def as_root(self, sudo: bool) -> PosixCommand:
        """The same command, wrapped in sudo when ``sudo`` is true."""
        return dataclasses.replace(self, sudo=sudo)

    def __str__(self) -> str:
        return self.render()


def posix(
    *argv: str,
    probe: bool = False,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    sensitive: bool = False,
) -> PosixCommand:
    """Build a POSIX command from arguments."""
    pairs = tuple((env or {}).items())
    return PosixCommand(tuple(argv), probe=probe, stdin=stdin, env=pairs, sensitive=sensitive)


def shell(script: str, *args: str, probe: bool = False, stdin: bytes | None = None) -> PosixCommand:
    """A constant ``sh -c`` script whose variable parts arrive as positional parameters ``$1``..."""
    return PosixCommand(("sh", "-c", script, "hybridctl", *args), probe=probe, stdin=stdin)


@dataclass(frozen=True, repr=False)
class PsCommand:
    """A constant PowerShell script with a ``param()`` block, plus parameter values passed as data."""

    script: str
    parameters: tuple[tuple[str, PsValue], ...] = ()
    probe: bool = False
    secret_parameters: frozenset[str] = frozenset()
    sensitive: bool = False
    """Its output may hold credentials: transports keep its stdout out of the logs."""

    @property
    def name(self) -> str:
        """The script's stable identity (its ``# hybridctl-script:`` header line)."""
        return script_identity(self.script)

    def with_parameters(self, values: Mapping[str, PsValue]) -> PsCommand:
        """The same script with more parameters."""
        return dataclasses.replace(self, parameters=(*self.parameters, *values.items()))

    def describe(self) -> str:
        """A log line for the command, with secret parameters masked."""
        shown = ", ".join(
            f"{name}=***" if name in self.secret_parameters else f"{name}={value!r}"
            for name, value in self.parameters
        )
        return f"{self.name}({shown})"

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return f"PsCommand({self.describe()})"


def powershell(
    script: str,
    params: Mapping[str, PsValue] | None = None,
    *,
    probe: bool = False,
    secrets: Iterable[str] = (),
) -> PsCommand:
    """Build a PowerShell command from a constant script and parameter values."""
    return PsCommand(script, tuple((params or {}).items()), probe, frozenset(secrets))


def script_identity(script: str) -> str:
    """The ``# hybridctl-script: NAME`` of a script; ValueError if it has none."""
    match = _SCRIPT_ID_RE.search(script)
    if not match:
        raise ValueError("PowerShell script has no '# hybridctl-script: NAME' header")
    return match.group(1)


Command = PosixCommand | PsCommand
