"""Maintenance tool: rebuild ``cmdlets.json`` from Microsoft's cmdlet reference (not a test).

Usage::

    python -m tests.powershell.extract_signatures WINDOWS_DOCS_GIT_DIR POWERSHELL_DOCS_GIT_DIR > cmdlets.json

The two arguments are git directories of ``MicrosoftDocs/windows-powershell-docs`` and
``MicrosoftDocs/PowerShell-Docs``; the files are read from their ``HEAD`` commit with ``git show`` and never
copied. From each cmdlet page it reads the SYNTAX block of every parameter set (names, which are
switches, which are positional, which are mandatory: not in brackets) and the PARAMETERS section
(aliases, ``SwitchParameter`` types, "Accepted values", the Position that orders the positional ones, and
the sets each parameter belongs to, which completes SYNTAX where it omits provider parameters). A Windows
Server cmdlet is read from the 2019, 2022 and 2025 docsets and only what all three document is kept (a
parameter mandatory in any of them stays mandatory), so a call the table accepts is documented on every
supported Windows Server.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

WINDOWS_DOCS = "MicrosoftDocs/windows-powershell-docs"
POWERSHELL_DOCS = "MicrosoftDocs/PowerShell-Docs"
SERVER_DOCSETS = ("winserver2019-ps", "winserver2022-ps", "winserver2025-ps")

# Module folder per cmdlet; ServerManager is filed under the Migration folder in the 2019 docset.
SERVER_CMDLETS = {
    "NetTCPIP": ("Get-NetRoute", "New-NetRoute", "Remove-NetRoute", "Set-NetIPInterface"),
    "NetSecurity": (
        "Get-NetFirewallRule",
        "Get-NetFirewallPortFilter",
        "New-NetFirewallRule",
        "Remove-NetFirewallRule",
    ),
    "ScheduledTasks": (
        "Get-ScheduledTask",
        "Get-ScheduledTaskInfo",
        "New-ScheduledTaskAction",
        "New-ScheduledTaskPrincipal",
        "New-ScheduledTaskSettingsSet",
        "New-ScheduledTaskTrigger",
        "Register-ScheduledTask",
        "Start-ScheduledTask",
        "Unregister-ScheduledTask",
    ),
    "ServerManager": ("Get-WindowsFeature", "Install-WindowsFeature", "Uninstall-WindowsFeature"),
}
SERVER_FOLDERS = {"ServerManager": ("ServerManager", "Microsoft.Windows.ServerManager.Migration")}

CORE_CMDLETS = {
    "Microsoft.PowerShell.Core": ("ForEach-Object", "Where-Object", "Out-Null"),
    "Microsoft.PowerShell.Management": (
        "Add-Content",
        "Copy-Item",
        "Get-ChildItem",
        "Get-Content",
        "Get-HotFix",
        "Get-Item",
        "Get-ItemProperty",
        "Get-Service",
        "Join-Path",
        "Move-Item",
        "New-Item",
        "Remove-Item",
        "Remove-ItemProperty",
        "Restart-Service",
        "Set-ItemProperty",
        "Set-Service",
        "Split-Path",
        "Start-Service",
        "Stop-Service",
        "Test-Path",
    ),
    "Microsoft.PowerShell.Utility": (
        "Add-Type",
        "ConvertFrom-Json",
        "ConvertTo-Json",
        "Get-Date",
        "Get-FileHash",
        "Invoke-WebRequest",
        "New-Object",
        "New-TimeSpan",
        "Out-File",
        "Out-String",
        "Start-Sleep",
        "Write-Output",
        "Write-Progress",
    ),
    "Microsoft.PowerShell.Archive": ("Expand-Archive",),
    "CimCmdlets": ("Get-CimInstance",),
    "Microsoft.PowerShell.Diagnostics": ("Get-WinEvent",),
}

ABOUT = (
    "Documented syntax of every cmdlet hybridctl's PowerShell scripts call, for Windows PowerShell 5.1 on"
    " Windows Server 2019-2025, read from Microsoft's cmdlet reference (the SYNTAX and PARAMETERS sections"
    " of each page listed in 'sources'). A Windows Server cmdlet keeps only what all three docsets list."
)

# Windows PowerShell 5.1's common parameters (ProgressAction is 7.4+); WhatIf and Confirm come with the
# cmdlet's own SYNTAX when it supports ShouldProcess.
COMMON_SOURCE = "reference/5.1/Microsoft.PowerShell.Core/About/about_CommonParameters.md"
COMMON_PARAMETERS = {
    "Debug": {"aliases": ["db"], "switch": True},
    "ErrorAction": {"aliases": ["ea"], "switch": False},
    "ErrorVariable": {"aliases": ["ev"], "switch": False},
    "InformationAction": {"aliases": ["infa"], "switch": False},
    "InformationVariable": {"aliases": ["iv"], "switch": False},
    "OutBuffer": {"aliases": ["ob"], "switch": False},
    "OutVariable": {"aliases": ["ov"], "switch": False},
    "PipelineVariable": {"aliases": ["pv"], "switch": False},
    "Verbose": {"aliases": ["vb"], "switch": True},
    "WarningAction": {"aliases": ["wa"], "switch": False},
    "WarningVariable": {"aliases": ["wv"], "switch": False},
}

_ELEMENT = re.compile(
    r"\[\[-(?P<opt_pos>\w+)\]\s*<[^>]+>\]"
    r"|\[-(?P<req_pos>\w+)\]\s*<[^>]+>"
    r"|\[-(?P<opt_named>\w+)\s+<[^>]+>\]"
    r"|\[-(?P<opt_switch>\w+)\]"
    r"|-(?P<req_named>\w+)\s+<[^>]+>"
    r"|-(?P<req_switch>\w+)"
    r"|\[<CommonParameters>\]"
)


def _git_show(git_dir: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", git_dir, "show", f"HEAD:{path}"], capture_output=True, text=True, check=True
    ).stdout


def _head(git_dir: str) -> str:
    return subprocess.run(
        ["git", "-C", git_dir, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _exists(git_dir: str, path: str) -> bool:
    result = subprocess.run(
        ["git", "-C", git_dir, "cat-file", "-e", f"HEAD:{path}"], capture_output=True, check=False
    )
    return result.returncode == 0


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {title}\s*$(.*?)(?=^## )", text, re.M | re.S)
    if not match:
        raise ValueError(f"no {title} section")
    return match.group(1)


def parse_syntax(text: str) -> dict[str, dict[str, Any]]:
    """Parameter sets of a cmdlet page: name -> {parameters, switches, positional, common}."""
    sets: dict[str, dict[str, Any]] = {}
    chunks = re.split(r"^### (.+)$", _section(text, "SYNTAX"), flags=re.M)
    pairs = list(zip(chunks[1::2], chunks[2::2], strict=True)) if len(chunks) > 1 else [("", chunks[0])]
    for heading, body in pairs:
        block = re.search(r"```\w*\n(.*?)```", body, re.S)
        if not block:
            continue
        name = heading.replace("(Default)", "").strip() or "__AllParameterSets"
        line = " ".join(block.group(1).split())
        sets[name] = _parse_set(line.split(" ", 1)[1] if " " in line else "")
        sets[name]["default"] = "(Default)" in heading or not heading
    return sets


def _parse_set(line: str) -> dict[str, Any]:
    parameters: list[str] = []
    switches: list[str] = []
    positional: list[str] = []
    mandatory: list[str] = []
    common = False
    for match in _ELEMENT.finditer(line):
        kind = match.lastgroup
        if kind is None:
            common = True
            continue
        name = match.group(kind)
        parameters.append(name)
        if kind.endswith("switch"):
            switches.append(name)
        if kind.endswith("pos"):
            positional.append(name)
        if kind.startswith("req"):
            mandatory.append(name)
    return {
        "parameters": parameters,
        "switches": switches,
        "positional": positional,
        "mandatory": mandatory,
        "common": common,
    }


def parse_parameters(text: str) -> dict[str, dict[str, Any]]:
    """Each documented parameter: its aliases and whether its type is SwitchParameter."""
    found: dict[str, dict[str, Any]] = {}
    params = _section(text + "\n## END\n", "PARAMETERS")
    for chunk in re.split(r"^### ", params, flags=re.M)[1:]:
        head = chunk.split("\n", 1)[0].strip()
        if not head.startswith("-"):
            continue
        name = head.lstrip("-").strip()
        aliases: list[str] = []
        for value in re.findall(r"^Aliases:[ \t]*(.*)$", chunk, re.M):
            aliases += [a.strip() for a in value.split(",") if a.strip()]
        types = re.findall(r"^Type:[ \t]*(.*)$", chunk, re.M)
        switch = any(t.strip().endswith("SwitchParameter") for t in types)
        sets: list[str] = []
        for value in re.findall(r"^Parameter Sets:[ \t]*(.*)$", chunk, re.M):
            sets += [s.strip() for s in value.split(",") if s.strip()]
        values: list[str] = []
        for value in re.findall(r"^Accepted values:[ \t]*(.*)$", chunk, re.M):
            values += [v.strip() for v in value.split(",") if v.strip() and v.strip() not in values]
        found[name] = {
            "aliases": sorted(set(aliases), key=str.lower),
            "switch": switch,
            "sets": sets,
            "values": values,
            "positions": _positions(chunk),
        }
    return found


def _positions(chunk: str) -> dict[str, int]:
    """Set name (or "(All)") -> the documented Position, from each yaml block of a parameter."""
    found = {}
    for block in re.findall(r"```yaml\n(.*?)```", chunk, re.S):
        sets = re.search(r"^Parameter Sets:[ \t]*(.*)$", block, re.M)
        position = re.search(r"^Position:[ \t]*(\d+)", block, re.M)
        if sets and position:
            for name in (s.strip() for s in sets.group(1).split(",") if s.strip()):
                found[name] = int(position.group(1))
    return found


def _merged_sets(text: str) -> dict[str, dict[str, Any]]:
    """The SYNTAX sets, completed with what PARAMETERS says (it lists dynamic parameters SYNTAX can omit)."""
    sets = parse_syntax(text)
    for name, info in parse_parameters(text).items():
        targets = list(sets) if "(All)" in info["sets"] else [s for s in info["sets"] if s in sets]
        for target in targets:
            if name not in sets[target]["parameters"]:
                sets[target]["parameters"].append(name)
            if info["switch"] and name not in sets[target]["switches"]:
                sets[target]["switches"].append(name)
    _order_positionals(sets, parse_parameters(text))
    return sets


def _order_positionals(sets: dict[str, dict[str, Any]], documented: dict[str, dict[str, Any]]) -> None:
    """Sort each set's positional parameters by their documented Position (SYNTAX order breaks ties)."""
    for set_name, info in sets.items():

        def position(name: str, set_name: str = set_name) -> int:
            positions = documented.get(name, {}).get("positions", {})
            for key in (set_name, "(All)"):
                if key in positions:
                    return int(positions[key])
            # Provider sets ("Path  - FileSystem provider") are named differently in PARAMETERS.
            return min(positions.values(), default=1000)

        info["positional"] = sorted(info["positional"], key=position)


