"""Find the templates shipped with hybridctl: inside the wheel, or beside the package in a source checkout."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from hybridctl.errors import HybridctlError

_PACKAGE_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def templates_dir() -> Path:
    """The directory holding ``linux/``, ``windows/`` and ``cluster/`` templates."""
    for candidate in (_PACKAGE_DIR / "templates", _PACKAGE_DIR.parent / "templates"):
        if (candidate / "windows").is_dir():
            return candidate
    raise HybridctlError(f"hybridctl's templates are missing (looked in {_PACKAGE_DIR}); reinstall hybridctl")


def powershell_script(name: str) -> str:
    """The constant PowerShell script ``templates/windows/scripts/<name>.ps1`` (identity ``name``)."""
    path = templates_dir() / "windows" / "scripts" / f"{name}.ps1"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HybridctlError(f"hybridctl's PowerShell script {name!r} is missing ({path})") from None
