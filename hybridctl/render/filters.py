"""Jinja filters that quote or serialise every value a template emits, and the guard that enforces it.

Each filter returns ``Serialised``; the environment's ``finalize`` refuses any other string, so a value
pasted raw into a template (``{{ host.name }}`` instead of ``{{ host.name | yaml }}``) fails the render
instead of producing a file an odd host name can break.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hybridctl.commands import ps_quote, sh_quote
from hybridctl.errors import RenderError
from hybridctl.render.placeholders import is_placeholder

# Escapes both YAML double-quoted scalars and TOML basic strings understand.
_SHARED_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


class Serialised(str):
    """Text a filter produced: safe to place in its format as is."""

    __slots__ = ()


def _text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RenderError(f"cannot quote {type(value).__name__} value {value!r} as a string")
    return str(value)


def _escape_char(char: str) -> str:
    if char in _SHARED_ESCAPES:
        return _SHARED_ESCAPES[char]
    code = ord(char)
    if 0x20 <= code < 0x7F:
        return char
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def double_quoted(value: object) -> Serialised:
    """An ASCII-only double-quoted string, valid as a YAML scalar and as a TOML basic string."""
    return Serialised('"' + "".join(_escape_char(c) for c in _text(value)) + '"')


def to_json(value: Any) -> Serialised:
    """Compact ASCII-only JSON of any JSON-able value."""
    return Serialised(json.dumps(value, ensure_ascii=True))


def yaml_bool(value: bool) -> Serialised:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise RenderError(f"expected a boolean, got {value!r}")
    return Serialised("true" if value else "false")


def sh(value: object) -> Serialised:
    """One word for a POSIX shell (``commands.sh_quote``)."""
    return Serialised(sh_quote(_text(value)))


def ps(value: object) -> Serialised:
    """A PowerShell single-quoted literal (``commands.ps_quote``)."""
    return Serialised(ps_quote(_text(value)))


def b64(value: object) -> Serialised:
    """Base64 of the UTF-8 text (kubeconfig ``certificate-authority-data``), placeholders passed through."""
    text = _text(value)
    if is_placeholder(text):
        return double_quoted(text)
    return double_quoted(base64.b64encode(text.encode("utf-8")).decode("ascii"))


def pem(value: object) -> Serialised:
    """A PEM block as is (the runtime values were checked to be one), or a placeholder."""
    text = _text(value).strip()
    if not is_placeholder(text) and not (text.startswith("-----BEGIN ") and text.isascii()):
        raise RenderError("the CA certificate is not a PEM block")
    return Serialised(text)


def finalize(value: object) -> object:
    """Let only filter output and plain integers into a rendered file."""
    if isinstance(value, Serialised):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise RenderError(f"template emitted an unquoted value {value!r}; pass it through a quoting filter")


FILTERS = {
    "yaml": double_quoted,
    "toml": double_quoted,
    "json": to_json,
    "bool": yaml_bool,
    "sh": sh,
    "ps": ps,
    "b64": b64,
    "pem": pem,
}
