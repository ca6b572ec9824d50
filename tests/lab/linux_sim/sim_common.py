"""Shared pieces of the simulated toolchain: state files, the lab directory, errors, argument parsing.

Per-host state lives in the host's private /var/lib/hybridctl-sim (systemd units, packages, swap, the
kubelet); the cluster lives in the lab's shared directory (``cluster/model.json``), next to this code.
Every invocation is appended to ``calls.log`` in the host state so tests can see what ran.
"""

import contextlib
import fcntl
import importlib
import json
import os
import re
import sys
from pathlib import Path

STATE_DIR = Path(os.environ.get("HYBRIDCTL_SIM_STATE", "/var/lib/hybridctl-sim"))
LAB = Path(__file__).resolve().parent.parent
PROGRAMS = {
    "kubeadm": "sim_kubeadm",
    "kubectl": "sim_kubectl",
    "systemctl": "sim_system",
    "modprobe": "sim_system",
    "swapon": "sim_system",
    "swapoff": "sim_system",
    "kubelet": "sim_kubelet",
    "apt-get": "sim_apt",
    "apt-cache": "sim_apt",
    "apt-mark": "sim_apt",
    "dpkg-query": "sim_apt",
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")


class SimError(Exception):
    """A refusal: printed on stderr, the program exits with ``code``."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.message = message
        self.code = code


def run(program, module_name, args):
    """Run ``program`` from ``module_name``; SimError becomes a message and an exit code."""
    log_call(program, args)
    module = importlib.import_module(module_name)
    try:
        return module.main(program, list(args)) or 0
    except SimError as error:
        print(f"{program}: {error.message}", file=sys.stderr)
        return error.code


def log_call(program, args):
    """Append the command line to the host's call log."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / "calls.log", "a") as stream:
        stream.write(json.dumps([program, *args]) + "\n")


@contextlib.contextmanager
def state(name, default):
    """Load host state ``name`` (JSON), let the caller change it, save it; serialised by a lock."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = read_state(name, default)
        yield data
        tmp = STATE_DIR / f".{name}.tmp"
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, STATE_DIR / f"{name}.json")


def read_state(name, default):
    """Host state ``name`` without locking (for reads)."""
    try:
        return json.loads((STATE_DIR / f"{name}.json").read_text())
    except FileNotFoundError:
        return json.loads(json.dumps(default))


def lab_config():
    """The lab's settings (mirror URL) written by tests/lab/linux_sim/lab.py."""
    return json.loads((LAB / "lab.json").read_text())


def model():
    """The shared cluster model."""
    from cluster_model import ClusterModel

    return ClusterModel(LAB / "cluster" / "model.json")


def duration(text):
    """Seconds of a Go duration (``1h``, ``24h0m0s``, ``90s``); ``0`` means never."""
    if text in ("0", "0s"):
        return 0.0
    parts = _DURATION.findall(text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise SimError(f'invalid duration "{text}"')
    scale = {"h": 3600, "m": 60, "s": 1}
    return sum(float(value) * scale[unit] for value, unit in parts)


def take_flags(args, known, *, booleans=()):
    """Split ``args`` into (flags, positional); ``--x=v``, ``--x v`` and ``-x v``; unknown flags refused."""
    flags, positional, i = {}, [], 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            i += 1
            continue
        name, eq, value = arg.partition("=")
        if name not in known and name not in booleans:
            raise SimError(f"unknown flag: {name}")
        if name in booleans:
            flags[name] = value if eq else "true"
            i += 1
            continue
        if not eq:
            if i + 1 >= len(args):
                raise SimError(f"flag needs an argument: {name}")
            value = args[i + 1]
            i += 1
        flags[name] = value
        i += 1
    return flags, positional


def installed(package):
    """The installed version of a simulated package, or None."""
    entry = read_state("apt", {"installed": {}}).get("installed", {}).get(package)
    return entry["version"] if entry else None


def unit_active(unit):
    """Whether the simulated systemd runs ``unit``."""
    return bool(read_state("systemd", {"units": {}})["units"].get(unit, {}).get("active"))


def write_file(path, data, mode=0o644):
    """Write a file atomically with ``mode``, creating parents."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.sim-tmp")
    tmp.write_bytes(data if isinstance(data, bytes) else data.encode())
    os.chmod(tmp, mode)
    os.replace(tmp, path)
