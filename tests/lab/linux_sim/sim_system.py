"""Simulated systemctl, modprobe, swapon and swapoff.

systemctl keeps unit state (enabled, active, the file it loaded) in the host state and validates what it
is asked to start: the unit file must exist (or come from a simulated package), its ExecStart binary must
be executable, a unit file changed since it was loaded needs ``daemon-reload`` first (real systemd only
warns; the lab refuses). Starting containerd runs ``containerd --version`` and parses
/etc/containerd/config.toml; starting the kubelet spawns the simulated kubelet (``sim_kubelet``);
oneshot units run their ExecStart for real. modprobe only marks modules loaded in the host's private
/sys/module (a tmpfs the lab mounts) and refuses to run anywhere else; swap is a list in the host state.
"""

import hashlib
import os
import shlex
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

from sim_common import SimError, read_state, state, take_flags

SEARCH = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
)
PACKAGE_UNITS = {
    "kubelet.service": (
        "kubelet",
        "[Unit]\nDescription=kubelet\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\n"
        "[Install]\nWantedBy=multi-user.target\n",
    )
}
MODULES = {"overlay", "br_netfilter", "ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack", "vxlan"}
EMPTY = {"units": {}}


def main(program, args):
    """Dispatch the four programs."""
    return {"systemctl": systemctl, "modprobe": modprobe, "swapon": swapon, "swapoff": swapoff}[program](args)


# --- systemctl ---------------------------------------------------------------------------------------


def systemctl(args):
    """``systemctl VERB [--now] UNIT...``."""
    flags, words = take_flags(args, (), booleans=("--now", "-q", "--quiet", "--no-pager", "--no-block"))
    if not words:
        raise SimError("too few arguments")
    verb, units = words[0], [_normal(u) for u in words[1:]]
    handler = VERBS.get(verb)
    if handler is None:
        raise SimError(f"unknown command verb {verb} (the lab simulates {', '.join(sorted(VERBS))})")
    if verb != "daemon-reload" and not units:
        raise SimError(f"{verb}: too few arguments")
    return handler(units, "--now" in flags)


def _normal(unit):
    return unit if "." in unit else unit + ".service"


def unit_file(unit):
    """(path or None, text) of a unit; SimError when systemd would not find it."""
    for directory in SEARCH:
        path = Path(directory) / unit
        if path.is_file():
            return str(path), path.read_text()
    package, text = PACKAGE_UNITS.get(unit, (None, None))
    if package and read_state("apt", {"installed": {}})["installed"].get(package):
        return None, text
    raise SimError(f"Unit {unit} not found.", code=5)


def _digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


def _require_loaded(units_state, unit):
    _, text = unit_file(unit)
    loaded = units_state.get(unit, {}).get("loaded")
    if loaded is not None and loaded != _digest(text):
        raise SimError(
            f"the unit file of {unit} changed on disk since it was loaded; run 'systemctl daemon-reload' "
            "first (real systemd only warns and keeps the old definition)"
        )
    return text


def daemon_reload(units, now):
    with state("systemd", EMPTY) as data:
        for unit, entry in data["units"].items():
            try:
                entry["loaded"] = _digest(unit_file(unit)[1])
            except SimError:
                entry["loaded"] = None
    return 0


def _section(text, name):
    values, current = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        elif current == name and "=" in line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), value.strip())
    return values


def enable(units, now):
    with state("systemd", EMPTY) as data:
        for unit in units:
            text = _require_loaded(data["units"], unit)
            if not _section(text, "Install"):
                raise SimError(f"the unit file of {unit} has no [Install] section; it cannot be enabled")
            entry = data["units"].setdefault(unit, {})
            entry["enabled"] = True
            entry.setdefault("loaded", _digest(text))
    return start(units, now) if now else 0


def disable(units, now):
    with state("systemd", EMPTY) as data:
        for unit in units:
            data["units"].setdefault(unit, {})["enabled"] = False
    return stop(units, now) if now else 0


def start(units, now=False):
    for unit in units:
        with state("systemd", EMPTY) as data:
            entry = data["units"].setdefault(unit, {})
            text = _require_loaded(data["units"], unit)
            entry["loaded"] = _digest(text)
            if entry.get("active") and _alive(entry.get("pid")):
                continue
            entry["pid"] = _start(unit, text)
            entry["active"] = True
    return 0


def _exec_start(unit, text):
    line = _section(text, "Service").get("ExecStart")
    if not line:
        raise SimError(f"{unit} has no ExecStart=")
    argv = shlex.split(line.lstrip("-@:+!"))
    if unit in PACKAGE_UNITS:
        return argv  # the package's binary is the simulation itself
    if not os.access(argv[0], os.X_OK):
        raise SimError(f"Job for {unit} failed: {argv[0]} is missing or not executable (status=203/EXEC)")
    if os.path.basename(argv[0]) in ("sh", "bash") and len(argv) > 1 and not os.path.isfile(argv[1]):
        raise SimError(f"Job for {unit} failed: {argv[0]} cannot open {argv[1]}")
    return argv


def _start(unit, text):
    argv = _exec_start(unit, text)
    if unit == "containerd.service":
        _check_containerd(argv[0])
        return None
    if unit == "kubelet.service":
        if not read_state("apt", {"installed": {}})["installed"].get("kubelet"):
            raise SimError("kubelet is not installed")
        return _spawn_kubelet()
    if _section(text, "Service").get("Type") == "oneshot":
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SimError(
                f"Job for {unit} failed because the control process exited with error code.\n{done.stderr}"
            )
    return None


