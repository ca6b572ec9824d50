"""Pods for the routes-mode data path: network namespaces attached with the real CNI plugins.

On a Linux test host a pod is attached by running the plugins of the rendered
/etc/cni/net.d/10-hybridctl-bridge.conflist (bridge + host-local + portmap from /opt/cni/bin, installed
by hybridctl from the lab mirror) inside the host, exactly as containerd would. On a simulated Windows
host, whose HNS L2Bridge network the simulator realised as the Linux bridge ``cbr0``, a pod is attached
with the real bridge plugin, using the subnet and gateway of the rendered Windows CNI config.
Every pod runs a tiny TCP server that answers with its own name; ``reach`` connects from one pod to another.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.lab.e2e import WindowsNode
from tests.support.linux_hosts import TestHost

PORT = 8080
LINUX_CONFLIST = "/etc/cni/net.d/10-hybridctl-bridge.conflist"
WINDOWS_CNI = r"C:\etc\cni\net.d\10-cbr0.conf"
WINDOWS_OVERLAY_CNI = r"C:\etc\cni\net.d\10-flannel.conf"
SERVER = """
import socket, sys
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(sys.argv[2]))); server.listen(16)
while True:
    connection, peer = server.accept()
    connection.sendall((sys.argv[1] + " " + peer[0]).encode()); connection.close()
"""
CLIENT = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3) as c:
        print(c.recv(100).decode())
except OSError as error:
    print(f"error: {error}")
"""


@dataclass
class Pod:
    """A pod: where it lives, its address, and how to run a command in it."""

    name: str
    node: str
    address: str
    prefix: list[str] = field(repr=False)

    def run(self, *argv: str, host: TestHost | None = None) -> str:
        """Run ``argv`` inside the pod's network namespace; returns stdout."""
        command = [*self.prefix, *argv]
        if host is not None:
            return host.exec(*command, timeout=20).stdout
        return subprocess.run(command, capture_output=True, text=True, timeout=20, check=True).stdout


@dataclass
class Pods:
    """Every pod of a test, and the root-namespace resources to remove afterwards."""

    pods: list[Pod] = field(default_factory=list)
    linux_hosts: dict[str, TestHost] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    undo: list[list[str]] = field(default_factory=list)
    """Commands that remove what the pods' policies added to a Windows host's namespace."""
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hybridctl-pods-")))

    def reach(self, source: Pod, target: Pod) -> str:
        """What ``target``'s server answers a TCP connection from ``source`` (its name, or the error)."""
        answer = self.answer(source, target)
        return answer if answer.startswith("error") else answer.split(" ", 1)[0]

    def seen_from(self, source: Pod, target: Pod) -> str:
        """The source address ``target`` saw for a connection from ``source`` (NAT shows here)."""
        return self.answer(source, target).split(" ", 1)[-1]

    def answer(self, source: Pod, target: Pod) -> str:
        """The raw answer: target's name and the peer address it saw, or the error."""
        host = self.linux_hosts.get(source.node)
        return source.run("/usr/bin/python3", "-c", CLIENT, target.address, str(PORT), host=host).strip()

    def close(self) -> None:
        """Stop Windows pods' servers (by pid), delete their namespaces; Linux pods go with their host."""
        for server in self.servers:
            server.kill()
            server.wait()
        for command in reversed(self.undo):
            subprocess.run(command, capture_output=True, check=False)
        for namespace in self.namespaces:
            subprocess.run(["ip", "netns", "del", namespace], check=False, capture_output=True)
        self.servers, self.namespaces, self.undo = [], [], []


def _plugin_env(name: str, netns: str, command: str = "ADD") -> list[str]:
    return [
        f"CNI_COMMAND={command}",
        f"CNI_CONTAINERID={name}",
        f"CNI_NETNS={netns}",
        "CNI_IFNAME=eth0",
        "CNI_PATH=/opt/cni/bin",
    ]


