"""Check every cmdlet call of a PowerShell script against documented signatures, without PowerShell.

Real: the tree-sitter PowerShell grammar, and Microsoft's documented cmdlet syntax for Windows PowerShell 5.1
(``tests/powershell/cmdlets.json``, read from the SYNTAX and PARAMETERS sections of the cmdlet reference
pages it cites). Emulated: PowerShell's parameter binder, reduced to the rules that decide whether a call
binds at all: a parameter name is matched case-insensitively, exactly or by an unambiguous prefix of a name
or alias; a parameter is given once; the named parameters must all belong to one parameter set; a switch
takes a value only as ``-Switch:$value``; positional arguments must find a positional parameter the call
left free; a command nothing is piped into must get its set's mandatory parameters by name or position; a
constant argument of a parameter whose docs list "Accepted values" must be one of them. Calls to functions
the script defines are checked the same way against their own ``param()`` block (``[Alias]``,
``[ValidateSet]``, ``Position``, ``Mandatory``, ``[switch]``; common parameters only for advanced
functions). A splat of a literal hashtable is checked by its keys; any other splat is reported as
unchecked. Not covered: argument types, computed values, which set PowerShell picks when several fit,
``ValueFromRemainingArguments``, dynamic parameters beyond those the docs list, commands invoked by alias
(``%``, ``?``) or through ``&``, and native programs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import tree_sitter

from tests.support.powershell import parse

TABLE = Path(__file__).resolve().parents[1] / "powershell" / "cmdlets.json"
VERB_NOUN = re.compile(r"^[A-Za-z]+-[A-Za-z][A-Za-z0-9]*$")
SWITCH_TYPES = {"switch", "switchparameter", "system.management.automation.switchparameter"}
BOOLEAN_WORDS = {"$true", "$false", "true", "false", "0", "1"}


@dataclass(frozen=True)
class Parameter:
    """One parameter of a command: its name, aliases, and whether it is a switch."""

    name: str
    aliases: tuple[str, ...] = ()
    switch: bool = False
    values: tuple[str, ...] = ()  # the accepted values, when the docs restrict them


@dataclass(frozen=True)
class ParameterSet:
    """A parameter set: the parameters it takes and its positional ones, in position order."""

    name: str
    parameters: frozenset[str]
    positional: tuple[str, ...] = ()
    mandatory: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Signature:
    """A command's parameters and parameter sets; ``source`` says where they were read."""

    name: str
    parameters: dict[str, Parameter]
    sets: tuple[ParameterSet, ...]
    source: str

    def resolve(self, written: str) -> list[Parameter]:
        """The parameters ``-written`` can mean: an exact name or alias, else every prefix match."""
        key = written.lower()
        exact = [p for p in self.parameters.values() if key in _names(p)]
        if exact:
            return exact
        return [p for p in self.parameters.values() if any(n.startswith(key) for n in _names(p))]


def _names(parameter: Parameter) -> set[str]:
    return {parameter.name.lower(), *(a.lower() for a in parameter.aliases)}


@dataclass(frozen=True)
class Finding:
    """A call that would not bind: where it is, the command, the parameter, and why."""

    script: str
    line: int
    command: str
    parameter: str | None
    message: str
    unchecked: bool = False

    def __str__(self) -> str:
        param = f" -{self.parameter}" if self.parameter else ""
        label = "unchecked" if self.unchecked else "error"
        return f"{self.script}:{self.line}: {self.command}{param}: {label}: {self.message}"


@lru_cache(maxsize=4)
def load_table(path: Path = TABLE) -> dict[str, Signature]:
    """The documented cmdlets, keyed by lower-case name."""
    data = json.loads(path.read_text(encoding="utf-8"))
    common = _parameters(data["common_parameters"]["parameters"])
    return {name.lower(): _signature(name, entry, common) for name, entry in data["cmdlets"].items()}


def common_parameters(should_process: bool = False) -> dict[str, Parameter]:
    """The common parameters of every cmdlet and advanced function (plus -WhatIf/-Confirm if asked)."""
    data = json.loads(TABLE.read_text(encoding="utf-8"))["common_parameters"]["parameters"]
    found = _parameters(data)
    if should_process:
        found["WhatIf"] = Parameter("WhatIf", ("wi",), True)
        found["Confirm"] = Parameter("Confirm", ("cf",), True)
    return found


def _parameters(entries: dict[str, Any]) -> dict[str, Parameter]:
    return {
        n: Parameter(n, tuple(e["aliases"]), bool(e["switch"]), tuple(e.get("values", ())))
        for n, e in entries.items()
    }


