"""Unit tier: secrets never reach a problem's message, hint or JSON form, whatever goes wrong around them.

Real: YAML parsing, ``${env:}`` resolution, validation, masking, the CLI's human and JSON output (run in
process). Simulated: the environment (each test sets the variables it needs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridctl.inventory.load import LoadResult
from tests.inventory.helpers import EXAMPLE_TEXT, cli, edit, load
from tests.support.inventory import EXAMPLE_PINS

SECRET = "Tr1cky'Se\\cr\"et-é-$(id)"
ENV = {"WINRM_PASSWORD": SECRET}


def _all_output(result: LoadResult) -> str:
    """Everything a user could see: the problems as text, as JSON (escaped and not), and require()'s error."""
    text = "\n".join(str(p) for p in result.problems)
    as_json = [p.to_json() for p in result.problems]
    shown = [text, json.dumps(as_json), json.dumps(as_json, ensure_ascii=False)]
    try:
        result.require()
    except Exception as exc:  # InventoryError: the message lists the errors
        shown.append(str(exc))
    return "\n".join(shown)


def _leaks(output: str, secret: str) -> bool:
    forms = {
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    return any(form in output for form in forms)


@pytest.mark.parametrize(
    ("where", "replacement"),
    [
        ("address: 192.168.10.11", "address: ${env:WINRM_PASSWORD}"),
        ("name: lin1", "name: '${env:WINRM_PASSWORD}'"),
        ("example.com/pool: general", "example.com/pool: '${env:WINRM_PASSWORD}'"),
        (
            "id_rsa\n    - name: lin1",
            'id_rsa\n        privateKeyFile: "${env:WINRM_PASSWORD}\\n"\n    - name: lin1',
        ),
        ("  artifacts:\n", "  artifacts:\n    source: mirror\n    mirrorUrl: '${env:WINRM_PASSWORD}'\n"),
        ("dnsDomain: cluster.local", "dnsDomain: '${env:WINRM_PASSWORD}'"),
        ("version: 1.37.2", "version: '${env:WINRM_PASSWORD}'"),
        ("user: admin", "user: '${env:WINRM_PASSWORD}'"),
    ],
    ids=["address", "name", "label", "key-file", "mirror", "dns-domain", "version", "user"],
)
def test_an_environment_value_in_a_checked_field_is_never_shown(where: str, replacement: str) -> None:
    result = load(edit(EXAMPLE_TEXT, where, replacement), env=ENV)
    assert result.errors, "the edit should make the inventory invalid"
    assert not _leaks(_all_output(result), SECRET)


def test_a_literal_password_is_not_shown_when_other_things_fail() -> None:
    literal = "Literal-P4ssw0rd"
    text = EXAMPLE_TEXT.replace("${env:WINRM_PASSWORD}", literal)
    text = edit(text, "  artifacts:\n", f"  artifacts:\n    mirrorUrl: {literal}\n")
    text = edit(text, "user: admin", f"user: {literal}$")
    result = load(text, env=EXAMPLE_PINS)
    assert len(result.errors) == 2
    assert not _leaks(_all_output(result), literal)


def test_a_duplicated_password_key_does_not_quote_either_value() -> None:
    text = edit(
        EXAMPLE_TEXT,
        "        password: ${env:WINRM_PASSWORD}",
        "        password: First-S3cret\n        password: Second-S3cret",
    )
    output = _all_output(load(text, env=ENV))
    assert "duplicate key 'password'" in output
    assert "First-S3cret" not in output and "Second-S3cret" not in output


def test_a_broken_reference_does_not_quote_what_follows_it() -> None:
    text = EXAMPLE_TEXT.replace("${env:WINRM_PASSWORD}", "pre${Secret-Tail-Value")
    output = _all_output(load(text, env=ENV))
    assert "does not start an ${env:NAME} reference" in output
    assert "Secret-Tail-Value" not in output


def test_a_password_of_the_wrong_type_is_not_quoted() -> None:
    text = EXAMPLE_TEXT.replace("${env:WINRM_PASSWORD}", "123456789")
    output = _all_output(load(text, env={}))
    assert "put the value in quotes" in output
    assert "123456789" not in output


def test_the_cli_never_prints_the_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WINRM_PASSWORD", SECRET)
    path = tmp_path / "inv.yaml"
    path.write_text(
        edit(EXAMPLE_TEXT, "address: 192.168.10.11", "address: ${env:WINRM_PASSWORD}"), encoding="utf-8"
    )
    human = cli(capsys, "validate", "-i", str(path))
    as_json = cli(capsys, "validate", "-i", str(path), "--output", "json")
    assert human.code == as_json.code == 3
    for output in (human.stdout + human.stderr, as_json.stdout + as_json.stderr):
        assert "is not an IP address" in output
        assert not _leaks(output, SECRET)