def _run_here(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def _wait_listening(run: Callable[[list[str]], str], netns: str, seconds: float = 10.0) -> None:
    """Return once the pod's server listens: a client started earlier would be refused, not routed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if run(["ip", "netns", "exec", netns, "ss", "-Hltn", f"sport = :{PORT}"]).strip():
            return
        time.sleep(0.05)
    raise AssertionError(f"the server of pod {netns} did not listen on port {PORT} within {seconds:g}s")


def attach_linux(pods: Pods, host: TestHost, name: str) -> Pod:
    """A pod on a Linux test host, attached through the rendered conflist's plugin chain."""
    host.exec("ip", "netns", "add", name)
    conflist = json.loads(host.exec("cat", LINUX_CONFLIST).stdout)
    result: dict[str, Any] | None = None
    for plugin in conflist["plugins"]:
        config = {"cniVersion": conflist["cniVersion"], "name": conflist["name"], **plugin}
        if result is not None:
            config["prevResult"] = result
        env = _plugin_env(name, f"/run/netns/{name}")
        out = host.exec("env", *env, f"/opt/cni/bin/{plugin['type']}", input=json.dumps(config)).stdout
        result = json.loads(out)
    assert result is not None
    address = result["ips"][0]["address"].split("/")[0]
    pod = Pod(name, host.name, address, ["ip", "netns", "exec", name])
    serve = f'ip netns exec "$1" /usr/bin/python3 -c "$2" "$1" {PORT} >/dev/null 2>&1 &'
    host.exec("sh", "-c", serve, "serve", name, SERVER)
    _wait_listening(lambda argv: host.exec(*argv).stdout, name)
    pods.linux_hosts[host.name] = host
    pods.pods.append(pod)
    return pod


def attach_windows(pods: Pods, node: WindowsNode, name: str) -> Pod:
    """A pod on a simulated Windows host's L2Bridge network (the bridge ``cbr0`` in its namespace)."""
    rendered = json.loads(node.simulated.machine.read_file(WINDOWS_CNI))
    subnet, gateway = rendered["ipam"]["subnet"], rendered["ipam"]["routes"][0]["GW"]
    subprocess.run(["ip", "netns", "add", name], check=True)
    pods.namespaces.append(name)
    config = {
        "cniVersion": "1.0.0",
        "name": "cbr0",
        "type": "bridge",
        "bridge": "cbr0",
        "isGateway": False,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": subnet, "gateway": gateway}]],
            "routes": [{"dst": "0.0.0.0/0", "gw": gateway}],
            "dataDir": str(pods.workdir / node.name),
        },
    }
    realise_outbound_nat(node.namespace, rendered)
    env = [e.replace("/opt/cni/bin", "/usr/lib/cni") for e in _plugin_env(name, f"/var/run/netns/{name}")]
    plugin = ["ip", "netns", "exec", node.namespace, "env", *env, "/usr/lib/cni/bridge"]
    out = subprocess.run(plugin, input=json.dumps(config), capture_output=True, text=True, check=True).stdout
    address = json.loads(out)["ips"][0]["address"].split("/")[0]
    realise_sdn_routes(pods, node, rendered, address)
    prefix = ["ip", "netns", "exec", name]
    server = subprocess.Popen([*prefix, "/usr/bin/python3", "-c", SERVER, name, str(PORT)])
    pods.servers.append(server)
    _wait_listening(
        lambda argv: subprocess.run(argv, capture_output=True, text=True, check=False).stdout, name
    )
    pod = Pod(name, node.name, address, prefix)
    pods.pods.append(pod)
    return pod


OUTBOUND_NAT_CHAIN = "HNS-OUTBOUNDNAT"


def endpoint_policies(rendered: dict[str, Any]) -> dict[str, list[Any]]:
    """The sdnbridge EndpointPolicy entries of a rendered Windows CNI config, by policy type."""
    found: dict[str, list[Any]] = {}
    for arg in rendered.get("AdditionalArgs") or []:
        if arg.get("Name") == "EndpointPolicy":
            value = arg["Value"]
            found.setdefault(value["Type"], []).append(value.get("Settings") or {})
    return found


def realise_outbound_nat(namespace: str, rendered: dict[str, Any]) -> None:
    """What HNS/VFP does with the endpoint's OutBoundNAT policy, as iptables NAT in the host's namespace
    ``namespace``: pod traffic is SNATed to the node address unless its destination is in the Exceptions
    list (microsoft/SDN l2bridge cni.conf, reference section 6.2)."""
    policies = endpoint_policies(rendered)
    ns = ["ip", "netns", "exec", namespace, "iptables", "-w", "-t", "nat"]
    subprocess.run([*ns, "-N", OUTBOUND_NAT_CHAIN], capture_output=True, check=False)
    subprocess.run([*ns, "-F", OUTBOUND_NAT_CHAIN], check=True)
    for nat in policies.get("OutBoundNAT", []):
        for exception in nat.get("Exceptions") or []:
            subprocess.run([*ns, "-A", OUTBOUND_NAT_CHAIN, "-d", exception, "-j", "RETURN"], check=True)
        subprocess.run([*ns, "-A", OUTBOUND_NAT_CHAIN, "-j", "MASQUERADE"], check=True)
    subnet = rendered["ipam"]["subnet"]
    jump = ["POSTROUTING", "-s", subnet, "-j", OUTBOUND_NAT_CHAIN]
    if subprocess.run([*ns, "-C", *jump], capture_output=True, check=False).returncode != 0:
        subprocess.run([*ns, "-A", *jump], check=True)


SDN_ROUTE_CHAIN = "HNS-SDNROUTE"


