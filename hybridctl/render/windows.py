"""The files of a Windows worker: containerd, kubelet (TLS bootstrap), kube-proxy, pod network, boot.

Contracts with the steps that install these files:

* ``C:\\k\\hybridctl\\<service>-service.json`` (purpose ``<service>-service``): ``name``
  (service name), ``displayName``, ``application`` (executable), ``arguments`` (argv list, one element per
  argument, unquoted: the installer quotes them for nssm's AppParameters), ``environment`` (name -> value,
  nssm AppEnvironmentExtra), ``dependOnService`` (list), ``startType`` (``auto``), ``stdout``/``stderr``
  (log files under ``C:\\var\\log\\``), ``rotation`` (``files``, ``online``, ``seconds``, ``bytes``: nssm
  AppRotateFiles/Online/Seconds/Bytes), ``exitAction`` (``Restart``), ``restartDelayMs`` (AppRestartDelay).
* ``C:\\k\\hybridctl\\hns-network.json`` (routes mode): ``Name`` (cbr0), ``Type`` (L2Bridge),
  ``AdapterName``, ``AddressPrefix`` (node pod CIDR), ``Gateway`` (its first address) and ``HostEndpoint``
  (``Name`` cbr0_ep, ``IPAddress`` the second address). ``boot.ps1`` creates the network and the endpoint
  from it when they are missing, so running it once after installing the files also does the first creation.
"""

from __future__ import annotations

from hybridctl.inventory import Cluster
from hybridctl.render.engine import FileSpec, table

# (template under templates/windows/ without .j2, target, purpose, kind); kind: plain, secret or script.
_RUNTIME = (
    ("containerd/config.toml", r"C:\Program Files\containerd\config.toml", "containerd-config", "plain"),
)
_KUBELET = (
    ("kubelet/config.yaml", r"C:\var\lib\kubelet\config.yaml", "kubelet-config", "plain"),
    (
        "kubernetes/bootstrap-kubelet.conf",
        r"C:\etc\kubernetes\bootstrap-kubelet.conf",
        "kubelet-bootstrap-kubeconfig",
        "secret",
    ),
    ("kubernetes/ca.crt", r"C:\etc\kubernetes\pki\ca.crt", "ca-certificate", "plain"),
    ("hybridctl/kubelet-service.json", r"C:\k\hybridctl\kubelet-service.json", "kubelet-service", "plain"),
)
_KUBE_PROXY = (
    ("kube-proxy/kube-proxy-config.yaml", r"C:\k\kube-proxy-config.yaml", "kube-proxy-config", "plain"),
    ("kube-proxy/kube-proxy.kubeconfig", r"C:\k\kube-proxy.kubeconfig", "kube-proxy-kubeconfig", "secret"),
    (
        "hybridctl/kube-proxy-service.json",
        r"C:\k\hybridctl\kube-proxy-service.json",
        "kube-proxy-service",
        "plain",
    ),
)
_ROUTES_MODE = (
    ("cni/10-cbr0.conf", r"C:\etc\cni\net.d\10-cbr0.conf", "cni-config", "plain"),
    ("hybridctl/hns-network.json", r"C:\k\hybridctl\hns-network.json", "hns-network", "plain"),
    ("hybridctl/routes.ps1", r"C:\k\hybridctl\routes.ps1", "routes", "script"),
)
_VXLAN_MODE = (
    ("cni/10-flannel.conf", r"C:\etc\cni\net.d\10-flannel.conf", "cni-config", "plain"),
    ("flannel/net-conf.json", r"C:\etc\kube-flannel\net-conf.json", "flannel-net-conf", "plain"),
    ("flannel/flanneld.kubeconfig", r"C:\k\flanneld.kubeconfig", "flanneld-kubeconfig", "secret"),
    ("hybridctl/flanneld-service.json", r"C:\k\hybridctl\flanneld-service.json", "flanneld-service", "plain"),
)
_HOST = (
    ("hybridctl/firewall.ps1", r"C:\k\hybridctl\firewall.ps1", "firewall", "script"),
    ("hybridctl/boot.ps1", r"C:\k\hybridctl\boot.ps1", "boot-task", "script"),
)


def windows_specs(cluster: Cluster) -> list[FileSpec]:
    """What a Windows host gets, in a stable order."""
    network = _VXLAN_MODE if cluster.spec.network.mode == "vxlan" else _ROUTES_MODE
    return table("windows", (*_RUNTIME, *_KUBELET, *_KUBE_PROXY, *network, *_HOST))
