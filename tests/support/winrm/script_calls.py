"""The calls a Windows step script makes, read from its syntax tree (tree-sitter-powershell).

The simulated host's handlers (windows_handlers.py) realise an effect only when the script the client sent
makes the call behind it, with the argument that effect needs: ``Remove-Item -LiteralPath $path`` inside
``foreach ($path in $Paths)`` removes each path, ``Install-WindowsFeature -Name $name`` inside ``foreach
($name in $Names)`` installs each feature, a ``Register-ScheduledTask -Trigger $trigger`` whose
``$trigger`` comes from ``New-ScheduledTaskTrigger -AtStartup`` makes a boot task. A script that forgets a
call, or passes it the wrong variable, leaves the simulated machine as Windows would: unchanged.

Read from the tree: command calls (cmdlets, functions, ``& $Exe ...``) with their parameters, bare words
and quoted literals, the ``foreach`` loops around each call, .NET method calls (``$acl.AddAccessRule(...)``,
``[Environment]::SetEnvironmentVariable(...)``) with their arguments, and which commands each variable is
assigned from. Not read: the control flow inside a script beyond those loops (the handlers follow the
script's documented branches), and the values computed at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import tree_sitter

from hybridctl.resources import powershell_script
from tests.support.powershell import parse, string_value, walk
from tests.support.winrm.host import ScriptContext


def _text(node: tree_sitter.Node) -> str:
    return (node.text or b"").decode()


def _norm(text: str) -> str:
    return "".join(text.split()).lower()


@dataclass(frozen=True)
class Call:
    """One command call: ``name -Param value word 'literal' ...``."""

    name: str
    """The command's name, lower case (``remove-item``, ``$exe``, ``tar.exe``)."""
    parameters: tuple[tuple[str, str], ...]
    """(parameter, argument source) pairs, both lower case without blanks; a switch has ``""``."""
    words: tuple[str, ...]
    """Every element's text after the name, lower case (``--register-service``, ``$name``, ``rmp``)."""
    literals: tuple[str, ...]
    """The values of the quoted strings among its arguments (array elements included), in order."""
    loops: tuple[tuple[str, str], ...]
    """The enclosing ``foreach`` loops, innermost first: (variable, collection), lower case."""

    def argument(self, *names: str) -> str | None:
        """The source of the argument bound to the first of ``names`` the call passes (lower case)."""
        wanted = [n.lower() for n in names]
        return next((value for key, value in self.parameters if key in wanted), None)

    def has(self, switch: str) -> bool:
        """Whether the call passes ``-switch``."""
        return any(key == switch.lower() for key, _ in self.parameters)

    def each(self, names: tuple[str, ...], collection: str) -> bool:
        """Whether one of the parameters ``names`` gets the variable of a loop over ``collection``."""
        value = self.argument(*names)
        return value is not None and (value, _norm(collection)) in self.loops


@dataclass(frozen=True)
class MethodCall:
    """A .NET method call: ``$target.Method(args)`` or ``[Type]::Method(args)``."""

    target: str
    method: str
    arguments: tuple[str, ...]
    """Each argument's source, lower case without blanks (a quoted literal keeps its quotes)."""
    loops: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ScriptCalls:
    """Every call of one script text."""

    calls: tuple[Call, ...]
    methods: tuple[MethodCall, ...]
    assigned: tuple[tuple[str, Call], ...]
    """(variable, call) for each ``$variable = <command call>`` statement."""

    def of(self, name: str) -> list[Call]:
        """The calls of command ``name`` (case-insensitive)."""
        return [c for c in self.calls if c.name == name.lower()]

    def each(self, name: str, names: tuple[str, ...], collection: str) -> list[Call]:
        """The calls of ``name`` that pass a loop variable over ``collection`` to one of ``names``."""
        return [c for c in self.of(name) if c.each(names, collection)]

    def inside(self, name: str, collection: str) -> list[Call]:
        """The calls of ``name`` inside a loop over ``collection``."""
        return [c for c in self.of(name) if any(coll == _norm(collection) for _, coll in c.loops)]

    def method(self, method: str) -> list[MethodCall]:
        """The calls of .NET method ``method`` (case-insensitive)."""
        return [m for m in self.methods if m.method == method.lower()]

    def source(self, variable: str) -> list[Call]:
        """The commands ``$variable`` is assigned from."""
        return [c for v, c in self.assigned if v == _norm(variable)]


def script_calls(ctx: ScriptContext) -> ScriptCalls:
    """The calls of the script the client sent (the packaged one when a test calls a handler directly)."""
    return read_calls(ctx.script or powershell_script(ctx.identity))


@lru_cache(maxsize=64)
def read_calls(text: str) -> ScriptCalls:
    """Read every call of ``text`` from its syntax tree."""
    root = parse(text).root_node
    calls, methods, assigned = [], [], []
    for node in walk(root):
        if node.type == "command":
            calls.append(_call(node))
        elif node.type == "invokation_expression":
            method = _method(node)
            if method is not None:
                methods.append(method)
        elif node.type == "assignment_expression":
            variable = _norm(_text(node.children[0]))
            assigned += [(variable, _call(c)) for c in walk(node.children[-1]) if c.type == "command"]
    return ScriptCalls(tuple(calls), tuple(methods), tuple(assigned))


def _call(node: tree_sitter.Node) -> Call:
    name = node.child_by_field_name("command_name")
    elements = node.child_by_field_name("command_elements")
    parameters: list[tuple[str, str]] = []
    words: list[str] = []
    pending: int | None = None
    for child in elements.children if elements else []:
        if child.type == "command_argument_sep":
            continue
        text = _norm(_text(child))
        words.append(text)
        if child.type == "command_parameter":
            parameters.append((text.lstrip("-").split(":", 1)[0], ""))
            pending = len(parameters) - 1
        elif pending is not None:
            parameters[pending] = (parameters[pending][0], text)
            pending = None
    literals = [string_value(n) for n in walk(elements) if n.type == "string_literal"] if elements else []
    return Call(
        name=_norm(_text(name)) if name else "",
        parameters=tuple(parameters),
        words=tuple(words),
        literals=tuple(literals),
        loops=_loops(node),
    )


def _method(node: tree_sitter.Node) -> MethodCall | None:
    member = next((c for c in node.children if c.type == "member_name"), None)
    arguments = next((c for c in node.children if c.type == "argument_list"), None)
    if member is None or arguments is None:
        return None
    values = [_norm(_text(c)) for c in walk(arguments) if c.type == "argument_expression"]
    return MethodCall(
        target=_norm(_text(node.children[0])),
        method=_text(member).lower(),
        arguments=tuple(values),
        loops=_loops(node),
    )


def _loops(node: tree_sitter.Node) -> tuple[tuple[str, str], ...]:
    found = []
    parent = node.parent
    while parent is not None:
        if parent.type == "foreach_statement":
            variable = next((c for c in parent.children if c.type == "variable"), None)
            collection = next((c for c in parent.children if c.type == "pipeline"), None)
            if variable is not None and collection is not None:
                found.append((_norm(_text(variable)), _norm(_text(collection))))
        parent = parent.parent
    return tuple(found)
