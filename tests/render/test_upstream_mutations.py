"""Mutation tests: a plausible bug planted in a copy of the templates is refused by upstream code.

Tier: render + upstream validators. Real: Jinja2 over a patched copy of templates/, and the upstream
validators (tests/support/upstream.py): the kubelet's flag set, the kubelet's and kube-proxy's strict
decoders, containerd 2.x's config loader and plugin registry. Emulated: nothing; the only change is the
planted bug. Each test first proves the unpatched template is accepted, then that the bug is refused with
the upstream message, and that the failure names the file and the host.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hybridctl.render import RuntimeValues, engine, render_all
from hybridctl.resources import templates_dir
from tests.render import helpers
from tests.support.upstream import Validators, Verdict
from tests.support.upstream_checks import judge_files


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of templates/ that rendering uses for the test's duration."""
    copy = tmp_path / "templates"
    shutil.copytree(templates_dir(), copy)
    monkeypatch.setattr(engine, "templates_dir", lambda: copy)
    engine.environment.cache_clear()
    yield copy
    engine.environment.cache_clear()


def _plant(root: Path, template: str, old: str, new: str) -> None:
    path = root / template
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{template} no longer contains {old!r}: update the mutation"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _refusals(validators: Validators, inventory: str) -> list[Verdict]:
    cluster = helpers.inventory(inventory)
    files = render_all(cluster, helpers.assume(inventory))
    return [v for v in judge_files(validators, cluster, files) if not v.ok]


def _assert_refused(refusals: list[Verdict], kind: str, path_end: str, upstream_text: str) -> None:
    hits = [v for v in refusals if v.check.kind == kind and v.check.path.endswith(path_end)]
    assert hits, f"no {kind} refusal for *{path_end}; refusals: {[v.describe() for v in refusals]}"
    for verdict in hits:
        message = verdict.describe()
        assert upstream_text in message, message
        assert verdict.check.path in message and f"host {verdict.check.host}" in message


@dataclass(frozen=True)
class Mutation:
    """A planted bug: replace ``old`` by ``new`` in ``template``; expect ``kind`` refused on ``path_end``."""

    template: str
    old: str
    new: str
    kind: str
    path_end: str
    upstream_text: str


MUTATIONS = {
    "kubelet-flag-node-ip-misspelt": Mutation(
        "windows/hybridctl/kubelet-service.json.j2",
        '("--node-ip="',
        '("--nodeip="',
        "kubelet-args",
        "kubelet-service.json",
        "unknown flag: --nodeip",
    ),
    "kubelet-config-unknown-field": Mutation(
        "windows/kubelet/config.yaml.j2",
        "hairpinMode: promiscuous-bridge",
        "hairpinMode: promiscuous-bridge\nhairpinModes: promiscuous-bridge",
        "kubelet-config",
        "config.yaml",
        'unknown field "hairpinModes"',
    ),
    "kube-proxy-winkernel-field-misspelt": Mutation(
        "windows/kube-proxy/kube-proxy-config.yaml.j2",
        "  networkName:",
        "  netwrokName:",
        "kube-proxy-config",
        "kube-proxy-config.yaml",
        'unknown field "winkernel.netwrokName"',
    ),
    "containerd2-runtime-under-wrong-plugin": Mutation(
        "windows/containerd/config.toml.j2",
        "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runhcs-wcow-process]",
        "[plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.runhcs-wcow-process]",
        "containerd-config",
        "config.toml",
        '[plugins."io.containerd.grpc.v1.cri"]',
    ),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_planted_bug_is_refused_upstream(templates: Path, upstream_validators: Validators, name: str) -> None:
    mutation = MUTATIONS[name]
    assert _refusals(upstream_validators, "example") == []
    _plant(templates, mutation.template, mutation.old, mutation.new)
    engine.environment.cache_clear()
    refusals = _refusals(upstream_validators, "example")
    _assert_refused(refusals, mutation.kind, mutation.path_end, mutation.upstream_text)


def test_unpatched_copy_renders_like_the_shipped_templates(templates: Path) -> None:
    """The fixture's copy is what rendering reads (guards the mutation tests against testing nothing)."""
    shipped = render_all(helpers.inventory("example"), RuntimeValues())
    _plant(templates, "windows/kubelet/config.yaml.j2", "hairpinMode:", "hairpinMode:  ")
    engine.environment.cache_clear()
    copied = render_all(helpers.inventory("example"), RuntimeValues())
    changed = [a.relpath for a, b in zip(shipped, copied, strict=True) if a.content != b.content]
    assert changed and all(path.endswith("kubelet/config.yaml") for path in changed)
