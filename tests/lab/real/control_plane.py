"""A real Kubernetes control plane started by a test: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler as plain processes, with certificates, kubeconfigs and bootstrap RBAC made by real kubeadm.

Real: every binary (built by ``python -m tests.upstream.build`` from k8s.io/kubernetes v1.37.2 and etcd
v3.7.0), kubeadm's ``init phase certs all`` / ``kubeconfig all`` in a temporary directory, and, once the
API answers, ``init phase upload-config all``, ``init phase bootstrap-token`` (the RBAC that lets bootstrap
tokens create CSRs and get them auto-approved, and the cluster-info ConfigMap), ``init phase addon
kube-proxy`` (the kube-proxy ServiceAccount and its ``system:node-proxier`` binding) and ``kubeadm token
create``. The processes run with the flags kubeadm writes into their static pod manifests
(cmd/kubeadm/app/phases/controlplane/manifests.go getAPIServerCommand, getControllerManagerCommand,
getSchedulerCommand and cmd/kubeadm/app/phases/etcd/local.go getEtcdCommand, v1.37.2), made lean for a
shared 2-core machine: no leader election (one instance), the controller-manager runs only the controllers
the node tests need (``--controllers``: CSR approving and signing, node IPAM with
``--allocate-node-cidrs``, node lifecycle, service accounts and their token controller, EndpointSlices),
the components' own HTTPS ports are off (``--secure-port=0``) and etcd skips fsync (``--unsafe-no-fsync``).

Not kubeadm's: kubeadm refuses a loopback advertise address (kubeadm's SetAPIEndpointDynamicDefaults
replaces it with an address of ``lo``, and there is none but 127.0.0.1: "unable to select an IP from lo
network interface"), so a loopback control plane advertises 192.0.2.1 (TEST-NET-1, never routed) in the
``kubernetes`` Service, with 127.0.0.1 in the serving certificate and as ``controlPlaneEndpoint``, which
admin.conf and every node use; controller-manager.conf and scheduler.conf, which kubeadm points at the
advertise address, are pointed at 127.0.0.1 instead. The processes are started and stopped by pid
(TERM, then KILL); the directory is removed afterwards. Ports are free ports of the bind address.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from hybridctl.commands import Command, PosixCommand
from hybridctl.steps.kube import ADMIN_CONF, CA_CERT
from hybridctl.testing import FakeHost, Reply
from tests.lab.windows_sim.control_plane import _argv
from tests.upstream.build import DEFAULT_KUBERNETES, components, ensure, kubernetes

LOOPBACK_ADVERTISE = "192.0.2.1"
CONTROLLERS = (
    "csrapproving",
    "csrsigning",
    "nodeipam",
    "nodelifecycle",
    "serviceaccount",
    "serviceaccount-token",
    "endpointslice",
)
START_TIMEOUT = 120.0


def free_port(address: str) -> int:
    """A TCP port nothing listens on at ``address`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0, every: float = 0.5) -> Any:
    """``probe()``'s first truthy answer; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


@dataclass(frozen=True)
class ControlPlaneBinaries:
    """Where this release's Kubernetes binaries and etcd are."""

    release: str
    kubernetes: Path
    etcd: Path


def control_plane_binaries(release: str = DEFAULT_KUBERNETES) -> ControlPlaneBinaries:
    """Build (or find) only what a control plane needs: Kubernetes and etcd (tests/upstream/build.py)."""
    return ControlPlaneBinaries(release, ensure(kubernetes(release)), ensure(components()["etcd"]))


@dataclass
class ControlPlane:
    """One control plane; ``start()`` brings it up, ``stop()`` (or the context manager) removes it."""

    binaries: ControlPlaneBinaries
    address: str = "127.0.0.1"
    pod_subnet: str = "10.244.0.0/16"
    service_subnet: str = "10.96.0.0/12"
    cluster_name: str = "lab"
    api_port: int = 0
    """0: a free port of ``address``."""
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hybridctl-cp-")))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: list[IO[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.api_port = self.api_port or free_port(self.address)
        self.etcd_client_port = free_port("127.0.0.1")
        self.etcd_peer_port = free_port("127.0.0.1")

    # --- what tests use ------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``host:port`` of the API server as clients reach it."""
        return f"{self.address}:{self.api_port}"

    @property
    def server(self) -> str:
        """The API server's URL."""
        return f"https://{self.endpoint}"

    @property
    def pki(self) -> Path:
        """kubeadm's certificatesDir."""
        return self.workdir / "pki"

    @property
    def admin_conf(self) -> Path:
        """kubeadm's admin.conf (cluster-admin through the kubeadm:cluster-admins group)."""
        return self.workdir / "kube" / "admin.conf"

    @property
    def ca_certificate(self) -> str:
        """The cluster CA (PEM)."""
        return (self.pki / "ca.crt").read_text()

    def kubeadm(self, *args: str) -> str:
        """Run this release's kubeadm with ``args``; stdout."""
        return self._run([str(self._bin("kubeadm")), *args])

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        """Run kubectl as the admin; stdout."""
        argv = [str(self._bin("kubectl")), "--kubeconfig", str(self.admin_conf), *args]
        return self._run(argv, stdin)

    def get(self, *args: str) -> dict[str, object]:
        """``kubectl get ARGS -o json``, parsed."""
        loaded: dict[str, object] = json.loads(self.kubectl("get", *args, "-o", "json"))
        return loaded

    def create_token(self, ttl: str = "1h") -> str:
        """A new bootstrap token, as hybridctl creates one (``kubeadm token create``)."""
        return self.kubeadm("token", "create", "--ttl", ttl, "--kubeconfig", str(self.admin_conf)).strip()

    def fake_host(self, name: str = "cp1") -> FakeHost:
        """The first control plane as hybridctl's steps reach it through a ``FakeTransport``: its
        ``kubeadm`` and ``kubectl`` commands run this release's real binaries against this control plane
        (``/etc/kubernetes/admin.conf`` is this one's admin.conf), its CA is at ``/etc/kubernetes/pki``.
        Lets the Windows steps run against the real API without a Linux host (the real-host lab has one)."""
        host = FakeHost(name)
        host.files[CA_CERT] = self.ca_certificate.encode()
        host.on("test", lambda command, _t: (0 if _argv(command)[1:] == ["-s", ADMIN_CONF] else 1, "", ""))
        host.on(
            "kubeadm",
            lambda command, _t: self._reply(["kubeadm", "--kubeconfig", str(self.admin_conf)], command),
        )
        host.on(
            "kubectl",
            lambda command, _t: self._reply(["kubectl", "--kubeconfig", str(self.admin_conf)], command),
        )
        return host

    def _reply(self, prefix: list[str], command: Command) -> Reply:
        argv = _argv(command)[1:]
        if argv[:2] == ["--kubeconfig", ADMIN_CONF]:
            argv = argv[2:]
        if prefix[0] == "kubeadm":  # kubeadm takes --kubeconfig after the subcommand
            argv = [*argv, *prefix[1:]]
            prefix = prefix[:1]
        stdin = command.stdin.decode() if isinstance(command, PosixCommand) and command.stdin else None
        done = subprocess.run(
            [str(self._bin(prefix[0])), *prefix[1:], *argv],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.returncode, done.stdout, done.stderr

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> ControlPlane:
        """Certificates and kubeconfigs, then etcd, the API server, controller-manager and scheduler,
        then kubeadm's cluster objects (configs, bootstrap RBAC, kube-proxy's account)."""
        config = self.workdir / "kubeadm.yaml"
        config.write_text(self._kubeadm_config())
        self.kubeadm("init", "phase", "certs", "all", "--config", str(config))
        kubeconfigs = str(self.workdir / "kube")
        self.kubeadm(
            "init", "phase", "kubeconfig", "all", "--config", str(config), "--kubeconfig-dir", kubeconfigs
        )
        self._local_endpoint()
        self._spawn("etcd", self._etcd_argv())
        self._spawn("kube-apiserver", self._apiserver_argv())
        self._wait_ready()
        self._spawn("kube-controller-manager", self._controller_manager_argv())
        self._spawn("kube-scheduler", self._scheduler_argv())
        self._bind_cluster_admins()
        admin = ("--config", str(config), "--kubeconfig", str(self.admin_conf))
        self.kubeadm("init", "phase", "upload-config", "all", *admin)
        self.kubeadm("init", "phase", "bootstrap-token", *admin)
        self.kubeadm("init", "phase", "addon", "kube-proxy", *admin)
        return self

    def stop(self) -> None:
        """TERM every process by pid (KILL after 3 s: the data is thrown away), then remove the directory."""
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.logs:
            log.close()
        self.processes.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def log_tail(self, name: str, lines: int = 30) -> str:
        """The end of a component's log (for failure messages)."""
        path = self.workdir / "logs" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # --- internals ---------------------------------------------------------------------------------

    def _bin(self, name: str) -> Path:
        return (self.binaries.etcd if name == "etcd" else self.binaries.kubernetes) / name

    def _run(self, argv: list[str], stdin: str | None = None) -> str:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:4])} ... failed: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def _advertise(self) -> str:
        return LOOPBACK_ADVERTISE if ipaddress.ip_address(self.address).is_loopback else self.address

    def _kubeadm_config(self) -> str:
        """InitConfiguration + ClusterConfiguration (kubeadm.k8s.io/v1beta4) for this control plane."""
        init = {
            "apiVersion": "kubeadm.k8s.io/v1beta4",
            "kind": "InitConfiguration",
            "localAPIEndpoint": {"advertiseAddress": self._advertise(), "bindPort": self.api_port},
            "nodeRegistration": {"name": "cp1", "criSocket": "unix:///var/run/containerd/containerd.sock"},
        }
        cluster = {
            "apiVersion": "kubeadm.k8s.io/v1beta4",
            "kind": "ClusterConfiguration",
            "kubernetesVersion": f"v{self.binaries.release}",
            "clusterName": self.cluster_name,
            "certificatesDir": str(self.pki),
            "controlPlaneEndpoint": self.endpoint,
            "apiServer": {"certSANs": [self.address]},
            "networking": {
                "podSubnet": self.pod_subnet,
                "serviceSubnet": self.service_subnet,
                "dnsDomain": "cluster.local",
            },
        }
        return json.dumps(init) + "\n---\n" + json.dumps(cluster) + "\n"

    def _spawn(self, name: str, argv: list[str]) -> None:
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        log = (logs / f"{name}.log").open("wb")
        self.logs.append(log)
        self.processes[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )

    def _etcd_argv(self) -> list[str]:
        pki = self.pki / "etcd"
        client = f"https://127.0.0.1:{self.etcd_client_port}"
        peer = f"https://127.0.0.1:{self.etcd_peer_port}"
        return [
            str(self._bin("etcd")),
            "--name=cp1",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=cp1={peer}",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--cert-file={pki / 'server.crt'}",
            f"--key-file={pki / 'server.key'}",
            f"--trusted-ca-file={pki / 'ca.crt'}",
            "--client-cert-auth=true",
            f"--peer-cert-file={pki / 'peer.crt'}",
            f"--peer-key-file={pki / 'peer.key'}",
            f"--peer-trusted-ca-file={pki / 'ca.crt'}",
            "--peer-client-cert-auth=true",
            "--snapshot-count=10000",
            "--listen-metrics-urls=",
            "--unsafe-no-fsync",
        ]

    def _apiserver_argv(self) -> list[str]:
        pki = self.pki
        return [
            str(self._bin("kube-apiserver")),
            f"--advertise-address={self._advertise()}",
            f"--bind-address={self.address}",
            f"--secure-port={self.api_port}",
            "--allow-privileged=true",
            "--authorization-mode=Node,RBAC",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--enable-admission-plugins=NodeRestriction",
            "--enable-bootstrap-token-auth=true",
            f"--etcd-cafile={pki / 'etcd' / 'ca.crt'}",
            f"--etcd-certfile={pki / 'apiserver-etcd-client.crt'}",
            f"--etcd-keyfile={pki / 'apiserver-etcd-client.key'}",
            f"--etcd-servers=https://127.0.0.1:{self.etcd_client_port}",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
            "--requestheader-allowed-names=front-proxy-client",
            f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-username-headers=X-Remote-User",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={self.service_subnet}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
        ]

    def _controller_manager_argv(self) -> list[str]:
        pki, conf = self.pki, self.workdir / "kube" / "controller-manager.conf"
        return [
            str(self._bin("kube-controller-manager")),
            f"--kubeconfig={conf}",
            f"--authentication-kubeconfig={conf}",
            f"--authorization-kubeconfig={conf}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--use-service-account-credentials=true",
            f"--controllers={','.join(CONTROLLERS)}",
            "--allocate-node-cidrs=true",
            f"--cluster-cidr={self.pod_subnet}",
            f"--service-cluster-ip-range={self.service_subnet}",
            f"--cluster-name={self.cluster_name}",
        ]

    def _scheduler_argv(self) -> list[str]:
        conf = self.workdir / "kube" / "scheduler.conf"
        return [
            str(self._bin("kube-scheduler")),
            f"--kubeconfig={conf}",
            f"--authentication-kubeconfig={conf}",
            f"--authorization-kubeconfig={conf}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
        ]

    def _local_endpoint(self) -> None:
        """kubeadm points controller-manager.conf and scheduler.conf at the advertise address (the local
        API endpoint, cmd/kubeadm/app/phases/kubeconfig/kubeconfig.go getKubeConfigSpecsBase); on a
        loopback control plane that is the unrouted stand-in, so point them at the bind address."""
        if not ipaddress.ip_address(self.address).is_loopback:
            return
        for name in ("controller-manager.conf", "scheduler.conf"):
            path = str(self.workdir / "kube" / name)
            argv = [str(self._bin("kubectl")), "config", "set-cluster", self.cluster_name]
            self._run([*argv, f"--server={self.server}", f"--kubeconfig={path}"])

    def _bind_cluster_admins(self) -> None:
        """What ``kubeadm init`` does with super-admin.conf before using admin.conf
        (cmd/kubeadm/app/phases/kubeconfig/kubeconfig.go EnsureAdminClusterRoleBinding): bind the
        ``kubeadm:cluster-admins`` group to ``cluster-admin``. kubeadm's phases skip it when --kubeconfig
        is not the default /etc/kubernetes/admin.conf (cmd/kubeadm/app/cmd/init.go initData.Client)."""
        super_admin = str(self.workdir / "kube" / "super-admin.conf")
        kubectl = [str(self._bin("kubectl")), "--kubeconfig", super_admin]
        create = ["create", "clusterrolebinding", "kubeadm:cluster-admins", "--clusterrole=cluster-admin"]
        self._run([*kubectl, *create, "--group=kubeadm:cluster-admins"])

    def _wait_ready(self) -> None:
        """Until ``/readyz`` answers ok (the API server's post-start hooks, RBAC bootstrap included)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited ({process.returncode}):\n{self.log_tail(name)}")
            try:
                super_admin = str(self.workdir / "kube" / "super-admin.conf")
                argv = [str(self._bin("kubectl")), "--kubeconfig", super_admin, "get", "--raw", "/readyz"]
                if self._run(argv).strip() == "ok":
                    return
            except RuntimeError:
                pass
            time.sleep(0.5)
        raise RuntimeError(
            f"kube-apiserver was not ready within {START_TIMEOUT:g}s:\n{self.log_tail('kube-apiserver')}"
        )
