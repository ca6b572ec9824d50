"""The simulated toolchain refuses what real tools would refuse, with a clear message.

Tier: lab. Real: a test host (OpenSSH, network namespace) where the simulator runs. Simulated: kubeadm,
kubectl, apt-get, modprobe (that is what is under test: tests/lab/linux_sim).
"""

from __future__ import annotations

from hybridctl.steps.linux import PREPARE
from tests.lab.linux_sim.lab import SimLab, run_steps
from tests.support.linux_hosts import TestHost

INIT = """\
apiVersion: {api}
kind: InitConfiguration
localAPIEndpoint: {{advertiseAddress: {address}, bindPort: 6443}}
nodeRegistration: {{name: {name}, criSocket: "unix:///var/run/containerd/containerd.sock"{extra}}}
---
apiVersion: {api}
kind: ClusterConfiguration
kubernetesVersion: v1.37.2
controlPlaneEndpoint: "{address}:6443"
networking: {{podSubnet: 10.244.0.0/16}}
"""


def _init(
    host: TestHost, api: str = "kubeadm.k8s.io/v1beta4", extra: str = "", *flags: str
) -> tuple[int, str]:
    config = INIT.format(api=api, address=host.address, name=host.name, extra=extra)
    host.exec("sh", "-c", "cat > /tmp/init.yaml", input=config)
    done = host.exec("kubeadm", "init", "--config", "/tmp/init.yaml", *flags, check=False)
    return done.returncode, done.stderr


def test_kubeadm_refuses_broken_configs_and_unknown_flags(lab: SimLab) -> None:
    (host,) = lab.add(1)
    cluster = lab.cluster([(host, "control-plane")])
    run_steps(lab, cluster, PREPARE).assert_ok()
    code, err = _init(host, api="kubeadm.k8s.io/v1beta3")
    assert code and 'no kind "InitConfiguration" is registered for version "kubeadm.k8s.io/v1beta3"' in err
    code, err = _init(host, extra=", nodeLabels: {a: b}")
    assert (
        code and 'strict decoding error: unknown field "InitConfiguration.nodeRegistration.nodeLabels"' in err
    )
    code, err = _init(host, extra=", kubeletExtraArgs: {node-ip: 10.0.0.1}")
    assert code and "v1beta4 wants a list of {name, value}" in err
    code, err = _init(host, "kubeadm.k8s.io/v1beta4", "", "--pod-network-cidr=10.0.0.0/8")
    assert code and "unknown flag: --pod-network-cidr" in err
    assert not lab.model.read()["initialized"], "a refused init must not create a cluster"


def test_kubeadm_preflight_and_other_tools_refuse_what_real_ones_refuse(lab: SimLab) -> None:
    (host,) = lab.add(1)
    code, err = _init(host)
    assert code == 127 and "kubeadm package is not installed" in err
    modprobe = host.exec("modprobe", "nf_tables_fancy", check=False)
    assert modprobe.returncode and "not found" in modprobe.stderr
    kubectl = host.exec("kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "get", "nodes", check=False)
    assert kubectl.returncode and "no such file" in kubectl.stderr
    keyring = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
    listing = f"deb [signed-by={keyring}] {{}}/pkgs.k8s.io/core:/stable:/v1.29/deb/ /\n"
    host.exec(
        "sh",
        "-c",
        "mkdir -p /etc/apt/sources.list.d && cat > /etc/apt/sources.list.d/kubernetes.list",
        input=listing.format(lab.mirror.url),
    )
    update = host.exec("apt-get", "update", check=False)
    assert update.returncode and "does not have a Release file" in update.stderr


def test_kubeadm_init_preflight_refuses_swap_and_a_stopped_containerd(lab: SimLab) -> None:
    (host,) = lab.add(1)
    cluster = lab.cluster([(host, "control-plane")])
    run_steps(lab, cluster, PREPARE).assert_ok()
    host.exec("swapon", "/dev/hybridctl-lab-swap")
    host.exec("systemctl", "stop", "containerd")
    code, err = _init(host)
    assert code and "[ERROR Swap]" in err and "[ERROR CRI]" in err
