"""The Windows side of an emulated Windows node: what HNS and the container runtime would do, on Linux.

Called by the node agent (``tests/upstream/winagent``) as ``python -m tests.lab.real.winnode_hook CONFIG
VERB`` with JSON on stdin (protocol in the agent's main.go). CONFIG is a JSON file written by
``winnode.py`` (``HookConfig``): the Windows host's network namespace, its bridge (the L2Bridge HNS network
``cbr0`` as the simulator realises it, tests/lab/windows_sim/netns.py; in vxlan mode the Overlay network
``flannel.4096`` as the flanneld stand-in builds it, tests/lab/real/winflannel.py), the CNI plugin
directory and a state directory.

Emulated, each from the cited behaviour:

- ``network``: the pod network exists when the HNS network does (the kubelet's runtime reports
  NetworkReady once the CNI config's network is there; kube-proxy's winkernel NewProxier waits for the
  network named by ``winkernel.networkName``).
- ``pod-add``: the pod sandbox is a network namespace attached to the bridge by the real CNI ``bridge`` and
  ``host-local`` plugins, the address taken from the node's ``spec.podCIDR`` after the HNS gateway (first
  address) and the host endpoint (second address; hns-network.json, hybridctl/render/windows.py). Each
  container (the kubelet's SyncPod starts every container after the sandbox) runs in the pod's namespace:
  when its image is one of ``images`` (reference -> a Linux build of the image's entrypoint program, e.g.
  agnhost, Kubernetes' e2e test program) and it sets no ``command``, that program with the container's
  ``args``, a stand-in for the image's Windows build; else the first container runs the lab's TCP answer
  server (tests/lab/datapath.py) so that traffic to the pod can be checked, and the others run nothing.
  Each container's output goes to its log file; a ClusterFirst pod's DNS (the kubelet's clusterDNS and
  search list, which the Windows runtime puts on the pod's HNS endpoint) is the namespace's resolv.conf
  (``/etc/netns/NAME/resolv.conf``, which ``ip netns exec`` mounts over /etc/resolv.conf).
- ``pod-del``: the programs are stopped by pid, the plugin's DEL releases the address, the namespace goes.
- ``exec``: the argv that runs a ``kubectl exec`` command in the named container: the pod's namespace and
  the container's stand-in program when the command names it (``agnhost``, ``/agnhost`` or
  ``agnhost.exe``); any other command fails as a missing executable would, since no Windows program
  exists here.
- ``logs``: the container's log file.
- ``proxy-sync``: winkernel's HNS load balancers (pkg/proxy/winkernel/proxier.go syncProxyRules: one per
  ClusterIP and port, and one per NodePort on every address of the node, spreading over the ready
  endpoints) as iptables DNAT rules in the host's namespace, and the map itself in ``proxy.json`` for
  tests to read.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LB_CHAIN = "HNS-LOADBALANCERS"
SNAT_CHAIN = "HNS-NODEPORT-SNAT"
MARK = "0x8000/0x8000"  # NodePort traffic to masquerade (the host namespace has no other user of it)
NAT = ("iptables", "-w", "-t", "nat")


@dataclass(frozen=True)
class HookConfig:
    """Where the emulated host's network lives."""

    namespace: str
    bridge: str
    cni_bin: str
    state: str
    pod_prefix: str
    images: dict[str, str] = field(default_factory=dict)
    """Image reference -> the program standing for its entrypoint (see the module docstring)."""
    cni_config: str = ""
    """Where the host's rendered CNI config (``C:\\etc\\cni\\net.d\\10-cbr0.conf``, or ``10-flannel.conf`` in
    vxlan mode) is exported, if anywhere: its OutBoundNAT policy is realised for the pods (none without
    it)."""

    def write(self, path: Path) -> Path:
        """Save as JSON."""
        path.write_text(json.dumps(asdict(self)))
        return path