def host_bound(node: WindowsNode) -> list[ipaddress.IPv4Network]:
    """Destinations that only the host itself can serve: its own address and the Service CIDR (the VIPs
    kube-proxy's load balancers on the host answer)."""
    return [ipaddress.IPv4Network(f"{node.address}/32"), ipaddress.IPv4Network(node.service_subnet)]


def realise_sdn_routes(pods: Pods, node: WindowsNode, rendered: dict[str, Any], address: str) -> None:
    """What HNS does with one l2bridge endpoint's SDNRoute (HNS v1: ROUTE) policies.

    An l2bridge endpoint's packets leave by the vSwitch's external port with the host's MAC; only a
    destination covered by an SDNRoute policy with ``NeedEncap`` is handed to the host instead ("Route
    traffic sent to service endpoints to the host. The load balancer running in the host network
    namespace then forwards traffic to its final destination. NextHop is implicitly the host":
    aws/amazon-vpc-cni-plugins plugins/vpc-shared-eni/plugin/bridge_windows.go @b0797d3; the management
    IP /32 "force encap ... local to the host": projectcalico/cni-plugin#1017; hcsshim
    ``hcn.SDNRoutePolicySetting{DestinationPrefix, NextHop, NeedEncap}``). So a pod reaches its own
    node's address and the Service VIPs only through such a policy; without one its packets go out to the
    wire, where nothing answers for them (reference section 10 row 10: pods cannot reach CoreDNS without
    the service-CIDR policy, microsoft/SDN#433). Realised in the host's namespace as a mangle-table
    filter ahead of any DNAT: per pod, each covered part RETURNs, the rest of the host-bound destinations
    is dropped. An invalid prefix fails here as HNS refuses to create the endpoint."""
    routes = endpoint_policies(rendered)
    covered = [
        ipaddress.IPv4Network(route["DestinationPrefix"])
        for route in routes.get("SDNRoute", []) + routes.get("ROUTE", [])
        if route.get("NeedEncap") is True
    ]
    ns = ["ip", "netns", "exec", node.namespace, "iptables", "-w", "-t", "mangle"]
    subprocess.run([*ns, "-N", SDN_ROUTE_CHAIN], capture_output=True, check=False)
    jump = ["PREROUTING", "-i", "cbr0", "-j", SDN_ROUTE_CHAIN]
    if subprocess.run([*ns, "-C", *jump], capture_output=True, check=False).returncode != 0:
        subprocess.run([*ns, "-A", *jump], check=True)
    rules = [
        ["-s", f"{address}/32", "-d", str(prefix), "-j", "RETURN"]
        for bound in host_bound(node)
        for prefix in covered
        if prefix.overlaps(bound)
    ]
    rules += [["-s", f"{address}/32", "-d", str(bound), "-j", "DROP"] for bound in host_bound(node)]
    for rule in rules:
        subprocess.run([*ns, "-A", SDN_ROUTE_CHAIN, *rule], check=True)
        pods.undo.append([*ns, "-D", SDN_ROUTE_CHAIN, *rule])


def load_balancer(pods: Pods, node: WindowsNode, vip: str, backend: Pod) -> None:
    """A Service load balancer on a Windows host, as kube-proxy (winkernel) programs one in HNS/VFP for
    every Service: traffic from the host's pods to ``vip`` goes to ``backend`` (emulated as a DNAT in the
    host's namespace; only packets the endpoint's SDNRoute policies hand to the host reach it)."""
    ns = ["ip", "netns", "exec", node.namespace, "iptables", "-w", "-t", "nat"]
    rule = ["PREROUTING", "-i", "cbr0", "-d", f"{vip}/32", "-p", "tcp", "--dport", str(PORT)]
    rule += ["-j", "DNAT", "--to-destination", f"{backend.address}:{PORT}"]
    subprocess.run([*ns, "-A", *rule], check=True)
    pods.undo.append([*ns, "-D", *rule])


def serve_on_node(pods: Pods, node: WindowsNode, name: str) -> Pod:
    """A TCP server in the Windows host's own network stack (a process of the host, on all its
    addresses), answering with ``name``; returned as a reachable target at the node's address."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", node.namespace, "/usr/bin/python3", "-c", SERVER, name, str(PORT)]
    )
    pods.servers.append(server)
    _wait_listening(_run_here, node.namespace)
    return Pod(name, node.name, node.address, ["ip", "netns", "exec", node.namespace])


def reachability(pods: Pods) -> dict[tuple[str, str], str]:
    """Every pair of pods that did not answer with the target's name: (source, target) -> what happened."""
    failures = {}
    for source in pods.pods:
        for target in pods.pods:
            if source is not target:
                answer = pods.reach(source, target)
                if answer != target.name:
                    failures[(source.name, target.name)] = answer
    return failures


@contextlib.contextmanager
def pod_set() -> Any:
    """A Pods collection that is always cleaned up."""
    pods = Pods()
    try:
        yield pods
    finally:
        pods.close()
