"""The environment a command runs in: options, output streams and consoles (no globals)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

if TYPE_CHECKING:
    from rich.console import Console

OutputFormat = Literal["human", "json"]
DEFAULT_INVENTORY = "inventory.yaml"
INVENTORY_ENV = "HYBRIDCTL_INVENTORY"


@dataclass
class AppEnv:
    """Options every command shares, plus where its output goes."""

    inventory: Path | None = None
    output: OutputFormat = "human"
    verbose: bool = False
    color: bool = True
    debug: bool = False
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    @property
    def json(self) -> bool:
        """True when machine-readable output was asked for."""
        return self.output == "json"

    def inventory_path(self) -> Path:
        """``-i``, else ``$HYBRIDCTL_INVENTORY``, else ``./inventory.yaml``."""
        if self.inventory is not None:
            return self.inventory
        return Path(os.environ.get(INVENTORY_ENV) or DEFAULT_INVENTORY)

    @cached_property
    def out(self) -> Console:
        """Console for results (stdout)."""
        return self._console(self.stdout)

    @cached_property
    def err(self) -> Console:
        """Console for messages, progress and errors (stderr)."""
        return self._console(self.stderr)

    def _console(self, stream: TextIO) -> Console:
        from rich.console import Console

        return Console(file=stream, no_color=not self.color, highlight=False, soft_wrap=True)