def _ns(config: HookConfig, *argv: str, check: bool = True, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", config.namespace, *argv],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def _bridge_address(config: HookConfig) -> str | None:
    shown = _ns(config, "ip", "-j", "addr", "show", "dev", config.bridge, check=False)
    for link in json.loads(shown or "[]"):
        for address in link.get("addr_info", []):
            if address.get("family") == "inet":
                return str(address["local"])
    return None


def network(config: HookConfig, request: dict[str, Any]) -> dict[str, Any] | None:
    """Exit 0 when the HNS network (the bridge; kube-proxy names it) exists."""
    name = str(request.get("network") or config.bridge)
    if name != config.bridge or _bridge_address(config) is None:
        raise RuntimeError(f"HNS network {name} not found")
    return None


def _pod_file(config: HookConfig, uid: str) -> Path:
    return Path(config.state) / "pods" / f"{uid}.json"


def _cni(config: HookConfig, command: str, netns: str, uid: str, record: dict[str, str]) -> str:
    """Run the bridge plugin (``record``: the pod's ``cidr`` and ``gw``) inside the host's namespace."""
    cidr, gateway = record["cidr"], record["gw"]
    network_ = ipaddress.ip_network(cidr)
    plugin = {
        "cniVersion": "1.0.0",
        "name": config.bridge,
        "type": "bridge",
        "bridge": config.bridge,
        "isGateway": False,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": cidr, "gateway": gateway, "rangeStart": str(network_[3])}]],
            "routes": [{"dst": "0.0.0.0/0", "gw": gateway}],
            "dataDir": str(Path(config.state) / "ipam"),
        },
    }
    env = [
        f"CNI_COMMAND={command}",
        f"CNI_CONTAINERID={uid}",
        f"CNI_NETNS=/var/run/netns/{netns}",
        "CNI_IFNAME=eth0",
        f"CNI_PATH={config.cni_bin}",
    ]
    return _ns(config, "env", *env, f"{config.cni_bin}/bridge", stdin=json.dumps(plugin))


def pod_add(config: HookConfig, request: dict[str, Any]) -> dict[str, Any]:
    """A network namespace on the bridge with an address of the node's pod CIDR, in which every container's
    program runs (see the module docstring)."""
    uid, path = str(request["uid"]), _pod_file(config, str(request["uid"]))
    if path.exists():
        return {"ip": json.loads(path.read_text())["ip"]}
    gateway = _bridge_address(config)
    if gateway is None:
        raise RuntimeError(f"HNS network {config.bridge} not found")
    netns = f"{config.pod_prefix}{uid[:8]}"
    subprocess.run(["ip", "netns", "add", netns], check=True, capture_output=True)
    result = json.loads(_cni(config, "ADD", netns, uid, {"cidr": str(request["podCIDR"]), "gw": gateway}))
    address = result["ips"][0]["address"].split("/")[0]
    name = f"{request['namespace']}/{request['name']}"
    _write_dns(netns, request)
    subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True, capture_output=True)
    _outbound_nat(config, str(request["podCIDR"]))
    record: dict[str, Any] = {"netns": netns, "ip": address, "cidr": request["podCIDR"], "gw": gateway}
    record |= {"name": name, "containers": {}}
    for container, (program, argv) in _programs(config, request, name).items():
        log = Path(config.state) / "logs" / f"{uid}-{container}.log"
        record["containers"][container] = {"program": program, "log": str(log)}
        if argv:
            record["containers"][container]["pid"] = _start(netns, argv, log)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return {"ip": address}


def _outbound_nat(config: HookConfig, cidr: str) -> None:
    """The sdnbridge config's OutBoundNAT policy (with its Exceptions) as HNS applies it to each endpoint:
    NAT rules in the host's namespace (tests/lab/datapath.py realise_outbound_nat, shared with the
    simulated lab)."""
    from tests.lab.datapath import realise_outbound_nat  # heavy to import; only pod-add needs it

    if config.cni_config and Path(config.cni_config).is_file():
        conf = json.loads(Path(config.cni_config).read_text())
        realise_outbound_nat(config.namespace, delegated(conf, cidr))