def _signature(name: str, entry: dict[str, Any], common: dict[str, Parameter]) -> Signature:
    own = _parameters(entry["parameters"])
    extra = common if entry["common_parameters"] else {}
    sets = tuple(
        ParameterSet(
            set_name,
            frozenset(info["parameters"]) | frozenset(extra),
            tuple(info["positional"]),
            frozenset(info["mandatory"]),
        )
        for set_name, info in entry["parameter_sets"].items()
    )
    return Signature(name, {**extra, **own}, sets, entry["reference"] or entry["sources"][0])


# --- walking the syntax tree ---------------------------------------------------------------------------


def _walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _text(node: tree_sitter.Node) -> str:
    return node.text.decode("utf-8") if node.text is not None else ""


def _first(node: tree_sitter.Node, kind: str) -> tree_sitter.Node | None:
    return next((n for n in _walk(node) if n.type == kind), None)


def defined_functions(root: tree_sitter.Node) -> dict[str, Signature]:
    """Every function the script defines, with the signature of its ``param()`` block."""
    found = {}
    for node in _walk(root):
        if node.type == "function_statement":
            name_node = _first(node, "function_name")
            if name_node is not None:
                name = _text(name_node)
                found[name.lower()] = _function_signature(name, node)
    return found


@dataclass(frozen=True)
class _Declared:
    """A parameter as a ``param()`` block declares it."""

    parameter: Parameter
    position: int | None = None
    mandatory: bool = False


def _function_signature(name: str, node: tree_sitter.Node) -> Signature:
    declared = _param_list(node)
    advanced = any(_attribute_names(a) & {"cmdletbinding", "parameter"} for a in _param_owners(node))
    parameters = {d.parameter.name: d.parameter for d in declared}
    explicit = sorted((d.position, d.parameter.name) for d in declared if d.position is not None)
    if explicit:
        positional = tuple(n for _, n in explicit)
    else:
        positional = tuple(d.parameter.name for d in declared if not d.parameter.switch)
    if advanced:
        block = _own_param_block(node)
        should_process = block is not None and "supportsshouldprocess" in _text(block).lower()
        parameters = {**common_parameters(should_process), **parameters}
    mandatory = frozenset(d.parameter.name for d in declared if d.mandatory)
    only = ParameterSet("__AllParameterSets", frozenset(parameters), positional, mandatory)
    return Signature(name, parameters, (only,), f"function {name} (line {node.start_point[0] + 1})")


