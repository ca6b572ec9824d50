"""``kernel-modules``: the modules containerd and bridged pod traffic need, loaded now and at every boot."""

from __future__ import annotations

from typing import ClassVar

from hybridctl.commands import posix, shell
from hybridctl.render import RenderedFile
from hybridctl.steps.base import Change, StepError
from hybridctl.steps.context import StepContext
from hybridctl.steps.host import HostHandle, HostView
from hybridctl.steps.linux.common import LinuxStep, files_check, files_install, host_files

# /sys/module/NAME exists for every loaded module and for built-in ones with parameters; a built-in
# module without parameters is listed in modules.builtin. A kernel without /lib/modules (a container
# host, a CI VM) has neither for built-in br_netfilter, so a module also counts as present when what it
# provides is there: overlay registers the "overlay" file system (/proc/filesystems; fs/overlayfs/super.c
# register_filesystem), br_netfilter the net/bridge sysctl table (/proc/sys/net/bridge;
# net/bridge/br_netfilter_hooks.c register_net_sysctl "net/bridge"). All reads: modprobe could load one.
_MISSING = """\
builtin="/lib/modules/$(uname -r)/modules.builtin"
provided() {
    case $1 in
    overlay) awk '$NF == "overlay" { found = 1 } END { exit !found }' /proc/filesystems ;;
    br_netfilter) [ -d /proc/sys/net/bridge ] ;;
    *) return 1 ;;
    esac
}
for m; do
    [ -d "/sys/module/$m" ] && continue
    grep -qE "/$m\\.ko(\\.[a-z]+)?$" "$builtin" 2>/dev/null && continue
    provided "$m" && continue
    printf "%s\\n" "$m"
done
"""


class KernelModules(LinuxStep):
    """Install the modules-load.d file and load the modules it lists that are not loaded."""

    name: ClassVar[str] = "kernel-modules"
    title: ClassVar[str] = "load kernel modules (overlay, br_netfilter)"

    def check(self, host: HostView, ctx: StepContext) -> list[Change]:
        """The file differs, or a listed module is not loaded."""
        files = host_files(ctx, host, ["kernel-modules"])
        changes = files_check(ctx, host, files)
        return changes + [Change(f"load kernel module {m}") for m in _missing(host, files)]

    def apply(self, host: HostHandle, ctx: StepContext, changes: list[Change]) -> None:
        """Write the file, then modprobe what is missing; one it cannot load is an error naming it."""
        files = host_files(ctx, host, ["kernel-modules"])
        files_install(ctx, host, files)
        for module in _missing(host, files):
            _load(host, module)


def modules_of(files: list[RenderedFile]) -> list[str]:
    """Module names listed in modules-load.d files (comments and blank lines skipped)."""
    names = []
    for item in files:
        for line in item.content.decode().splitlines():
            word = line.split("#", 1)[0].strip()
            if word:
                names.append(word)
    return names


def _load(host: HostHandle, module: str) -> None:
    result = host.run(posix("modprobe", module), check=False)
    if result.exit_code != 0:
        said = (result.stderr or result.stdout).strip() or f"modprobe exited {result.exit_code}"
        raise StepError(
            f"{host.name}: kernel module {module} cannot be loaded: {said}",
            hint=f"install the kernel's modules package (modinfo {module} must find it), "
            f"or use a kernel with {module} built in",
        )


def _missing(host: HostView, files: list[RenderedFile]) -> list[str]:
    modules = modules_of(files)
    if not modules:
        return []
    return host.run(shell(_MISSING, *modules, probe=True)).stdout.split()