def delegated(conf: dict[str, Any], cidr: str) -> dict[str, Any]:
    """The config the plugin acts on: flannel's Windows CNI plugin hands its ``delegate`` (sdnoverlay) the
    network name and host-local IPAM over the node's subnet (flannel-io/cni-plugin flannel_windows.go
    ``doCmdAdd``); any other config is its own."""
    if conf.get("type") != "flannel":
        return conf
    return {**conf["delegate"], "name": conf["name"], "ipam": {"type": "host-local", "subnet": cidr}}


def _programs(config: HookConfig, request: dict[str, Any], name: str) -> dict[str, tuple[str, list[str]]]:
    """Per container: the stand-in program and the argv it runs with. A container whose image has a
    stand-in runs it with its args; the first container without one runs the lab's answer server (program
    ""); any other container runs nothing (its exec fails as a missing executable would)."""
    from tests.lab.datapath import PORT, SERVER  # heavy to import; only pod-add needs it

    programs: dict[str, tuple[str, list[str]]] = {}
    for index, container in enumerate(request.get("containers") or [{"name": ""}]):
        stand_in = config.images.get(str(container.get("image")))
        if stand_in and not container.get("command"):
            programs[str(container["name"])] = (stand_in, [stand_in, *container.get("args", [])])
        elif index == 0:
            programs[str(container["name"])] = ("", [sys.executable, "-c", SERVER, name, str(PORT)])
        else:
            programs[str(container["name"])] = ("", [])
    return programs


def _start(netns: str, argv: list[str], log: Path) -> int:
    """Run ``argv`` in the pod's namespace, its output to the container's log; the process id."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        process = subprocess.Popen(
            ["ip", "netns", "exec", netns, *argv],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process.pid


def _write_dns(netns: str, request: dict[str, Any]) -> None:
    if not request.get("dns"):
        return
    directory = Path("/etc/netns") / netns
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f"nameserver {server}" for server in request["dns"]]
    lines += [f"search {' '.join(request.get('search') or [])}", "options ndots:5"]
    (directory / "resolv.conf").write_text("\n".join(lines) + "\n")


def _record_of(config: HookConfig, request: dict[str, Any]) -> dict[str, Any]:
    name = f"{request['namespace']}/{request['name']}"
    for path in (Path(config.state) / "pods").glob("*.json"):
        record = json.loads(path.read_text())
        if record.get("name") == name:
            return dict(record)
    raise RuntimeError(f'container not found ("{request.get("container")}" of pod {name})')


def _container_of(config: HookConfig, request: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod's record and the requested container's (the kubelet API always names the container)."""
    record = _record_of(config, request)
    container = record["containers"].get(str(request.get("container")))
    if container is None:
        raise RuntimeError(f'container not found ("{request.get("container")}" of pod {record["name"]})')
    return record, dict(container)


def exec_argv(config: HookConfig, request: dict[str, Any]) -> dict[str, Any]:
    """The argv running ``command`` in the pod (see the module docstring)."""
    record, container = _container_of(config, request)
    command = [str(word) for word in request.get("command") or []]
    program = str(container.get("program") or "")
    wanted = Path(program).name
    asked = Path(command[0].replace("\\", "/")).name.removesuffix(".exe") if command else ""
    if not program or asked != wanted:
        raise RuntimeError(
            f'exec: "{command[0] if command else ""}": executable file not found in %PATH% (the emulated '
            f"Windows pod has only its image's program{': ' + wanted if wanted else ''})"
        )
    return {"argv": ["ip", "netns", "exec", str(record["netns"]), program, *command[1:]]}


def logs(config: HookConfig, request: dict[str, Any]) -> dict[str, Any]:
    """The container's log file."""
    return {"log": str(_container_of(config, request)[1]["log"])}


def pod_del(config: HookConfig, request: dict[str, Any]) -> None:
    """Stop the pod's server, release its address, delete its namespace."""
    path = _pod_file(config, str(request["uid"]))
    if path.exists():
        remove_pod(config, json.loads(path.read_text()), str(request["uid"]))
        path.unlink()


