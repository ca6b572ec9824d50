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

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridctl.render import RuntimeValues, render_all
from hybridctl.render import api as render_api
from hybridctl.render import engine as render_engine
from hybridctl.resources import templates_dir
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


@pytest.fixture
def templates_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the shipped templates that rendering reads instead of the originals."""
    copy = tmp_path / "templates"
    shutil.copytree(templates_dir(), copy)
    monkeypatch.setattr(render_engine, "templates_dir", lambda: copy)
    monkeypatch.setattr(render_api, "templates_dir", lambda: copy)
    render_engine.environment.cache_clear()
    yield copy
    render_engine.environment.cache_clear()


def _plant(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is no longer in {path.name}: update the mutation"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _only(found: list[Finding], script_suffix: str, command: str, parameter: str) -> None:
    assert found, "the planted mistake passed the check"
    for finding in found:
        assert finding.script.endswith(script_suffix), str(finding)
        assert (finding.command, finding.parameter) == (command, parameter), str(finding)
    assert script_suffix in str(found[0]) and command in str(found[0]) and parameter in str(found[0])


def test_mutation_misspelt_new_netroute_parameter_fails(templates_copy: Path) -> None:
    routes = templates_copy / "windows" / "hybridctl" / "routes.ps1.j2"
    _plant(routes, "New-NetRoute -DestinationPrefix ", "New-NetRoute -DestinationPrefx ")
    found = findings(scripts("example"))
    _only(found, "/routes.ps1", "New-NetRoute", "DestinationPrefx")
    assert "no such parameter" in found[0].message


def test_mutation_switch_given_a_value_fails(templates_copy: Path) -> None:
    script = templates_copy / "windows" / "scripts" / "win" / "service-control.ps1"
    _plant(script, "Stop-Service -Name $Name -Force\n", "Stop-Service -Name $Name -Force $true\n")
    found = findings(scripts("example"))
    _only(found, "scripts/windows/win/service-control.ps1", "Stop-Service", "Force")
    assert "switch given a separate value $true" in found[0].message


def test_the_unmutated_copy_passes(templates_copy: Path) -> None:
    assert findings(scripts("example")) == []
