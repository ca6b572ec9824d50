"""The simulated kubelet: ``kubelet --version``, and the daemon systemctl starts.

On a control plane (kube-apiserver's static pod manifest exists) the daemon also listens on TCP 6443 of
the host, standing in for the API server the real kubelet would start, so reachability checks from other
hosts (the Windows preflight) meet a real socket.

Readiness rule (what the daemon reports for its Node every half second): Ready when the kubelet runs
(this daemon is the unit's recorded process), /etc/kubernetes/kubelet.conf exists, containerd is active,
and /etc/cni/net.d holds a CNI config whose plugins are all executables in /opt/cni/bin (like the real
kubelet's NetworkReady). It never registers a Node itself (kubeadm init/join do), and, like the real
kubelet, it does not re-create a Node that was deleted.
"""

import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path

from sim_common import SimError, installed, model, read_state, unit_active

CNI_CONF = Path("/etc/cni/net.d")
CNI_BIN = Path("/opt/cni/bin")
NOT_READY = (
    "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
    "message:Network plugin returns error: cni plugin not initialized"
)


def main(program, args):
    if args == ["--sim-daemon"]:
        return daemon()
    version = installed("kubelet")
    if version is None:
        raise SimError("command not found", code=127)
    if args in (["--version"], ["version"]):
        print(f"Kubernetes v{version.split('-')[0]}")
        return 0
    raise SimError("the lab's kubelet only runs under systemctl (and answers --version)")


APISERVER_MANIFEST = Path("/etc/kubernetes/manifests/kube-apiserver.yaml")


def _serve_api(listener):
    while True:
        connection, _ = listener.accept()
        connection.close()


def _api_listener():
    """Listen on :6443 once this host runs a control plane (at most once per daemon)."""
    if not APISERVER_MANIFEST.exists():
        return None
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", 6443))
    listener.listen(16)
    threading.Thread(target=_serve_api, args=(listener,), daemon=True).start()
    return listener


def daemon():
    me = os.getpid()
    api = None
    while True:
        if api is None:
            with contextlib.suppress(OSError):
                api = _api_listener()
        entry = read_state("systemd", {"units": {}})["units"].get("kubelet.service", {})
        if not entry.get("active") or entry.get("pid") != me:
            return 0
        node = read_state("kubelet", {}).get("node")
        if node:
            # the model may be reset or the node deleted under us: try again next time
            with contextlib.suppress(Exception):
                _report(node, *readiness())
        time.sleep(0.5)


def readiness():
    """(ready, message) by the rule in the module docstring."""
    if not Path("/etc/kubernetes/kubelet.conf").exists():
        return False, "kubelet has no kubeconfig"
    if not unit_active("containerd.service"):
        return False, "container runtime is down"
    for path in sorted(CNI_CONF.glob("*")) if CNI_CONF.is_dir() else []:
        if path.suffix in (".conflist", ".conf", ".json"):
            try:
                document = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            types = [p.get("type") for p in document.get("plugins", [document])]
            missing = [t for t in types if not t or not os.access(CNI_BIN / str(t), os.X_OK)]
            if missing:
                return False, f"{NOT_READY} (missing plugins {missing})"
            return True, "kubelet is posting ready status"
    return False, NOT_READY


def _report(node, ready, message):
    cluster = model()
    try:
        entry = cluster.read()["nodes"].get(node)
    except (OSError, ValueError):
        return
    if entry is not None and (entry.get("ready") != ready or entry.get("readyMessage") != message):
        cluster.update_node(node, ready=ready, readyMessage=message)
