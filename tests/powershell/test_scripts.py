"""Every PowerShell script hybridctl sends to Windows calls its cmdlets as Microsoft documents them.

Tier: render. Real: Jinja2 and the shipped templates, the tree-sitter PowerShell grammar, and the documented
syntax of each cmdlet for Windows PowerShell 5.1 / Windows Server 2019-2025 (``cmdlets.json``, read from
Microsoft's cmdlet reference; each entry cites its pages). Emulated: PowerShell's parameter binding rules
(``tests/support/ps_signatures.py`` says which). No PowerShell runs.

The scripts are the constant ones (``templates/windows/scripts``) and the rendered ``.ps1`` files of every
shipped example inventory, with and without its sample ``--assume`` file. The mutation tests copy the
templates, plant a mistake, render from the copy and expect the check to name script, cmdlet and parameter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridctl.render import RuntimeValues, render_all
from tests.powershell.conftest import plant
from tests.render import helpers
from tests.support.powershell import invocations
from tests.support.ps_signatures import TABLE, Finding, check_script, load_table

SHIPPED = sorted(p.stem for p in (helpers.ROOT / "inventories").glob("*.yaml"))


def _values(name: str, assumed: bool) -> RuntimeValues:
    if assumed and (helpers.HERE / "assume" / f"{name}.yaml").is_file():
        return helpers.assume(name)
    return RuntimeValues()


def scripts(name: str, assumed: bool = True) -> dict[str, str]:
    """Every PowerShell script of an inventory's render output (constant and rendered), by output path."""
    files = render_all(helpers.inventory(name), _values(name, assumed))
    return {f.relpath: helpers.text(f) for f in files if f.relpath.lower().endswith(".ps1")}


def findings(texts: dict[str, str]) -> list[Finding]:
    """Every call in these scripts that does not fit its signature."""
    return [finding for relpath, text in texts.items() for finding in check_script(text, relpath)]


@pytest.mark.parametrize("assumed", [True, False], ids=["assumed", "placeholders"])
@pytest.mark.parametrize("name", SHIPPED)
def test_every_call_fits_its_documented_signature(name: str, assumed: bool) -> None:
    texts = scripts(name, assumed)
    assert any(path.startswith("scripts/windows/") for path in texts), "constant scripts missing"
    assert any(path.endswith("/boot.ps1") for path in texts), "rendered scripts missing"
    found = findings(texts)
    assert found == [], "\n".join(str(f) for f in found)


def test_the_table_holds_exactly_the_cmdlets_the_scripts_call() -> None:
    called = set()
    for name in SHIPPED:
        for text in scripts(name).values():
            called |= {inv.name.lower() for inv in invocations(text)}
    stale = sorted(set(load_table()) - called)
    assert stale == [], f"{TABLE.name} documents cmdlets no script calls any more: {stale}"


def test_every_table_entry_cites_microsoft_docs() -> None:
    for signature in load_table().values():
        assert signature.source.startswith(
            ("https://learn.microsoft.com/", "https://github.com/MicrosoftDocs/")
        )
        assert signature.sets, signature.name


# --- mutation tests --------------------------------------------------------------------------------------


def _only(found: list[Finding], script_suffix: str, command: str, parameter: str) -> None:
    assert found, "the planted mistake passed the check"
    for finding in found:
        assert finding.script.endswith(script_suffix), str(finding)
        assert (finding.command, finding.parameter) == (command, parameter), str(finding)
    assert script_suffix in str(found[0]) and command in str(found[0]) and parameter in str(found[0])


def test_mutation_misspelt_new_netroute_parameter_fails(templates_copy: Path) -> None:
    routes = templates_copy / "windows" / "hybridctl" / "routes.ps1.j2"
    plant(routes, "New-NetRoute -DestinationPrefix ", "New-NetRoute -DestinationPrefx ")
    found = findings(scripts("example"))
    _only(found, "/routes.ps1", "New-NetRoute", "DestinationPrefx")
    assert "no such parameter" in found[0].message


def test_mutation_switch_given_a_value_fails(templates_copy: Path) -> None:
    script = templates_copy / "windows" / "scripts" / "win" / "service-control.ps1"
    plant(script, "Stop-Service -Name $Name -Force\n", "Stop-Service -Name $Name -Force $true\n")
    found = findings(scripts("example"))
    _only(found, "scripts/windows/win/service-control.ps1", "Stop-Service", "Force")
    assert "switch given a separate value $true" in found[0].message


def test_the_unmutated_copy_passes(templates_copy: Path) -> None:
    assert findings(scripts("example")) == []