def _param_owners(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    """The function's param block (its attributes) and each of its parameters."""
    block = _own_param_block(node)
    if block is None:
        return []
    return [block] + [c for c in _walk(block) if c.type == "script_parameter"]


def _own_param_block(node: tree_sitter.Node) -> tree_sitter.Node | None:
    body = next((c for c in node.children if c.type == "script_block"), None)
    for owner in (body, node):
        if owner is None:
            continue
        for child in owner.children:
            if child.type in ("param_block", "function_parameter_declaration"):
                return child
    return None


def _param_list(node: tree_sitter.Node) -> list[_Declared]:
    block = _own_param_block(node)
    if block is None:
        return []
    return [_script_parameter(item) for item in _walk(block) if item.type == "script_parameter"]


def _script_parameter(node: tree_sitter.Node) -> _Declared:
    variable = next(c for c in node.children if c.type == "variable")
    types = {_text(t).lower() for t in _walk(node) if t.type == "type_literal"}
    switch = any(t.strip("[]").strip() in SWITCH_TYPES for t in types)
    aliases: list[str] = []
    values: list[str] = []
    position: int | None = None
    mandatory = False
    for attribute in (a for a in _walk(node) if a.type == "attribute"):
        name, text = _attribute_name(attribute), _text(attribute)
        quoted = re.findall(r"'([^']*)'|\"([^\"]*)\"", text)
        if name == "alias":
            aliases += [a or b for a, b in quoted]
        elif name == "validateset":
            values += [a or b for a, b in quoted]
        elif name == "parameter":
            match = re.search(r"\bPosition\s*=\s*(\d+)", text, re.I)
            position = int(match.group(1)) if match else position
            flag = re.search(r"\bMandatory\b(\s*=\s*\$(\w+))?", text, re.I)
            mandatory = flag is not None and (flag.group(2) or "true").lower() == "true"
    parameter = Parameter(_text(variable).lstrip("$"), tuple(aliases), switch, tuple(values))
    return _Declared(parameter, position, mandatory)


def _attribute_name(attribute: tree_sitter.Node) -> str:
    """``parameter`` for ``[Parameter(...)]``; empty for a type constraint such as ``[string]``."""
    name = next((c for c in attribute.children if c.type == "attribute_name"), None)
    return _text(name).lower() if name is not None else ""


def _attribute_names(node: tree_sitter.Node) -> set[str]:
    """Lower-case names of the attributes directly on a param block or a parameter."""
    lists = [c for c in node.children if c.type == "attribute_list"]
    attributes = [a for part in lists for a in part.children] + [
        c for c in node.children if c.type == "attribute"
    ]
    return {_attribute_name(a) for a in attributes if a.type == "attribute"} - {""}


def literal_hashtables(root: tree_sitter.Node) -> dict[str, list[list[str] | None]]:
    """For each variable, the keys of every value assigned to it (None: not a literal hashtable)."""
    found: dict[str, list[list[str] | None]] = {}
    for node in _walk(root):
        if node.type == "assignment_expression" and re.fullmatch(r"\$\w+", _text(node.children[0])):
            name = _text(node.children[0])[1:].lower()
            found.setdefault(name, []).append(_hashtable_keys(node.children[-1]))
    return found


def _hashtable_keys(value: tree_sitter.Node) -> list[str] | None:
    table = _first(value, "hash_literal_expression")
    if table is None or _text(table) != _text(value).strip():
        return None
    body = _first(table, "hash_literal_body")
    entries = [e for e in body.children if e.type == "hash_entry"] if body is not None else []
    return [_text(e.children[0]).strip("'\"") for e in entries]


# --- one command ---------------------------------------------------------------------------------------


@dataclass
class _Token:
    kind: str  # "param", "arg" or "splat"
    text: str
    colon: bool = False


@dataclass
class _Call:
    script: str
    line: int
    command: str
    signature: Signature
    named: list[str] = field(default_factory=list)
    positional: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def fail(self, parameter: str | None, message: str, unchecked: bool = False) -> None:
        """Record a finding; an error cites the signature it was judged by."""
        cited = message if unchecked else f"{message} [signature: {self.signature.source}]"
        self.findings.append(Finding(self.script, self.line, self.command, parameter, cited, unchecked))


def _tokens(node: tree_sitter.Node) -> list[_Token]:
    elements = node.child_by_field_name("command_elements")
    tokens: list[_Token] = []
    for child in elements.children if elements else []:
        text = _text(child)
        if child.type == "command_argument_sep":
            if ":" in text and tokens and tokens[-1].kind == "param":
                tokens[-1].colon = True
        elif child.type == "command_parameter":
            tokens.append(_Token("param", text.lstrip("-").rstrip(":"), text.endswith(":")))
        elif "redirection" in child.type:
            continue
        elif re.fullmatch(r"@\w+", text):
            tokens.append(_Token("splat", text[1:]))
        else:
            tokens.append(_Token("arg", text))
    return tokens


def _bind(call: _Call, tokens: list[_Token], splats: dict[str, list[list[str] | None]]) -> None:
    """Bind the tokens left to right, as PowerShell does; each parameter says whether it takes the next."""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) and tokens[index + 1].kind == "arg" else None
        if token.kind == "arg":
            call.positional.append(token.text)
        elif token.kind == "splat":
            _splat(call, token.text, splats)
        elif _takes_value(call, token, following):
            index += 1
        index += 1


def _takes_value(call: _Call, token: _Token, following: _Token | None) -> bool:
    """Whether ``-token`` consumes the argument after it; reports a switch given a separate value."""
    parameter = _named(call, token.text)
    if parameter is None:
        return following is not None  # unknown: already reported; assume it took its value
    if not parameter.switch:
        if following is None:
            call.fail(token.text, f"-{parameter.name} needs a value")
        else:
            _check_value(call, token.text, parameter, following.text)
        return following is not None
    if token.colon:
        return following is not None
    if following is not None and following.text.lower() in BOOLEAN_WORDS:
        call.fail(
            token.text,
            f"switch given a separate value {following.text}"
            f" (a switch takes a value only as -{parameter.name}:{following.text})",
        )
        return True
    return False  # a switch: what follows is positional


def literal_word(argument: str) -> str | None:
    """The value of a bare word or a constant quoted string argument; None for anything computed."""
    if re.fullmatch(r"[A-Za-z][\w.-]*", argument):
        return argument
    match = re.fullmatch(r"'([^']*)'|\"([^\"$`]*)\"", argument)
    return (match.group(1) if match.group(1) is not None else match.group(2)) if match else None


