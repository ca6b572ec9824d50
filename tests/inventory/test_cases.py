"""Unit tier: every inventory under ``cases/`` goes through the real ``hybridctl validate`` (in process).

Real: YAML parsing, schema and semantic validation, the typer CLI and its exit codes. Simulated: nothing;
environment variables are set per test. Each case file says what it expects in ``# expect:`` lines:
``# expect: SEVERITY @MARKER: [PATH: ]WORDS | MORE WORDS``, where ``@MARKER`` names the line that carries
the comment ``# @MARKER`` (``@none`` for a problem without a line). Every problem shown must be expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.inventory.helpers import CASES, SECRET, TEST_ENV, Shown, cli, shown_problems
from tests.support.inventory import STAND_IN_KEY

_EXPECT = re.compile(
    r"^# expect: (?P<severity>error|warning) @(?P<marker>\w+): (?:(?P<path>\S+): )?(?P<words>.*)$"
)


@dataclass
class Expected:
    """One problem a case file expects."""

    severity: str
    line: int | None
    path: str | None
    words: list[str]

    def matches(self, shown: Shown) -> bool:
        """True when ``shown`` is this problem: same severity, line, path and all the words."""
        if (shown.severity, shown.line) != (self.severity, self.line):
            return False
        if self.path is not None and not shown.text.startswith(f"{self.path}: "):
            return False
        return all(word in shown.text for word in self.words)


def expectations(path: Path) -> list[Expected]:
    """The ``# expect:`` lines of a case file, with markers resolved to line numbers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    markers = {m.group(1): n for n, text in enumerate(lines, 1) if (m := re.search(r"#\s*@(\w+)\s*$", text))}
    found = []
    for text in lines:
        match = _EXPECT.match(text)
        if match:
            marker = match.group("marker")
            line = None if marker == "none" else markers[marker]
            words = [w.strip() for w in match.group("words").split(" | ")]
            found.append(Expected(match.group("severity"), line, match.group("path"), words))
    assert found, f"{path.name} has no '# expect:' line"
    return found


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    # the cases name ~/.ssh/id_ed25519 (and ./winrm-ca.pem, shipped beside them): validate checks both exist
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_ed25519").write_bytes(STAND_IN_KEY.read_bytes())
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("HYBRIDCTL_TEST_UNSET", raising=False)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_case_reports_exactly_what_it_expects(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = expectations(case)
    result = cli(capsys, "validate", "-i", str(case))
    shown = shown_problems(result.stderr)
    for want in expected:
        assert any(want.matches(s) for s in shown), f"missing {want}\nin:\n{result.stderr}"
    assert len(shown) == len(expected), f"unexpected problems:\n{result.stderr}"
    assert result.code == (3 if any(e.severity == "error" for e in expected) else 0)
    assert "Traceback" not in result.stderr + result.stdout
    assert SECRET not in result.stderr + result.stdout


def test_there_are_enough_invalid_cases() -> None:
    invalid = [c for c in CASES if any(e.severity == "error" for e in expectations(c))]
    assert len(invalid) >= 30
