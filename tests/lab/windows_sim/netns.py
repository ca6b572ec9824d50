"""Simulated Windows hosts in network namespaces on the lab bridge (root only).

A ``WindowsLabHost`` is a network namespace with a veth ``eth0`` on the Linux test hosts' bridge and the
inventory address; its WinRM endpoint's listening socket is created by a thread that entered the
namespace (``setns``), so pypsrp reaches it over the bridge at that address, and the endpoint's own
threads (downloads from the lab mirror) run there too. HNS is realised as Linux networking inside the
namespace: the L2Bridge network ``cbr0`` is a Linux bridge holding the host endpoint's address, each
``New-NetRoute`` a kernel route via the other node over ``eth0``. A later data-path test can attach pods
(network namespaces plus the real CNI bridge plugin) to that bridge.

Teardown removes exactly what was made here: the endpoint, the namespace and the root-side veth.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.support.winrm import EndpointConfig, SimulatedWindowsHost, WinRMEndpoint

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def ip(*argv: str, namespace: str | None = None, check: bool = True) -> str:
    """Run ``ip`` (inside ``namespace`` when given)."""
    prefix = ("ip", "netns", "exec", namespace, "ip") if namespace else ("ip",)
    done = subprocess.run((*prefix, *argv), capture_output=True, text=True, check=False)
    if check and done.returncode:
        raise RuntimeError(f"ip {' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


def in_namespace(namespace: str, action: Callable[[], T]) -> T:
    """Run ``action`` in a thread that entered ``namespace``; sockets it opens stay in that namespace."""
    result: dict[str, Any] = {}

    def enter() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {namespace} failed")
            result["value"] = action()
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc
        finally:
            os.close(fd)

    thread = threading.Thread(target=enter, name=f"netns-{namespace}")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]


class NamespacedEndpoint(WinRMEndpoint):
    """A WinRM endpoint whose listening socket (and server threads) live in a network namespace."""

    def __init__(self, host: SimulatedWindowsHost, config: EndpointConfig, namespace: str) -> None:
        self.namespace = namespace
        super().__init__(host, config)

    def _listen(self) -> None:
        in_namespace(self.namespace, super()._listen)


class NamespaceRealiser:
    """HNS and routing changes of the simulated host, made real inside its namespace."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def create_network(self, name: str, prefix: str, endpoint_ip: str) -> None:
        """A Linux bridge for the L2Bridge network, holding the host endpoint's address."""
        length = ipaddress.ip_network(prefix).prefixlen
        ip("link", "add", name, "type", "bridge", namespace=self.namespace)
        ip("addr", "add", f"{endpoint_ip}/{length}", "dev", name, namespace=self.namespace)
        ip("link", "set", name, "up", namespace=self.namespace)

    def delete_network(self, name: str) -> None:
        """Remove the bridge (and, for flanneld's overlay ``flannel.<VNI>``, its VXLAN device ``vxlan.<VNI>``,
        tests/lab/real/winflannel.py)."""
        ip("link", "del", name, namespace=self.namespace, check=False)
        if name.startswith("flannel."):
            ip("link", "del", "vxlan." + name.split(".", 1)[1], namespace=self.namespace, check=False)

    def add_route(self, destination: str, next_hop: str) -> None:
        """A kernel route via the other node."""
        ip("route", "replace", destination, "via", next_hop, "dev", "eth0", namespace=self.namespace)

    def remove_route(self, destination: str, next_hop: str) -> None:
        """Remove the kernel route."""
        ip("route", "del", destination, "via", next_hop, namespace=self.namespace, check=False)

    def kernel_routes(self) -> set[tuple[str, str]]:
        """(destination, gateway) of every route with a gateway in the namespace, except the default."""
        found = set()
        for line in ip("-4", "route", "show", namespace=self.namespace).splitlines():
            words = line.split()
            if "via" in words and words[0] != "default":
                found.add((words[0], words[words.index("via") + 1]))
        return found


class WindowsLabHost:
    """A namespace on the lab bridge at ``address`` with a WinRM endpoint for ``host``; a context manager."""

    def __init__(
        self, name: str, address: str, bridge: str, gateway: str, *, namespace: str, veth: str
    ) -> None:
        self.name, self.address, self.bridge, self.gateway = name, address, bridge, gateway
        self.namespace, self.veth = namespace, veth
        self.realiser = NamespaceRealiser(namespace)
        self.endpoint: WinRMEndpoint | None = None

    def create(self) -> None:
        """The namespace, its veth on the bridge, forwarding on (it routes for its pods)."""
        ip("netns", "add", self.namespace)
        ip("link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.namespace)
        ip("link", "set", self.veth, "master", self.bridge, "up")
        ip("addr", "add", f"{self.address}/24", "dev", "eth0", namespace=self.namespace)
        ip("link", "set", "eth0", "up", namespace=self.namespace)
        ip("link", "set", "lo", "up", namespace=self.namespace)
        ip("route", "add", "default", "via", self.gateway, namespace=self.namespace)
        subprocess.run(
            ("ip", "netns", "exec", self.namespace, "sysctl", "-qw", "net.ipv4.ip_forward=1"), check=True
        )

    def serve(self, host: SimulatedWindowsHost, config: EndpointConfig) -> WinRMEndpoint:
        """Start the endpoint on ``address`` inside the namespace."""
        config.address = self.address
        self.endpoint = NamespacedEndpoint(host, config, self.namespace).start()
        return self.endpoint

    def destroy(self) -> None:
        """Stop the endpoint, delete the namespace (and with it eth0) and the root-side veth."""
        if self.endpoint is not None:
            self.endpoint.stop()
        ip("netns", "del", self.namespace, check=False)
        ip("link", "del", self.veth, check=False)

    def connect_tcp(self, host: str, port: int, timeout: float = 2.0) -> str:
        """A TCP connect from inside the namespace: connected, refused, timeout or the error."""

        def attempt() -> str:
            try:
                with socket.create_connection((host, port), timeout=timeout):
                    return "connected"
            except ConnectionRefusedError:
                return "refused"
            except TimeoutError:
                return "timeout"
            except OSError as exc:
                return f"error: {exc}"

        return in_namespace(self.namespace, attempt)

    def listen(self, address: str) -> socket.socket:
        """A listening TCP socket on ``address`` inside the namespace (a stand-in for a pod's server)."""

        def open_socket() -> socket.socket:
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.bind((address, 0))
            server.listen(4)
            return server

        return in_namespace(self.namespace, open_socket)


def lab_paths(workdir: Path) -> Path:
    """Where the lab's Windows hosts keep certificates."""
    path = workdir / "windows-hosts"
    path.mkdir(parents=True, exist_ok=True)
    return path
