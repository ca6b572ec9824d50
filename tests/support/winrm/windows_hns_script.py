"""What a ``win/hns-network`` script does, read from its syntax tree (tree-sitter-powershell), not assumed.

The simulated host's handler (tests/support/winrm/windows_handlers.py ``hns_network``) realises the HNS
calls against the HNS model (windows_hns.py) only as the script sent makes them, so a changed script
changes what happens in the emulated host:
- how ``Test-NetworkMatch`` judges an existing network: which comparison operator it applies to the
  network's ``Type`` (``-ne``/``-eq`` are case-insensitive in PowerShell, ``-cne``/``-ceq`` are not; HNS
  answers ``l2bridge`` for a network created as ``L2Bridge``, flannel-io/flannel#833), and whether it
  looks at ``NetworkAdapterName`` (empty in HNS answers);
- whether ``Remove-StaleNetwork`` refuses (``throw``) while pod endpoints are on the network;
- how the script waits for the management IP: a top-level ``Wait-ManagementAddress`` call polls, a
  top-level ``Start-Sleep -Seconds N`` sleeps once, otherwise it does not wait;
- whether the host endpoint is attached on every run (a top-level ``Connect-HostEndpoint`` call) or only
  inside a branch, whether that attach accepts "already attached" (a ``-notlike '*already attached*'``
  test in ``Connect-HostEndpoint``, flannel-io/flannel#1391), and whether a missing
  ``vEthernet (<endpoint>)`` makes it recreate the endpoint (a top-level ``if`` on ``Test-Interface``
  that calls ``New-HostEndpoint``);
- which interfaces get forwarding (``Set-NetIPInterface -InterfaceAlias`` at top level: the host
  endpoint's vNIC through ``$bridgeAlias``, the adapter's through the ``$InterfaceAlias`` parameter).
What is not read from the tree: the JSON of the HNS requests (the handler builds them from the definition
file, as the script's ``New-BridgeNetwork``/``New-HostEndpoint`` do) and the HNS model's own answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import tree_sitter

from tests.support.powershell import _invocation, parse, walk

FORWARDING_SOURCES = {"$bridgealias": "bridge", "$interfacealias": "adapter"}


@dataclass(frozen=True)
class HnsNetworkScript:
    """The behaviour of one hns-network script text."""

    type_operator: str | None
    """The operator ``Test-NetworkMatch`` compares ``$Network.Type`` with (lower case); None: not at all."""
    compares_adapter: bool
    refuses_with_pods: bool
    wait: str
    """``poll``, ``sleep`` or ``none``."""
    sleep_seconds: float
    attach_every_run: bool
    attach_on_create: bool
    """A ``Connect-HostEndpoint`` call in the top-level branch that creates the endpoint."""
    attach_tolerates_attached: bool
    recreates_missing_vnic: bool
    forwarding: tuple[str, ...]
    """``bridge`` / ``adapter`` per top-level Set-NetIPInterface call, in order."""

    def type_matches(self, reported: str, wanted: str) -> bool:
        """What the script's Type comparison decides for an HNS answer."""
        if self.type_operator is None:
            return True
        if self.type_operator in ("-cne", "-ceq"):
            return reported == wanted
        return reported.casefold() == wanted.casefold()


@lru_cache(maxsize=8)
def read_hns_network_script(text: str) -> HnsNetworkScript:
    """Derive the script's behaviour from its syntax tree."""
    root = parse(text).root_node
    top = _top_statements(root)
    functions = {_function_name(n): n for n in top if n.type == "function_statement"}
    top_calls = [c for s in top if s.type == "pipeline" for c in _calls(s)]
    names = [c.name.lower() for c in top_calls]
    sleeps = [c for c in top_calls if c.name.lower() == "start-sleep"]
    wait = "poll" if "wait-managementaddress" in names else ("sleep" if sleeps else "none")
    seconds = float((sleeps[0].parameters.get("Seconds") or "0") if sleeps else 0)
    forwarding = tuple(
        FORWARDING_SOURCES.get((c.parameters.get("InterfaceAlias") or "").lower(), "unknown")
        for c in top_calls
        if c.name.lower() == "set-netipinterface"
    )
    return HnsNetworkScript(
        type_operator=_type_operator(functions.get("test-networkmatch")),
        compares_adapter=b"NetworkAdapterName" in _text(functions.get("test-networkmatch")),
        refuses_with_pods=_throws_on_count(functions.get("remove-stalenetwork")),
        wait=wait,
        sleep_seconds=seconds,
        attach_every_run="connect-hostendpoint" in names,
        attach_on_create=any(
            {"new-hostendpoint", "connect-hostendpoint"} <= _branch_calls(s)
            for s in top
            if s.type == "if_statement"
        ),
        attach_tolerates_attached=b"already attached" in _text(functions.get("connect-hostendpoint")),
        recreates_missing_vnic=any(_recreates_endpoint(s) for s in top if s.type == "if_statement"),
        forwarding=forwarding,
    )


def _top_statements(root: tree_sitter.Node) -> list[tree_sitter.Node]:
    for child in root.children:
        if child.type == "statement_list":
            return list(child.named_children)
    return []


def _function_name(node: tree_sitter.Node) -> str:
    return next((c.text.decode().lower() for c in node.children if c.type == "function_name"), "")


def _calls(node: tree_sitter.Node) -> list:  # type: ignore[type-arg]
    """Command calls of one statement (not inside script blocks)."""
    if node.type == "command":
        return [_invocation(node)]
    if node.type in ("script_block", "script_block_expression"):
        return []
    found = []
    for child in node.children:
        found += _calls(child)
    return found


def _text(node: tree_sitter.Node | None) -> bytes:
    return node.text if node is not None else b""


def _type_operator(function: tree_sitter.Node | None) -> str | None:
    for node in walk(function) if function is not None else []:
        if node.type != "comparison_expression" or len(node.children) != 3:
            continue
        left, operator, _ = node.children
        if left.text.decode().replace(" ", "").lower() == "$network.type":
            return operator.text.decode().lower()
    return None


def _throws_on_count(function: tree_sitter.Node | None) -> bool:
    """An ``if`` on a ``.Count`` whose body throws."""
    for node in walk(function) if function is not None else []:
        if node.type == "if_statement" and b".Count" in node.text and b"throw" in node.text:
            return True
    return False


def _branch_calls(statement: tree_sitter.Node) -> set[str]:
    """Names (lower case) of the calls in an ``if`` statement's blocks."""
    return {c.name.lower() for s in statement.children if s.type == "statement_block" for c in _calls(s)}


def _recreates_endpoint(statement: tree_sitter.Node) -> bool:
    condition = next((c for c in statement.children if c.type == "pipeline"), None)
    tests_interface = condition is not None and any(
        c.name.lower() == "test-interface" for c in _calls(condition)
    )
    return tests_interface and "new-hostendpoint" in _branch_calls(statement)
