"""What the simulated host's boot task does after a restart: it runs the installed ``boot.ps1``.

Simulated: the boot. The effect is derived from the script's syntax tree (tree-sitter-powershell), one
top-level statement after the other, as PowerShell with ``$ErrorActionPreference = 'Stop'`` would: each
command call is dispatched by its name and literal arguments (``Stop-Service``, ``Start-NodeService``,
``& '<file>'``, ``& $scriptBlock``, calls of the script's own functions). A call the simulator does not
model stops the boot with an error, so a changed boot script cannot pass by accident. A script block run
with ``&`` must be hybridctl's packaged script of the same identity (then that script's handler runs it).
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any

import tree_sitter

from hybridctl.commands import script_identity
from hybridctl.resources import powershell_script
from tests.support.powershell import _invocation, parse, string_value
from tests.support.winrm.host import ScriptContext, ScriptError, SimulatedWindowsHost
from tests.support.winrm.windows_net import checked_script, run_routes

if TYPE_CHECKING:
    from tests.support.winrm.windows_handlers import WindowsScripts

_FILE_ARGUMENT = re.compile(r'-File\s+"([^"]+)"')
_IGNORED = {"write-bootlog", "write-output", "out-null", "add-type"}


class _Sink:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def output(self, value: Any) -> None:
        self.lines.append(str(value))

    def error(self, message: str, error_id: str) -> None:
        self.lines.append(f"error {error_id}: {message}")

    def warning(self, message: str) -> None:
        self.lines.append(f"warning: {message}")


def run_boot_tasks(host: SimulatedWindowsHost, scripts: WindowsScripts) -> None:
    """Run every boot-triggered task's ``-File`` script; a failure is kept in ``machine.extra``."""
    for name, task in list(host.machine.scheduled_tasks.items()):
        found = _FILE_ARGUMENT.search(str(task.get("arguments", "")))
        if task.get("trigger") != "MSFT_TaskBootTrigger" or found is None:
            continue
        errors = host.machine.extra.setdefault("bootErrors", [])
        try:
            BootScript(host, scripts, found.group(1)).run()
        except ScriptError as exc:
            errors.append(f"{name}: {exc.message}")


class BootScript:
    """One run of a boot script, statement by statement."""

    def __init__(self, host: SimulatedWindowsHost, scripts: WindowsScripts, path: str) -> None:
        self.host, self.scripts, self.sink = host, scripts, _Sink()
        self.ctx = ScriptContext(host, "boot", {}, self.sink, threading.Event())
        self.text = checked_script(self.ctx, path)
        root = parse(self.text).root_node
        self.top = _statements(root)
        self.functions = {
            _child_text(n, "function_name").lower(): n for n in self.top if n.type == "function_statement"
        }
        self.variables = dict(_assignments(self.top))

    def run(self) -> None:
        """Every top-level statement in order."""
        self._block(self.top)

    def _block(self, statements: list[tree_sitter.Node]) -> None:
        for statement in statements:
            if statement.type == "function_statement":
                continue
            for command in _commands(statement):
                self._command(command)

    def _command(self, node: tree_sitter.Node) -> None:
        operator = any(c.type == "command_invokation_operator" for c in node.children)
        if operator:
            self._invoke(node)
            return
        call = _invocation(node)
        name = call.name.lower()
        if name in _IGNORED:
            return
        # The boot script's small helpers (start a service unless running, wait for the network) are
        # modelled by name; every other function of the script runs statement by statement.
        handler = {
            "stop-service": self._stop,
            "start-nodeservice": self._start,
            "wait-hnsnetwork": self._wait_network,
        }.get(name)
        if handler is None and name in self.functions:
            self._block(_statements(self.functions[name]))
            return
        if handler is None:
            raise ScriptError(f"boot.ps1 line {call.line}: the simulated host does not model {call.name}")
        handler(self._value(call.parameters.get("Name")))

    def _invoke(self, node: tree_sitter.Node) -> None:
        target = next(c for c in node.children if c.type == "command_name_expr")
        text = target.text.decode()
        if text.startswith("'"):
            path = string_value(target.children[0]) if target.children else text.strip("'")
            if not path.lower().endswith("\\routes.ps1"):
                raise ScriptError(f"boot.ps1: the simulated host cannot run {path}")
            run_routes(self.ctx, checked_script(self.ctx, path), self.scripts.realiser)
            return
        block = self.variables.get(text.lstrip("$").lower())
        if not isinstance(block, str) or not block.strip().startswith("{"):
            raise ScriptError(f"boot.ps1: {text} is not a script block")
        self._script_block(block.strip()[1:-1].strip() + "\n", _invocation(node).parameters)

    def _script_block(self, body: str, parameters: dict[str, str | None]) -> None:
        identity = script_identity(body)
        if body.strip() != powershell_script(identity).strip():
            raise ScriptError(f"boot.ps1 holds a script block that is not hybridctl's {identity}")
        params = {k: self._value(v) for k, v in parameters.items()}
        self.host.run(body, params, self.sink, threading.Event())

    def _value(self, source: str | None) -> str:
        if source is None:
            return ""
        if source.startswith("'"):
            return source[1:-1].replace("''", "'")
        value = self.variables.get(source.lstrip("$").lower())
        if isinstance(value, str) and value.startswith("'"):
            return value[1:-1].replace("''", "'")
        raise ScriptError(f"boot.ps1: cannot evaluate {source}")

    def _stop(self, name: str) -> None:
        if name in self.host.machine.services:
            self.scripts.kube.stop(self.host.machine, name)

    def _start(self, name: str) -> None:
        service = self.host.machine.services.get(name)
        if service is None:
            raise ScriptError(f"service {name} is not installed")
        if service.status != "Running":
            self.scripts._start(self.ctx, name)

    def _wait_network(self, _name: str) -> None:
        """Wait-HnsNetwork polls for the network the script names in ``$NetworkName``."""
        name = self._value("$NetworkName")
        if name not in self.host.machine.hns_networks:
            raise ScriptError(f"HNS network {name} did not appear")


def _statements(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    """The statements of a program or a function body."""
    for child in _descend(node, "statement_list"):
        return list(child.named_children)
    return []


def _descend(node: tree_sitter.Node, kind: str):  # type: ignore[no-untyped-def]
    for child in node.children:
        if child.type == kind:
            yield child
        elif child.type in ("script_block", "script_block_body"):
            yield from _descend(child, kind)


def _commands(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    """Command calls of one statement, not descending into script blocks or other commands."""
    if node.type == "command":
        return [node]
    if node.type in ("script_block_expression", "function_statement", "if_statement"):
        if node.type == "if_statement":
            raise ScriptError("boot.ps1: the simulated host does not model top-level if statements")
        return []
    found: list[tree_sitter.Node] = []
    for child in node.children:
        found += _commands(child)
    return found


def _assignments(statements: list[tree_sitter.Node]) -> list[tuple[str, str]]:
    found = []
    for statement in statements:
        for node in [statement, *statement.children]:
            if node.type == "assignment_expression":
                left, value = node.children[0].text.decode(), node.children[-1].text.decode()
                found.append((left.lstrip("$").lower(), value.strip()))
    return found


def _child_text(node: tree_sitter.Node, kind: str) -> str:
    return next((c.text.decode() for c in node.children if c.type == kind), "")


def boot_with_tasks(host: SimulatedWindowsHost, scripts: WindowsScripts) -> None:
    """Make every restart of ``host`` run its boot tasks, as Task Scheduler does."""
    host.machine.boot_hooks.append(lambda: run_boot_tasks(host, scripts))