def _entry(texts: list[str], module: str, sources: list[str]) -> dict[str, Any]:
    parsed = [(_merged_sets(t), parse_parameters(t)) for t in texts]
    sets = _intersect_sets([p[0] for p in parsed])
    documented = parsed[0][1]
    in_sets = {n for s in sets.values() for n in s["parameters"]}
    parameters = {}
    for name in sorted(in_sets, key=str.lower):
        info = documented.get(name, {"aliases": [], "switch": False})
        switch = info["switch"] or any(name in s["switches"] for s in sets.values())
        parameters[name] = {"aliases": info["aliases"], "switch": switch}
        values = _common_values([p[1].get(name, {}).get("values", []) for p in parsed])
        if values:
            parameters[name]["values"] = values
    online = re.search(r"^online version:\s*(\S+)", texts[0], re.M)
    return {
        "module": module,
        "reference": re.sub(r"[&?]wt\.mc_id=[^&]*", "", online.group(1), flags=re.I) if online else None,
        "sources": sources,
        "common_parameters": all(s["common"] for s in sets.values()),
        "parameters": parameters,
        "parameter_sets": {
            name: {
                "default": s["default"],
                "parameters": s["parameters"],
                "positional": s["positional"],
                "mandatory": s["mandatory"],
            }
            for name, s in sets.items()
        },
    }