def _check_containerd(binary):
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SimError(f"Job for containerd.service failed: {binary} --version: {done.stderr.strip()}")
    major = int(done.stdout.split()[2].lstrip("v").split(".")[0])
    config = Path("/etc/containerd/config.toml")
    if config.exists():
        try:
            document = tomllib.loads(config.read_text())
        except tomllib.TOMLDecodeError as error:
            raise SimError(f"containerd: failed to load TOML /etc/containerd/config.toml: {error}") from None
        version = document.get("version", 1)
        if version not in (2, 3) or (major < 2 and version == 3):
            raise SimError(f"containerd {major}.x cannot load a config with version = {version}")


def _spawn_kubelet():
    main_py = str(Path(__file__).with_name("main.py"))
    process = subprocess.Popen(
        [sys.executable, "-I", main_py, "kubelet", "--sim-daemon"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    return process.pid


def _alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}/cmdline").exists() else b""
    return b"--sim-daemon" in cmdline or not cmdline


def stop(units, now=False):
    with state("systemd", EMPTY) as data:
        for unit in units:
            entry = data["units"].setdefault(unit, {})
            pid = entry.pop("pid", None)
            if pid and _alive(pid):
                os.kill(pid, signal.SIGTERM)  # a process this simulation started, by its recorded pid
            entry["active"] = False
    return 0


def restart(units, now=False):
    stop(units)
    return start(units)


def try_restart(units, now=False):
    for unit in units:  # systemd 252: a unit that does not exist fails with EXIT_PROGRAM_NOT_INSTALLED
        try:
            unit_file(unit)
        except SimError:
            print(f"Failed to try-restart {unit}: Unit {unit} not found.", file=sys.stderr)
            return 5
    active = [u for u in units if read_state("systemd", EMPTY)["units"].get(u, {}).get("active")]
    return restart(active) if active else 0


def is_enabled(units, now=False):
    code = 0
    for unit in units:
        try:
            unit_file(unit)
        except SimError:
            print(f"Failed to get unit file state for {unit}: No such file or directory", file=sys.stderr)
            code = 1
            continue
        enabled = read_state("systemd", EMPTY)["units"].get(unit, {}).get("enabled")
        print("enabled" if enabled else "disabled")
        code = code or (0 if enabled else 1)
    return code


def is_active(units, now=False):
    code = 0
    for unit in units:
        active = read_state("systemd", EMPTY)["units"].get(unit, {}).get("active")
        print("active" if active else "inactive")
        code = code or (0 if active else 3)
    return code


VERBS = {
    "daemon-reload": daemon_reload,
    "enable": enable,
    "disable": disable,
    "start": start,
    "stop": stop,
    "restart": restart,
    "try-restart": try_restart,
    "is-enabled": is_enabled,
    "is-active": is_active,
}


# --- modprobe, swap ----------------------------------------------------------------------------------


def _sys_module_is_lab_tmpfs():
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if left.split()[4] == "/sys/module" and right.split()[0] == "tmpfs":
            return True
    return False


def modprobe(args):
    """``modprobe [-a] [-q] MODULE...``: mark modules loaded in the lab's /sys/module."""
    flags, names = take_flags(args, (), booleans=("-a", "--all", "-q", "--quiet"))
    if not names:
        raise SimError("missing module name")
    if not ({"-a", "--all"} & set(flags)):
        names = names[:1]  # without -a the other words are module parameters
    if not _sys_module_is_lab_tmpfs():
        raise SimError("refusing to run: /sys/module is not the lab host's private tmpfs")
    for name in names:
        if name not in MODULES:
            raise SimError(
                f"FATAL: Module {name} not found in directory /lib/modules (lab knows {sorted(MODULES)})"
            )
        Path("/sys/module", name).mkdir(exist_ok=True)
    return 0


def _fstab_swaps():
    try:
        lines = Path("/etc/fstab").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [
        f[0]
        for f in (line.split() for line in lines)
        if len(f) >= 3 and not f[0].startswith("#") and f[2] == "swap"
    ]


def swapon(args):
    """``swapon --show[=NAME] [--noheadings]`` and ``swapon -a`` over the host's simulated swap list."""
    flags, devices = take_flags(args, (), booleans=("--show", "--noheadings", "-a", "--all"))
    if "--show" in flags:
        active = read_state("swap", {"active": []})["active"]
        if flags["--show"] not in ("true", "NAME"):
            raise SimError(f"the lab only simulates --show=NAME, not {flags['--show']}")
        if active and "--noheadings" not in flags:
            print("NAME")
        for device in active:
            print(device)
        return 0
    with state("swap", {"active": []}) as data:
        wanted = _fstab_swaps() if {"-a", "--all"} & set(flags) else devices
        data["active"] = sorted(set(data["active"]) | set(wanted))
    return 0


def swapoff(args):
    """``swapoff -a`` or ``swapoff DEVICE``."""
    flags, devices = take_flags(args, (), booleans=("-a", "--all"))
    with state("swap", {"active": []}) as data:
        data["active"] = (
            [] if {"-a", "--all"} & set(flags) else [d for d in data["active"] if d not in devices]
        )
    return 0
