"""Tier: unit. What tests/upstream/build.py asks Go for; nothing is built or run here."""

from __future__ import annotations

from pathlib import Path

from tests.upstream import build


def test_kubernetes_is_one_build_stamped_like_a_release() -> None:
    """All seven commands in one go build; version variables set as hack/lib/version.sh sets them."""
    kube = build.kubernetes("1.37.2")
    assert kube.binaries() == list(build.KUBERNETES_COMMANDS)
    flags = " ".join(kube.ldflags)
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion=v1.37.2" in flags
        assert f"-X {package}.gitMinor=37" in flags
    argv = kube.argv(build.BIN / "out")
    assert argv[:3] == ["go", "build", "-trimpath"] and argv[3].startswith("-ldflags=-s -w ")
    assert kube.module.name == "k8s-1.37"


def test_binary_names_follow_go_build_rules() -> None:
    """go build -o DIR/ names a /vN module's binary after the element before it (etcd's 'server')."""
    builds = build.every_build()
    assert builds["etcd"].binaries() == ["etcd"]
    assert builds["containerd"].binaries() == ["containerd", "containerd-shim-runc-v2", "ctr"]
    assert "bridge" in builds["cni-plugins"].binaries()


def test_the_stamp_changes_with_the_pin(tmp_path: Path) -> None:
    """A different go.sum (another pin) means another stamp, so the build is not skipped."""
    (tmp_path / "go.mod").write_text("module x\n")
    (tmp_path / "go.sum").write_text("a\n")
    first = build.Build("x", tmp_path, ("x",)).stamp()
    (tmp_path / "go.sum").write_text("b\n")
    assert build.Build("x", tmp_path, ("x",)).stamp() != first


def test_the_windows_node_agent_shares_the_kubernetes_build() -> None:
    """The agent is built in the Kubernetes module with the same environment and linker flags, so Go's
    build cache already holds every Kubernetes package it links; its own sources are in its stamp."""
    agent, kube = build.winagent("1.37.2"), build.kubernetes("1.37.2")
    assert agent.module == kube.module and agent.ldflags == kube.ldflags
    assert agent.packages == ("hybridctl.test/upstream/k8s-1.37/winagent",)
    assert (kube.module / "winagent" / "main.go").is_file()
    assert agent.sources == (build.HERE / "winagent",)
    assert "winagent" in build.every_build()
