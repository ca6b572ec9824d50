"""The cmdlet-signature checker itself, on small scripts: it must fail what PowerShell would not bind.

Tier: unit. Real: the tree-sitter PowerShell grammar and the documented signatures in ``cmdlets.json``.
Emulated: PowerShell's parameter binder (the rules in ``tests/support/ps_signatures.py``). No PowerShell runs.
"""

from __future__ import annotations

import pytest

from tests.support.ps_signatures import Finding, check_script, load_table


def _check(script: str) -> list[Finding]:
    return check_script(script, "snippet.ps1")


def _one(script: str) -> Finding:
    found = _check(script)
    assert len(found) == 1, [str(f) for f in found]
    return found[0]


@pytest.mark.parametrize(
    "script",
    [
        "New-NetRoute -DestinationPrefix '10.244.1.0/24' -InterfaceAlias 'Ethernet' -NextHop '10.0.0.2'",
        "New-NetRoute '10.244.1.0/24' -InterfaceIndex 12 -RouteMetric 250 -PolicyStore ActiveStore",
        "new-netroute -destinationprefix '10.244.1.0/24' -ifAlias 'Ethernet'",  # case and alias
        "New-NetRoute -Dest '10.244.1.0/24' -InterfaceAl 'Ethernet'",  # unambiguous prefixes
        "Stop-Service -Name 'kubelet' -Force:$true -ErrorAction Stop",
        "Stop-Service -Name 'kubelet' -Force -ea SilentlyContinue -WhatIf",
        "$route | Remove-NetRoute -Confirm:$false",
        "Join-Path 'C:\\k' 'bin'",
        "Register-ScheduledTask 'hybridctl-boot' -Action $action -Force",  # TaskName is Position 0
        "Get-ChildItem -LiteralPath 'C:\\k' -Recurse -File",  # -File: FileSystem provider, documented (All)
        "Microsoft.PowerShell.Management\\Get-Service -Name 'x'",
        "& 'C:\\k\\nssm.exe' install kubelet",
        "sc.exe delete kubelet",
    ],
)
def test_calls_that_bind_pass(script: str) -> None:
    assert _check(script) == []


def test_unknown_parameter() -> None:
    finding = _one("New-NetRoute -DestinationPrefx '10.244.1.0/24' -InterfaceAlias 'Ethernet'")
    assert (finding.command, finding.parameter) == ("New-NetRoute", "DestinationPrefx")
    assert "no such parameter" in finding.message and "new-netroute" in finding.message
    assert str(finding).startswith("snippet.ps1:1: New-NetRoute -DestinationPrefx: error:")


def test_ambiguous_prefix() -> None:
    finding = _one("New-NetRoute -DestinationPrefix '10.244.1.0/24' -Interface 'Ethernet'")
    assert finding.parameter == "Interface"
    assert "ambiguous" in finding.message
    assert "-InterfaceAlias" in finding.message and "-InterfaceIndex" in finding.message


def test_switch_given_a_separate_value() -> None:
    finding = _one("Remove-Item -LiteralPath 'C:\\k\\x' -Force $true")
    assert (finding.command, finding.parameter) == ("Remove-Item", "Force")
    assert "switch given a separate value $true" in finding.message


def test_switch_given_false_as_a_separate_value() -> None:
    finding = _one("$route | Remove-NetRoute -Confirm $false")
    assert finding.parameter == "Confirm"


def test_parameters_of_different_parameter_sets() -> None:
    finding = _one(
        "New-NetRoute -DestinationPrefix '10.244.1.0/24' -InterfaceAlias 'Ethernet' -InterfaceIndex 12"
    )
    assert finding.command == "New-NetRoute"
    assert "no parameter set takes" in finding.message
    assert "ByInterfaceAlias: lacks -InterfaceIndex" in finding.message


def test_path_and_literal_path_together() -> None:
    assert "no parameter set" in _one("Test-Path -Path 'a' -LiteralPath 'b'").message


def test_too_many_positional_arguments() -> None:
    finding = _one("Join-Path 'C:\\k' 'bin' 'extra'")
    assert "3 positional argument(s)" in finding.message


def test_a_parameter_given_twice() -> None:
    assert "more than once" in _one("Get-Service -Name 'a' -Name 'b'").message


def test_a_parameter_without_its_value() -> None:
    assert "needs a value" in _one("Get-Service -Name -ErrorAction Stop").message


def test_unknown_cmdlet() -> None:
    finding = _one("Set-NetRouteX -Name 'a'")
    assert finding.command == "Set-NetRouteX" and "unknown cmdlet" in finding.message


FUNCTION = """function Set-Thing {
    param(
        [string]$Name,
        [int]$Count,
        [switch]$Quiet
    )
}
"""


