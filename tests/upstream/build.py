"""Build the lab's upstream components from their pinned Go modules, once per pin.

Usage: ``python -m tests.upstream.build [NAME ...]`` (default: everything the real lab uses) prints each
output directory, the wall time and the CPU time its build took (CPU time / cores bounds the wall time on
an idle machine; this one is shared). Tests call :func:`ensure`.

- Kubernetes (``k8s-1.<minor>/``): kubeadm, kubelet, kubectl, kube-apiserver, kube-controller-manager,
  kube-scheduler and kube-proxy in one ``go build`` (the packages share most of their code), with the
  version stamped the way Kubernetes' ``hack/lib/version.sh`` stamps release builds, so kubeadm and the
  kubelet report ``v1.37.2`` and not a development version.
- etcd, CoreDNS, containerd (+ ``containerd-shim-runc-v2``, ``ctr``), crane (``lab/<name>/``, see
  ``labmod.py``), and the lab's own ``pause`` sandbox and ``echo`` test server (``lab/pause/``,
  ``lab/echo/``).

Every build is static (``CGO_ENABLED=0``, as upstream ships these binaries; the images have no libc),
``-trimpath -ldflags=-s -w``. runc is the exception, as upstream's: its ``libcontainer/nsenter`` is C, so
it is built the way its Makefile's ``static`` target builds release binaries: ``CGO_ENABLED=1``, tags
``seccomp urfave_cli_no_docs netgo osusergo``, ``-extldflags -static`` (glibc's and libseccomp's static
libraries: Debian's libc6-dev and libseccomp-dev). The seccomp tag matters: kubeadm's static pods ask for
the ``RuntimeDefault`` seccomp profile, and a runc built without it refuses any seccomp config ("seccomp:
config provided but seccomp not supported", ``libcontainer/seccomp/seccomp_unsupported.go``). Outputs go to
``tests/upstream/.bin/<name>/`` (gitignored) with a stamp of the pin (go.mod, go.sum, sources, flags, Go
settings and version); a build whose stamp matches is skipped, and Go's own build cache makes a rebuild
after a pin change incremental.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.upstream.labmod import COMPONENTS

HERE = Path(__file__).resolve().parent
BIN = HERE / ".bin"
DEFAULT_KUBERNETES = "1.37.2"
AGNHOST_KUBERNETES = "1.36.3"
"""The release whose ``test/images/agnhost/VERSION`` is the tag of hybridctl smoke's default image (2.63.0,
``hybridctl.smoke.workloads.AGNHOST_TAG``; tests/smoke/test_agnhost_upstream.py checks the two agree)."""
KUBERNETES_COMMANDS = (
    "kubeadm",
    "kubelet",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
)
RENAMES = {
    "etcd": {"server": "etcd"},  # go names go.etcd.io/etcd/server/v3's binary "server"
    "flannel": {"flannel": "flanneld", "install_conf": "install-conf"},  # as flannel's Dockerfile names them
}
STAMP = ".stamp"


@dataclass(frozen=True)
class Build:
    """One ``go build`` invocation: a module directory, its main packages, extra linker flags."""

    name: str
    module: Path
    packages: tuple[str, ...]
    ldflags: tuple[str, ...] = ()
    renames: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)  # overrides of go_env() for this build only
    sources: tuple[Path, ...] = ()
    """Package directories outside the module directory whose Go files decide the output too."""

    @property
    def output(self) -> Path:
        """Where the binaries end up."""
        return BIN / self.name

    def binaries(self) -> list[str]:
        """File names of the built binaries."""
        return [self.renames.get(name, name) for name in map(_go_binary_name, self.packages)]

    def argv(self, out: Path) -> list[str]:
        """The go command line."""
        ldflags = " ".join(("-s", "-w", *self.ldflags))
        tags = [f"-tags={','.join(self.tags)}"] if self.tags else []
        return ["go", "build", "-trimpath", *tags, f"-ldflags={ldflags}", "-o", f"{out}/", *self.packages]

    def environment(self) -> dict[str, str]:
        """The Go settings of this build: the shared ones (:func:`go_env`) with its own overrides."""
        return {**go_env(), **self.env}

    def stamp(self) -> str:
        """A digest of everything that decides the output."""
        digest = hashlib.sha256()
        for path in sorted(self.module.iterdir()) + sorted(p for d in self.sources for p in d.iterdir()):
            if path.is_file() and path.suffix in (".mod", ".sum", ".go"):
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
        digest.update(json.dumps([self.argv(Path("/")), go_version(), self.environment()]).encode())
        return digest.hexdigest()


def kubernetes(version: str = DEFAULT_KUBERNETES) -> Build:
    """kubeadm, kubelet, kubectl and the control plane of ``version`` (``1.37.2``)."""
    major, minor, _ = version.split(".")
    stamped = {
        "gitVersion": f"v{version}",
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
    }
    ldflags = tuple(
        f"-X k8s.io/{package}.{key}={value}"
        for package in ("component-base/version", "client-go/pkg/version")
        for key, value in stamped.items()
    )
    packages = tuple(f"k8s.io/kubernetes/cmd/{command}" for command in KUBERNETES_COMMANDS)
    return Build(f"kubernetes-{version}", HERE / f"k8s-1.{minor}", packages, ldflags)


def winagent(version: str = DEFAULT_KUBERNETES) -> Build:
    """The emulated Windows node's agent (``tests/upstream/winagent``, linked into ``k8s-1.<minor>`` as
    ``./winagent``): built in the Kubernetes module with the same environment and version stamp, so Go's
    build cache holds every Kubernetes package it links already (only its own package compiles)."""
    release = kubernetes(version)
    package = f"hybridctl.test/upstream/{release.module.name}/winagent"
    return Build("winagent", release.module, (package,), release.ldflags, sources=(HERE / "winagent",))


def agnhost(version: str = AGNHOST_KUBERNETES) -> Build:
    """agnhost, the program of Kubernetes' e2e test image (``test/images/agnhost``: netexec, serve-hostname,
    DNS tools), by default from the release whose agnhost hybridctl smoke's default image is."""
    minor = version.split(".")[1]
    return Build(f"agnhost-{version}", HERE / f"k8s-1.{minor}", ("k8s.io/kubernetes/test/images/agnhost",))