def _intersect_sets(versions: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Parameter sets documented in every version, each with the parameters every version lists."""
    first = versions[0]
    kept = {}
    for name, info in first.items():
        if not all(name in other for other in versions[1:]):
            continue
        common_names = [
            p for p in info["parameters"] if all(p in o[name]["parameters"] for o in versions[1:])
        ]
        positional = [p for p in info["positional"] if all(p in o[name]["positional"] for o in versions[1:])]
        mandatory = [p for p in common_names if any(p in o[name]["mandatory"] for o in versions)]
        kept[name] = {**info, "parameters": common_names, "positional": positional, "mandatory": mandatory}
    return kept


def _common_values(per_version: list[list[str]]) -> list[str]:
    """Accepted values every version documents; empty when any version lists none (not restricted)."""
    if not all(per_version):
        return []
    return [v for v in per_version[0] if all(v.lower() in {x.lower() for x in o} for o in per_version[1:])]


def build(windows_dir: str, powershell_dir: str) -> dict[str, Any]:
    """The whole table, with the commits it was read from."""
    win_head, ps_head = _head(windows_dir), _head(powershell_dir)
    cmdlets: dict[str, Any] = {}
    for module, names in SERVER_CMDLETS.items():
        for name in names:
            paths = [_server_path(windows_dir, docset, module, name) for docset in SERVER_DOCSETS]
            texts = [_git_show(windows_dir, p) for p in paths]
            urls = [f"https://github.com/{WINDOWS_DOCS}/blob/{win_head}/{p}" for p in paths]
            cmdlets[name] = _entry(texts, module, urls)
    for module, names in CORE_CMDLETS.items():
        for name in names:
            path = f"reference/5.1/{module}/{name}.md"
            url = f"https://github.com/{POWERSHELL_DOCS}/blob/{ps_head}/{path}"
            cmdlets[name] = _entry([_git_show(powershell_dir, path)], module, [url])
    about = f"https://github.com/{POWERSHELL_DOCS}/blob/{ps_head}/{COMMON_SOURCE}"
    return {
        "about": ABOUT,
        "generated_by": "python -m tests.powershell.extract_signatures (see its docstring)",
        "common_parameters": {"source": about, "parameters": COMMON_PARAMETERS},
        "cmdlets": dict(sorted(cmdlets.items(), key=lambda kv: kv[0].lower())),
    }


def dumps(table: dict[str, Any]) -> str:
    """JSON with every innermost list or object on one line, so a parameter or set reads as one row."""
    text = json.dumps(table, indent=1)
    innermost = re.compile(r"([\[{])\n\s*((?:[^\[\]{}]|\[[^\[\]{}\n]*\])*?)\n\s*([\]}])")
    while True:
        joined = innermost.sub(lambda m: m.group(1) + " ".join(m.group(2).split()) + m.group(3), text)
        if joined == text:
            return text + "\n"
        text = joined


def _server_path(git_dir: str, docset: str, module: str, name: str) -> str:
    for folder in SERVER_FOLDERS.get(module, (module,)):
        path = f"docset/{docset}/{folder}/{name}.md"
        if _exists(git_dir, path):
            return path
    raise FileNotFoundError(f"{name} is not documented in {docset}")


if __name__ == "__main__":
    sys.stdout.write(dumps(build(sys.argv[1], sys.argv[2])))