def test_own_function_checked_against_its_param_block() -> None:
    assert _check(FUNCTION + "Set-Thing -Name 'a' -Count 2 -Quiet\nSet-Thing 'a' 2\nSet-Thing -N 'a'\n") == []
    finding = _one(FUNCTION + "Set-Thing -Nmae 'a'\n")
    assert (finding.line, finding.command, finding.parameter) == (8, "Set-Thing", "Nmae")
    assert "function Set-Thing" in finding.message


def test_own_function_switch_and_positionals() -> None:
    assert _one(FUNCTION + "Set-Thing -Quiet $true\n").parameter == "Quiet"
    assert "positional" in _one(FUNCTION + "Set-Thing 'a' 2 3\n").message


def test_simple_function_has_no_common_parameters() -> None:
    assert _one(FUNCTION + "Set-Thing -ErrorAction Stop\n").parameter == "ErrorAction"


def test_advanced_function_has_common_parameters() -> None:
    script = "function Get-Thing {\n    [CmdletBinding()]\n    param(\n        [string]$Name\n    )\n}\n"
    assert _check(script + "Get-Thing -Name 'a' -ErrorAction Stop -Verbose\n") == []
    assert _one(script + "Get-Thing -Name 'a' -WhatIf\n").parameter == "WhatIf"


def test_splatting_a_literal_hashtable_checks_its_keys() -> None:
    script = "$p = @{\n    Name = 'kubelet'\n    Forse = $true\n}\nStop-Service @p\n"
    finding = _one(script)
    assert (finding.command, finding.parameter) == ("Stop-Service", "Forse")


def test_splatting_anything_else_is_reported_unchecked() -> None:
    finding = _one("$p = $x\nStop-Service @p\n")
    assert finding.unchecked and "splatting @p" in finding.message


def test_every_documented_parameter_is_in_some_set() -> None:
    for signature in load_table().values():
        in_sets = set().union(*(s.parameters for s in signature.sets))
        assert set(signature.parameters) <= in_sets, signature.name


def test_new_netroute_as_documented() -> None:
    signature = load_table()["new-netroute"]
    assert {s.name for s in signature.sets} == {"ByInterfaceAlias", "ByInterfaceIndex"}
    assert all(s.positional == ("DestinationPrefix",) for s in signature.sets)
    assert signature.parameters["InterfaceAlias"].aliases == ("ifAlias",)
    assert signature.parameters["AsJob"].switch and not signature.parameters["RouteMetric"].switch


def test_own_function_aliases_and_explicit_positions() -> None:
    script = """function Get-Thing {
    param(
        [Parameter(Position = 1)]
        [Alias('Who')]
        [string]$Name,
        [Parameter(Position = 0)]
        [string]$Kind,
        [string]$Other
    )
}
"""
    # -Who binds Name by its alias, so only Kind is left for positional arguments.
    assert "2 positional" in _one(script + "Get-Thing 'k' 'n' -Who 'x'\n").message
    assert _check(script + "Get-Thing 'k' -Who 'n' -Other 'o'\n") == []
    assert "positional" in _one(script + "Get-Thing 'k' 'n' 'o'\n").message


def test_a_value_outside_the_documented_accepted_values() -> None:
    finding = _one("Set-NetIPInterface -InterfaceAlias 'Ethernet' -Forwarding Enabeld")
    assert finding.parameter == "Forwarding" and "(Disabled, Enabled)" in finding.message
    assert _check("Set-NetIPInterface -InterfaceAlias 'Ethernet' -Forwarding 'enabled'") == []
    assert _check("Set-NetIPInterface -InterfaceAlias 'Ethernet' -Forwarding $wanted") == []


def test_an_encoding_windows_powershell_5_1_does_not_have() -> None:
    finding = _one("Add-Content -LiteralPath 'x' -Value 'y' -Encoding utf8NoBOM")
    assert finding.parameter == "Encoding" and "not an accepted value" in finding.message


def test_a_missing_mandatory_parameter() -> None:
    finding = _one("New-NetRoute -InterfaceAlias 'Ethernet' -NextHop '10.0.0.1'")
    assert "mandatory" in finding.message and "-DestinationPrefix" in finding.message
    assert _check("New-NetRoute '10.244.1.0/24' -InterfaceAlias 'Ethernet'") == []  # given by position


def test_mandatory_parameters_may_come_from_the_pipeline() -> None:
    assert "mandatory" in _one("ConvertFrom-Json").message
    assert _check("$text | ConvertFrom-Json") == []


def test_own_function_mandatory_and_validate_set() -> None:
    script = """function Set-Mode {
    param(
        [Parameter(Mandatory = $true)]
        [ValidateSet('start', 'stop')]
        [string]$Mode
    )
}
"""
    assert _check(script + "Set-Mode -Mode 'stop'\nSet-Mode start\n") == []
    assert "mandatory" in _one(script + "Set-Mode\n").message
    assert _one(script + "Set-Mode -Mode restart\n").parameter == "Mode"