def _check_value(call: _Call, written: str, parameter: Parameter, argument: str) -> None:
    value = literal_word(argument)
    if not parameter.values or value is None:
        return
    if value.lower() not in {v.lower() for v in parameter.values}:
        allowed = ", ".join(parameter.values)
        call.fail(written, f"{argument} is not an accepted value of -{parameter.name} ({allowed})")


def _named(call: _Call, written: str) -> Parameter | None:
    matches = call.signature.resolve(written)
    if not matches:
        call.fail(written, "no such parameter")
        return None
    if len(matches) > 1:
        options = ", ".join(sorted(f"-{p.name}" for p in matches))
        call.fail(written, f"ambiguous parameter prefix: matches {options}")
        return None
    parameter = matches[0]
    if parameter.name in call.named:
        call.fail(written, f"-{parameter.name} given more than once")
    call.named.append(parameter.name)
    return parameter


def _splat(call: _Call, variable: str, splats: dict[str, list[list[str] | None]]) -> None:
    values = splats.get(variable.lower(), [])
    if len(values) != 1 or values[0] is None:
        call.fail(None, f"splatting @{variable}: not one literal hashtable in this script", unchecked=True)
        return
    for key in values[0]:
        _named(call, key)


def _fit(call: _Call, piped: bool) -> None:
    """One set takes the named parameters, the positionals and (unless piped) its mandatory ones."""
    named = set(call.named)
    candidates = [s for s in call.signature.sets if named <= s.parameters]
    if not candidates:
        listed = ", ".join(f"-{n}" for n in call.named)
        sets = "; ".join(
            f"{s.name}: lacks {', '.join(sorted('-' + n for n in named - s.parameters))}"
            for s in call.signature.sets
        )
        call.fail(None, f"no parameter set takes {listed} together ({sets})")
        return
    room = max(len([p for p in s.positional if p not in named]) for s in candidates)
    if len(call.positional) > room:
        args = ", ".join(call.positional)
        call.fail(
            None,
            f"{len(call.positional)} positional argument(s) ({args}) but only {room} positional"
            " parameter(s) left in any matching parameter set",
        )
    elif not piped:
        _mandatory(call, candidates, named)


def _mandatory(call: _Call, candidates: list[ParameterSet], named: set[str]) -> None:
    """Some candidate set gets all its mandatory parameters by name or position (nothing is piped in)."""
    missing_by_set = []
    for candidate in candidates:
        free = [p for p in candidate.positional if p not in named]
        bound = named | set(free[: len(call.positional)])
        missing = sorted(candidate.mandatory - bound)
        if not missing:
            return
        missing_by_set.append(f"{candidate.name}: -{', -'.join(missing)}")
    call.fail(None, f"mandatory parameter(s) missing, nothing is piped in ({'; '.join(missing_by_set)})")


def check_script(text: str, script: str, table: dict[str, Signature] | None = None) -> list[Finding]:
    """Every call in ``text`` that does not bind to its documented (or own) signature."""
    root = parse(text).root_node
    signatures = {**(table if table is not None else load_table()), **defined_functions(root)}
    splats = literal_hashtables(root)
    findings: list[Finding] = []
    for node in _walk(root):
        if node.type == "command":
            findings += _check_command(node, script, signatures, splats)
    return findings


def _check_command(
    node: tree_sitter.Node,
    script: str,
    signatures: dict[str, Signature],
    splats: dict[str, list[list[str] | None]],
) -> list[Finding]:
    name_node = node.child_by_field_name("command_name")
    if name_node is None or name_node.type != "command_name":
        return []  # '& $path', '& { }': not a named command
    name = _text(name_node).rsplit("\\", 1)[-1]
    line = node.start_point[0] + 1
    signature = signatures.get(name.lower())
    if signature is None:
        if VERB_NOUN.match(name):
            return [
                Finding(
                    script,
                    line,
                    name,
                    None,
                    f"unknown cmdlet: not in {TABLE.name} and not defined in the script",
                )
            ]
        return []  # a native program or an alias: not checked
    call = _Call(script, line, name, signature)
    _bind(call, _tokens(node), splats)
    if not call.findings:
        _fit(call, piped=_piped(node))
    return call.findings


def _piped(node: tree_sitter.Node) -> bool:
    """Whether the command gets pipeline input (a ``|`` before it in its pipeline)."""
    sibling = node.prev_sibling
    while sibling is not None:
        if sibling.type == "|":
            return True
        sibling = sibling.prev_sibling
    return False
