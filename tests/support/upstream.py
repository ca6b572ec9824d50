"""Build and run the upstream validators: Kubernetes', containerd's, libcni's and flannel's own code.

Tier: render + upstream validators. Real: the Go programs under ``tests/upstream/`` built from pinned
Go modules (``go.mod``/``go.sum`` there) by the local Go toolchain; kubeadm itself for kubeadm documents.
Emulated: nothing here; what each Go program replicates (build-tagged Windows code) is said in its source.

Each module is built with ONE ``go build`` (``-trimpath -ldflags=-s -w``) into ``tests/upstream/.bin/``
(gitignored), at most once per input set: a stamp holds the hash of the module's go.mod, go.sum, its
``validate/*.go`` and ``go version``; a matching stamp reuses the binaries, otherwise Go's own caches
(GOCACHE, GOMODCACHE) make the rebuild incremental. A file lock serialises concurrent builders.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hybridctl.versions import DEFAULT_VERSION, RELEASES, KubeVersion
from tests.support.ci import require_tool
from tests.upstream.build import go_env

UPSTREAM = Path(__file__).resolve().parents[1] / "upstream"
BIN = UPSTREAM / ".bin"
KUBEADM = "k8s.io/kubernetes/cmd/kubeadm"
KUBE_KINDS = {"kubelet-config", "kubelet-args", "kube-proxy-config", "kube-proxy-args"}
NET_KINDS = {"cni-conf", "cni-conflist", "flannel-net-conf"}
# Every module with a validator build, and the upstream commands built beside ./validate.
MODULES: dict[str, tuple[str, ...]] = {
    "net": (),
    "containerd-2": (),
    "containerd-1.7": (),
    # One Kubernetes module per supported minor (tests/upstream/k8s-1.<minor>): each judged by its own code.
    **{f"k8s-1.{release.minor}": (KUBEADM,) for release in reversed(RELEASES)},
}


@dataclass(frozen=True)
class Check:
    """One thing to judge: a file's text or a command line, with where it comes from."""

    kind: str
    host: str | None
    path: str
    os: str = "linux"
    data: str = ""
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The upstream answer for one check."""

    check: Check
    ok: bool
    error: str = ""
    warnings: tuple[str, ...] = field(default=())
    detail: str = ""

    def describe(self) -> str:
        """``<kind> of <path> (host <host>) refused by upstream code: <error>``."""
        return (
            f"{self.check.kind} of {self.check.path} (host {self.check.host}) refused upstream: {self.error}"
        )


def go_tool() -> str:
    """The ``go`` executable; skip locally or fail in CI when Go is missing."""
    hint = "the upstream validators are built from Go modules (tests/upstream); Go 1.26 in /usr/local/go"
    return require_tool("go", hint, also_in=("/usr/local/go/bin",))


def module_source(module: str, version: str) -> Path:
    """The source tree of Go module ``module`` at ``version``, from the module proxy (``go mod download``)."""
    command = [go_tool(), "mod", "download", "-json", f"{module}@{version}"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return Path(json.loads(done.stdout)["Dir"])


def _stamp(go: str, module: Path) -> str:
    digest = hashlib.sha256()
    digest.update(subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout.encode())
    digest.update(" ".join(_version_ldflags(module)).encode())
    digest.update(json.dumps(go_env(), sort_keys=True).encode())
    sources = [module / "go.mod", module / "go.sum", *sorted((module / "validate").glob("*.go"))]
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _version_ldflags(module: Path) -> list[str]:
    """``-X`` flags that give kubeadm its release version, as Kubernetes' build does (hack/lib/version.sh);
    without them kubeadm calls itself v0.0.0-master and skips its version-skew checks."""
    for line in (module / "go.mod").read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["k8s.io/kubernetes"] and len(parts) >= 2 and parts[1].startswith("v1."):
            version = parts[1]
            major, minor = version[1:].split(".")[:2]
            base = "k8s.io/component-base/version"
            return [
                f"-X {base}.gitVersion={version}",
                f"-X {base}.gitMajor={major}",
                f"-X {base}.gitMinor={minor}",
            ]
    return []


def build_module(go: str, name: str, tools: Sequence[str] = ()) -> Path:
    """Build ``tests/upstream/<name>``'s ``./validate`` (and ``tools``) once; the output directory."""
    module = UPSTREAM / name
    out = BIN / name
    out.mkdir(parents=True, exist_ok=True)
    with open(BIN / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = _stamp(go, module)
        stamp_file = out / "stamp"
        if stamp_file.exists() and stamp_file.read_text() == stamp:
            return out
        ldflags = " ".join(["-s", "-w", *_version_ldflags(module)])
        command = [go, "build", "-trimpath", f"-ldflags={ldflags}", "-o", f"{out}/", "./validate", *tools]
        env = {**os.environ, **go_env()}
        result = subprocess.run(command, cwd=module, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            pytest.fail(f"building the upstream validators of {name} failed:\n{result.stderr[-4000:]}")
        stamp_file.write_text(stamp)
    return out


class Validators:
    """The upstream validators, built on first use and cached for the session."""

    def __init__(self, go: str) -> None:
        self._go = go
        self._built: dict[str, Path] = {}

    def _module(self, name: str, tools: Sequence[str] = ()) -> Path:
        if name not in self._built:
            if not (UPSTREAM / name / "go.mod").exists():
                pytest.fail(f"no upstream validator module tests/upstream/{name}")
            self._built[name] = build_module(self._go, name, tools)
        return self._built[name]

    def kube(self, minor: str) -> Path:
        """The binaries (``validate``, ``kubeadm``) built from Kubernetes ``minor`` (``"1.37"``)."""
        name = f"k8s-{minor}"
        if name not in MODULES:
            pytest.fail(
                f"no upstream validator is built for Kubernetes {minor} (tests/support/upstream.py MODULES)"
            )
        return self._module(name, MODULES[name])

    def judge(self, checks: Iterable[Check], kube_minor: str, containerd_major: int) -> list[Verdict]:
        """Every check judged by the upstream code of the given Kubernetes minor and containerd line."""
        groups: dict[Path, list[Check]] = {}
        kubeadm: list[Check] = []
        for check in checks:
            if check.kind == "kubeadm":
                kubeadm.append(check)
            else:
                groups.setdefault(self._binary(check.kind, kube_minor, containerd_major), []).append(check)
        verdicts = [v for binary, group in groups.items() for v in _run_batch(binary, group)]
        if kubeadm:
            binary = self.kube(kube_minor) / "kubeadm"
            verdicts += [_kubeadm_validate(binary, check) for check in kubeadm]
        return verdicts

    def _binary(self, kind: str, kube_minor: str, containerd_major: int) -> Path:
        if kind in KUBE_KINDS:
            return self.kube(kube_minor) / "validate"
        if kind in NET_KINDS:
            return self._module("net") / "validate"
        if kind in ("containerd-hosts", "cri-image-ref"):
            # containerd 1.7 reads the same hosts.toml format, and its CRI names images with the same
            # distribution/reference call: both are judged by the 2.x code.
            return self._module("containerd-2") / "validate"
        if kind == "containerd-config":
            return self._module("containerd-2" if containerd_major >= 2 else "containerd-1.7") / "validate"
        raise ValueError(f"no upstream validator for {kind!r}")


def _run_batch(binary: Path, checks: list[Check]) -> list[Verdict]:
    payload = [{"kind": c.kind, "os": c.os, "data": c.data, "args": list(c.args)} for c in checks]
    result = subprocess.run(
        [str(binary)], input=json.dumps(payload), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"{binary} crashed: {result.stderr[-4000:]}")
    answers = json.loads(result.stdout)
    return [
        Verdict(c, a["ok"], a.get("error", ""), tuple(a.get("warnings") or ()), a.get("detail", ""))
        for c, a in zip(checks, answers, strict=True)
    ]


def _kubeadm_validate(binary: Path, check: Check) -> Verdict:
    """``kubeadm config validate --config FILE``: kubeadm's own decoding, defaulting and validation."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(check.data)
    try:
        result = subprocess.run(
            [str(binary), "config", "validate", "--config", handle.name],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(handle.name)
    if result.returncode == 0:
        return Verdict(check, True)
    return Verdict(check, False, (result.stderr or result.stdout).strip().replace(handle.name, check.path))


def refused(verdicts: Iterable[Verdict]) -> list[str]:
    """The message of every refused check (empty when upstream accepts everything)."""
    return [v.describe() for v in verdicts if not v.ok]


_SHARED: list[Validators] = []


def shared_validators() -> Validators:
    """The process's one ``Validators`` (Go required: skip locally, fail in CI)."""
    if not _SHARED:
        _SHARED.append(Validators(go_tool()))
    return _SHARED[0]


@pytest.fixture(scope="session")
def upstream_validators() -> Validators:
    """The session's upstream validators (Go required: skip locally, fail in CI)."""
    return shared_validators()


@dataclass(frozen=True)
class UpstreamJudge:
    """Judges what a simulated agent is about to start with, as the real agent's own code would."""

    validators: Validators
    kube_minor: str
    containerd_major: int

    def refusal(self, check: Check) -> str | None:
        """The upstream error for ``check``, or None when upstream accepts it."""
        (verdict,) = self.validators.judge([check], self.kube_minor, self.containerd_major)
        return None if verdict.ok else verdict.describe()


def default_judge() -> UpstreamJudge:
    """A judge for hybridctl's default Kubernetes release and its default containerd line."""
    version = KubeVersion.parse(DEFAULT_VERSION)
    release = next(r for r in RELEASES if r.minor == version.minor)
    containerd_major = int(release.containerd_default.split(".")[0])
    return UpstreamJudge(shared_validators(), f"{version.major}.{version.minor}", containerd_major)


def main() -> None:
    """Build every validator module, printing the time each ``go build`` took (used by .ci/run)."""
    go = go_tool()
    for name, tools in MODULES.items():
        start = time.monotonic()
        out = build_module(go, name, tools)
        print(f"upstream validators: {name} -> {out} in {time.monotonic() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main()