def components() -> dict[str, Build]:
    """etcd, CoreDNS, containerd, the CNI plugins and crane (``labmod.py``), the lab's pause and echo."""
    lab = HERE / "lab"
    builds = {
        name: Build(name, lab / name, packages, _version_flags(name, version), RENAMES.get(name, {}))
        for name, (_, version, packages) in COMPONENTS.items()
    }
    runc = builds["runc"]
    builds["runc"] = Build(
        runc.name,
        runc.module,
        runc.packages,
        (*runc.ldflags, "-extldflags -static"),
        tags=("seccomp", "urfave_cli_no_docs", "netgo", "osusergo"),
        env={"CGO_ENABLED": "1"},
    )
    flannel = builds["flannel"]
    builds["flannel"] = Build(  # its Makefile's dist/flanneld: cgo (the udp backend's C proxy), static
        flannel.name,
        flannel.module,
        flannel.packages,
        (*flannel.ldflags, "-extldflags -static"),
        flannel.renames,
        tags=("netgo", "osusergo"),
        env={"CGO_ENABLED": "1"},
    )
    for own in ("pause", "echo"):
        builds[own] = Build(own, lab / own, (f"hybridctl.test/upstream/lab/{own}",))
    return builds


def _version_flags(name: str, version: str) -> tuple[str, ...]:
    """Linker flags that stamp the release version where the project's own Makefile stamps it."""
    variables = {
        "containerd": ("github.com/containerd/containerd/v2/version.Version",),
        "cni-plugins": ("github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion",),
        "crictl": ("sigs.k8s.io/cri-tools/pkg/version.Version",),
        "flannel": ("github.com/flannel-io/flannel/pkg/version.Version",),  # its Makefile's dist/flanneld
    }
    flags = tuple(f"-X {variable}={version}" for variable in variables.get(name, ()))
    if name == "flannel-cni-plugin":  # containernetworking/plugins' build_linux.sh
        flags += (f"-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion={version}",)
    if name == "runc":  # its Makefile: -X main.version=$(cat VERSION), which has no leading v
        flags += (f"-X main.version={version.removeprefix('v')}",)
    return flags


def every_build() -> dict[str, Build]:
    """Everything the real lab uses, by name."""
    return {"kubernetes": kubernetes(), "agnhost": agnhost(), "winagent": winagent(), **components()}


def ensure(build: Build, log: Path | None = None) -> Path:
    """The output directory of ``build``, building it first unless its stamp matches."""
    BIN.mkdir(parents=True, exist_ok=True)
    with _lock(BIN / f".{build.name}.lock"):
        stamp = build.stamp()
        if _stamp_of(build.output) == stamp:
            return build.output
        staging = BIN / f".{build.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        _go_build(build, staging, log)
        (staging / STAMP).write_text(stamp)
        shutil.rmtree(build.output, ignore_errors=True)
        staging.rename(build.output)
    return build.output


def go_version() -> str:
    """``go version`` of the toolchain in PATH."""
    return subprocess.run(["go", "version"], check=True, capture_output=True, text=True).stdout.strip()


def go_env() -> dict[str, str]:
    """The environment of every upstream Go build (this lab's and the validators'): identical settings let
    both share Go's build cache, so Kubernetes' packages compile once for both."""
    return {"CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"}


def _go_build(build: Build, out: Path, log: Path | None) -> None:
    env = {**os.environ, **build.environment()}
    argv = build.argv(out)
    result = subprocess.run(argv, cwd=build.module, env=env, capture_output=True, text=True, check=False)
    if log:
        log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"go build of {build.name} failed:\n{result.stderr[-4000:]}")
    for built, final in build.renames.items():
        (out / built).rename(out / final)
    missing = [name for name in build.binaries() if not (out / name).is_file()]
    if missing:
        raise RuntimeError(f"go build of {build.name} produced no {', '.join(missing)}")


def _go_binary_name(package: str) -> str:
    """The file name ``go build -o DIR/`` gives a main package (a ``/vN`` suffix is skipped)."""
    parts = package.split("/")
    return parts[-2] if re.fullmatch(r"v\d+", parts[-1]) else parts[-1]


def _stamp_of(directory: Path) -> str | None:
    path = directory / STAMP
    return path.read_text() if path.exists() else None


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def main(names: Sequence[str]) -> None:
    """Build the named components (all by default) and print where and how long."""
    builds = every_build()
    for name in names or list(builds):
        started, cpu = time.monotonic(), _children_cpu()
        output = ensure(builds[name])
        wall, used = time.monotonic() - started, _children_cpu() - cpu
        print(f"{name}: {output} ({wall:.0f} s wall, {used:.0f} s CPU)", flush=True)


def _children_cpu() -> float:
    """CPU seconds (user + system) used so far by finished child processes (go build and its compilers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main(sys.argv[1:])
