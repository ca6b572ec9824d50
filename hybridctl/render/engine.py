"""The Jinja environment: templates from ``templates/``, StrictUndefined, quoting filters, no autoescape."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2

from hybridctl.errors import RenderError
from hybridctl.render.filters import FILTERS, finalize
from hybridctl.resources import templates_dir

UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class FileSpec:
    """A file to render: its template, where it goes on the node, and how it is handled."""

    template: str
    target: str
    purpose: str
    mode: int = 0o644
    secret: bool = False


# kind -> (mode, secret): "private" files are readable by root only but hold no credential.
_KINDS = {
    "plain": (0o644, False),
    "script": (0o755, False),
    "private": (0o600, False),
    "secret": (0o600, True),
}


def table(os_dir: str, rows: tuple[tuple[str, str, str, str], ...]) -> list[FileSpec]:
    """FileSpecs from ``(template without .j2, target, purpose, kind)`` rows under ``templates/<os_dir>``."""
    specs = []
    for name, target, purpose, kind in rows:
        mode, secret = _KINDS[kind]
        specs.append(FileSpec(f"{os_dir}/{name}.j2", target, purpose, mode, secret))
    return specs


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The shared, sandbox-free environment (templates are hybridctl's own files)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - no HTML: every value goes through a quoting filter instead
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
    )
    env.filters.update(FILTERS)
    return env


def render_text(template: str, context: dict[str, Any]) -> str:
    """Render ``template`` (a path under templates/) with ``context``."""
    try:
        return environment().get_template(template).render(context)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {exc.name} is missing; reinstall hybridctl") from exc
    except jinja2.UndefinedError as exc:
        raise RenderError(f"template {template}: {exc.message}") from exc


def encode(text: str, target: str) -> bytes:
    """UTF-8 bytes; a non-ASCII PowerShell script gets a BOM (5.1 reads BOM-less scripts as ANSI)."""
    data = text.encode("utf-8")
    if target.lower().endswith(".ps1") and not text.isascii():
        return UTF8_BOM + data
    return data