def remove_pod(config: HookConfig, record: dict[str, Any], uid: str) -> None:
    """Undo ``pod_add`` for one recorded pod."""
    for container in record["containers"].values():
        if "pid" in container:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(container["pid"]), signal.SIGKILL)
    with contextlib.suppress(RuntimeError):  # the address is released with the state directory anyway
        _cni(config, "DEL", record["netns"], uid, record)
    subprocess.run(["ip", "netns", "del", record["netns"]], check=False, capture_output=True)
    with contextlib.suppress(FileNotFoundError):
        (Path("/etc/netns") / record["netns"] / "resolv.conf").unlink()
        (Path("/etc/netns") / record["netns"]).rmdir()


def proxy_sync(config: HookConfig, request: dict[str, Any]) -> None:
    """One DNAT rule set per ClusterIP and port, and per NodePort on the node's own addresses, spread over
    the endpoints (iptables' statistic match). NodePort traffic is also masqueraded (marked here, source
    NAT in ``HNS-NODEPORT-SNAT``) so that the reply of an endpoint on another node comes back through this
    one, as winkernel's NodePort load balancer without DSR has HNS do (its ``localRoutedVIP``,
    ``isVipExternalIP`` flags: pkg/proxy/winkernel/proxier.go syncProxyRules)."""
    _chains(config)
    for service in request["services"]:
        match = ["-d", f"{service['clusterIP']}/32", "-p", service["protocol"].lower()]
        _balance(config, [*match, "--dport", str(service["port"])], list(service["endpoints"]))
        if service.get("nodePort"):
            local = ["-m", "addrtype", "--dst-type", "LOCAL", "-p", service["protocol"].lower()]
            local += ["--dport", str(service["nodePort"])]
            _ns(config, *NAT, "-A", LB_CHAIN, *local, "-j", "MARK", "--set-xmark", MARK)
            _balance(config, local, list(service["endpoints"]))
    (Path(config.state) / "proxy.json").write_text(json.dumps(request["services"]))


def _chains(config: HookConfig) -> None:
    """The (emptied) load-balancer and source-NAT chains, jumped to from the hooks that need them."""
    for chain, hooks in ((LB_CHAIN, ("PREROUTING", "OUTPUT")), (SNAT_CHAIN, ("POSTROUTING",))):
        _ns(config, *NAT, "-N", chain, check=False)
        _ns(config, *NAT, "-F", chain)
        for hook in hooks:
            if not _jumps(config, hook, chain):
                _ns(config, *NAT, "-A", hook, "-j", chain)
    mark = ["-m", "mark", "--mark", MARK]
    _ns(config, *NAT, "-A", SNAT_CHAIN, *mark, "-j", "MASQUERADE")


def _balance(config: HookConfig, match: list[str], endpoints: list[str]) -> None:
    """DNAT ``match`` to the endpoints, each new flow to the next one."""
    for index, endpoint in enumerate(endpoints):
        spread = []
        if index < len(endpoints) - 1:
            spread = ["-m", "statistic", "--mode", "nth", "--every", str(len(endpoints) - index)]
            spread += ["--packet", "0"]
        _ns(config, *NAT, "-A", LB_CHAIN, *match, *spread, "-j", "DNAT", "--to-destination", endpoint)


def _jumps(config: HookConfig, hook: str, chain: str) -> bool:
    check = ["ip", "netns", "exec", config.namespace, *NAT, "-C", hook, "-j", chain]
    return subprocess.run(check, capture_output=True, check=False).returncode == 0


VERBS = {
    "network": network,
    "pod-add": pod_add,
    "pod-del": pod_del,
    "proxy-sync": proxy_sync,
    "exec": exec_argv,
    "logs": logs,
}


def main(argv: list[str]) -> int:
    """``CONFIG VERB`` with the request on stdin; the answer on stdout, an error on stderr (exit 1)."""
    config = HookConfig(**json.loads(Path(argv[0]).read_text()))
    request = json.loads(sys.stdin.read() or "{}")
    try:
        answer = VERBS[argv[1]](config, request)
    except (RuntimeError, subprocess.CalledProcessError, KeyError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if answer is not None:
        print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
