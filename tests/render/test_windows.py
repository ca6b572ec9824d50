"""Windows worker files: kubelet (reference section 4.3), services, kube-proxy, CNI, HNS, firewall, boot.

Tier: render. Real: Jinja2 and the templates, ruamel.yaml, json, tree-sitter-powershell for the scripts.
Simulated: nothing; what the scripts do on Windows is not exercised here (no Windows, no PowerShell).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from hybridctl.render import RenderedFile, RuntimeValues, render_host
from tests.render import helpers
from tests.support.powershell import invocations

# Field names of kubelet.config.k8s.io/v1beta1 KubeletConfiguration that the template may use.
KUBELET_FIELDS = {
    "apiVersion", "kind", "cgroupsPerQOS", "enforceNodeAllocatable", "resolvConf", "containerRuntimeEndpoint",
    "hairpinMode", "clusterDNS", "clusterDomain", "authentication", "authorization", "rotateCertificates",
    "registerNode", "registerWithTaints",
}  # fmt: skip
KUBE_PROXY_FIELDS = {
    "apiVersion", "kind", "mode", "hostnameOverride", "clusterCIDR", "clientConnection", "winkernel",
    "featureGates",
}  # fmt: skip
WINKERNEL_FIELDS = {"networkName", "sourceVip", "enableDSR", "rootHnsEndpointName", "forwardHealthCheckVip"}


def _files(
    name: str, host: str, values: RuntimeValues | None = None, data: dict[str, Any] | None = None
) -> list[RenderedFile]:
    cluster = helpers.build(data) if data else helpers.inventory(name)
    return render_host(cluster, cluster.host(host), values if values is not None else helpers.assume(name))


def test_kubelet_settings_of_reference_4_3() -> None:
    config = helpers.yaml_doc(helpers.one(_files("ha-vxlan", "win2025"), "win2025", "kubelet/config.yaml"))
    assert set(config) <= KUBELET_FIELDS
    assert config["apiVersion"] == "kubelet.config.k8s.io/v1beta1"
    assert config["kind"] == "KubeletConfiguration"
    assert config["cgroupsPerQOS"] is False
    assert config["enforceNodeAllocatable"] == []
    assert config["resolvConf"] == ""
    assert config["containerRuntimeEndpoint"] == "npipe:////./pipe/containerd-containerd"
    assert config["hairpinMode"] == "promiscuous-bridge"
    assert config["clusterDNS"] == ["10.96.0.10"]
    assert config["clusterDomain"] == "cluster.local"
    assert config["authentication"] == {
        "anonymous": {"enabled": False},
        "webhook": {"enabled": True},
        "x509": {"clientCAFile": "C:\\etc\\kubernetes\\pki\\ca.crt"},
    }
    assert config["authorization"] == {"mode": "Webhook"}
    assert config["rotateCertificates"] is True
    assert config["registerWithTaints"] == [
        {"key": "os", "value": "windows", "effect": "NoSchedule"},
        {"key": "example.com/dedicated", "value": "batch", "effect": "NoSchedule"},
    ]
    assert not any(key.startswith("eviction") for key in config)


def test_cluster_dns_is_the_tenth_service_address() -> None:
    data = helpers.cluster_data("example")
    data["spec"]["kubernetes"]["serviceSubnet"] = "172.30.0.0/16"
    config = helpers.yaml_doc(
        helpers.one(_files("", "win1", RuntimeValues(), data), "win1", "kubelet/config.yaml")
    )
    assert config["clusterDNS"] == ["172.30.0.10"]


def test_kubelet_service_definition() -> None:
    service = helpers.json_doc(helpers.one(_files("ha-vxlan", "win2019"), "win2019", "kubelet-service.json"))
    assert service["name"] == "kubelet"
    assert service["application"] == "C:\\k\\kubelet.exe"
    assert service["arguments"] == [
        "--config=C:\\var\\lib\\kubelet\\config.yaml",
        "--bootstrap-kubeconfig=C:\\etc\\kubernetes\\bootstrap-kubelet.conf",
        "--kubeconfig=C:\\etc\\kubernetes\\kubelet.conf",
        "--cert-dir=C:\\var\\lib\\kubelet\\pki",
        "--hostname-override=win2019",
        "--node-ip=172.20.3.31",
        "--node-labels=example.com/tier=legacy",
        "--windows-priorityclass=ABOVE_NORMAL_PRIORITY_CLASS",
    ]
    assert service["dependOnService"] == ["containerd"]
    assert service["stdout"].startswith("C:\\var\\log\\") and service["stderr"].startswith("C:\\var\\log\\")
    assert service["rotation"] == {"files": True, "online": True, "seconds": 86400, "bytes": 10485760}
    assert service["exitAction"] == "Restart"
    assert service["restartDelayMs"] > 0


@pytest.mark.parametrize("name", ["example", "ha-vxlan"])
def test_no_pod_infra_container_image_anywhere(name: str) -> None:
    cluster = helpers.inventory(name)
    for host in cluster.windows_hosts:
        for item in render_host(cluster, host, helpers.assume(name)):
            assert "pod-infra-container-image" not in helpers.text(item), item.relpath


def test_service_dependency_order() -> None:
    vxlan = {
        f.relpath.rsplit("/", 1)[1]: helpers.json_doc(f)
        for f in _files("ha-vxlan", "win2022")
        if f.purpose.endswith("-service")
    }
    assert vxlan["kube-proxy-service.json"]["dependOnService"] == ["kubelet", "flanneld"]
    assert vxlan["flanneld-service.json"]["dependOnService"] == ["kubelet"]
    assert vxlan["flanneld-service.json"]["environment"] == {"NODE_NAME": "win2022"}
    assert "--iface=172.20.3.32" in vxlan["flanneld-service.json"]["arguments"]
    routes = {
        f.relpath.rsplit("/", 1)[1]: helpers.json_doc(f)
        for f in _files("example", "win1")
        if f.purpose.endswith("-service")
    }
    assert set(routes) == {"kubelet-service.json", "kube-proxy-service.json"}
    assert routes["kube-proxy-service.json"]["dependOnService"] == ["kubelet"]


def _proxy(name: str, host: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    values = RuntimeValues() if data else helpers.assume(name)
    config: dict[str, Any] = helpers.yaml_doc(
        helpers.one(_files(name, host, values, data), host, "kube-proxy-config.yaml")
    )
    assert set(config) <= KUBE_PROXY_FIELDS and set(config["winkernel"]) <= WINKERNEL_FIELDS
    return config


def test_kube_proxy_routes_mode() -> None:
    config = _proxy("example", "win1")
    assert config["mode"] == "kernelspace"
    assert config["hostnameOverride"] == "win1"
    assert config["clusterCIDR"] == "10.244.0.0/16"
    assert config["clientConnection"] == {"kubeconfig": "C:\\k\\kube-proxy.kubeconfig"}
    assert config["winkernel"] == {"networkName": "cbr0", "rootHnsEndpointName": "cbr0_ep"}
    assert "featureGates" not in config


def test_kube_proxy_vxlan_mode() -> None:
    config = _proxy("ha-vxlan", "win2022")
    assert config["winkernel"] == {"networkName": "flannel.4096", "sourceVip": "10.244.5.2"}
    assert "featureGates" not in config


@pytest.mark.parametrize("version", ["1.35.10", "1.36.6", "1.37.2"])
def test_kube_proxy_sets_no_feature_gates(version: str) -> None:
    """WinOverlay/WinDSR are GA and locked in every supported minor (pkg/features/kube_features.go)."""
    data = helpers.cluster_data("ha-vxlan")
    data["spec"]["kubernetes"]["version"] = version
    assert "featureGates" not in _proxy("", "win2022", data)


def _kubeconfig(item: RenderedFile) -> dict[str, Any]:
    doc: dict[str, Any] = helpers.yaml_doc(item)
    assert doc["kind"] == "Config" and doc["current-context"] == doc["contexts"][0]["name"]
    return doc


def test_kubeconfigs_use_the_real_endpoint_and_their_own_credentials() -> None:
    values = helpers.assume("ha-vxlan")
    files = _files("ha-vxlan", "win2025")
    expected = {
        "bootstrap-kubelet.conf": values.secret("bootstrap_token"),
        "kube-proxy.kubeconfig": values.secret("kube_proxy_token"),
        "flanneld.kubeconfig": values.secret("flannel_token"),
    }
    for suffix, token in expected.items():
        item = helpers.one(files, "win2025", suffix)
        assert item.secret and item.mode == 0o600
        doc = _kubeconfig(item)
        cluster = doc["clusters"][0]["cluster"]
        assert cluster["server"] == "https://k8s-api.example.internal:6443"
        assert base64.b64decode(cluster["certificate-authority-data"]).decode() == values.ca_certificate
        assert doc["users"][0]["user"] == {"token": token}


def test_bootstrap_kubeconfig_without_values_has_placeholders() -> None:
    item = helpers.one(_files("example", "win1", RuntimeValues()), "win1", "bootstrap-kubelet.conf")
    doc = _kubeconfig(item)
    assert doc["clusters"][0]["cluster"]["server"] == "https://192.168.10.10:6443"
    assert item.placeholders == ("bootstrap-token", "ca-certificate")


def test_routes_mode_cni_config() -> None:
    conf = helpers.json_doc(helpers.one(_files("example", "win1"), "win1", "10-cbr0.conf"))
    assert conf["type"] == "sdnbridge" and conf["name"] == "cbr0"
    assert conf["capabilities"] == {"portMappings": True, "dns": True}
    assert conf["ipam"] == {"subnet": "10.244.2.0/24", "routes": [{"GW": "10.244.2.2"}]}
    assert conf["dns"] == {"Nameservers": ["10.96.0.10"], "Search": ["svc.cluster.local"]}
    policies = [arg["Value"] for arg in conf["AdditionalArgs"]]
    assert all(arg["Name"] == "EndpointPolicy" for arg in conf["AdditionalArgs"])
    assert policies[0] == {
        "Type": "OutBoundNAT",
        "Settings": {
            "Exceptions": [
                "10.244.0.0/16",
                "10.96.0.0/12",
                "192.168.10.10/32",
                "192.168.10.11/32",
                "192.168.10.21/32",
                "192.168.10.22/32",
            ]
        },
    }
    assert policies[1:] == [
        {"Type": "SDNRoute", "Settings": {"DestinationPrefix": "10.96.0.0/12", "NeedEncap": True}},
        {"Type": "SDNRoute", "Settings": {"DestinationPrefix": "192.168.10.21/32", "NeedEncap": True}},
    ]


def test_vxlan_mode_cni_and_flannel_config() -> None:
    files = _files("ha-vxlan", "win2019")
    conf = helpers.json_doc(helpers.one(files, "win2019", "10-flannel.conf"))
    assert (conf["type"], conf["name"], conf["delegate"]["type"]) == ("flannel", "flannel.4096", "sdnoverlay")
    policies = [arg["Value"] for arg in conf["delegate"]["AdditionalArgs"]]
    assert policies[0]["Settings"]["Exceptions"] == ["10.96.0.0/12", "10.244.0.0/16"]
    assert policies[1] == {
        "Type": "SDNRoute",
        "Settings": {"DestinationPrefix": "10.96.0.0/12", "NeedEncap": True},
    }
    assert policies[2] == {"Type": "ProviderAddress", "Settings": {"ProviderAddress": "172.20.3.31"}}
    net_conf = helpers.json_doc(helpers.one(files, "win2019", "net-conf.json"))
    assert net_conf == {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 4096, "Port": 4789}}
    assert not any(f.relpath.endswith(("hns-network.json", "routes.ps1", "10-cbr0.conf")) for f in files)


def test_hns_network_definition() -> None:
    data = helpers.cluster_data("example")
    data["spec"]["hosts"][2]["interface"] = "Ethernet 2"
    values = helpers.assume("example")
    network = helpers.json_doc(helpers.one(_files("", "win1", values, data), "win1", "hns-network.json"))
    assert network == {
        "Name": "cbr0",
        "Type": "L2Bridge",
        "AdapterName": "Ethernet 2",
        "AddressPrefix": "10.244.2.0/24",
        "Gateway": "10.244.2.1",
        "HostEndpoint": {"Name": "cbr0_ep", "IPAddress": "10.244.2.2"},
    }


def _rules(script: str) -> dict[str, dict[str, str]]:
    return {
        inv.literal("Name"): {p: inv.literal(p) for p in ("Direction", "Protocol", "Port")}
        for inv in invocations(script, "Set-HybridctlRule")
    }


@pytest.mark.parametrize(
    ("name", "host", "vxlan"), [("example", "win1", False), ("ha-vxlan", "win2019", True)]
)
def test_firewall_rules(name: str, host: str, vxlan: bool) -> None:
    script = helpers.text(helpers.one(_files(name, host), host, "firewall.ps1"))
    expected = {
        "hybridctl-kubelet": {"Direction": "Inbound", "Protocol": "TCP", "Port": "10250"},
        "hybridctl-kube-proxy-health": {"Direction": "Inbound", "Protocol": "TCP", "Port": "10256"},
        "hybridctl-nodeports": {"Direction": "Inbound", "Protocol": "TCP", "Port": "30000-32767"},
    }
    if vxlan:
        expected["hybridctl-vxlan-in"] = {"Direction": "Inbound", "Protocol": "UDP", "Port": "4789"}
        expected["hybridctl-vxlan-out"] = {"Direction": "Outbound", "Protocol": "UDP", "Port": "4789"}
    assert _rules(script) == expected
    lowered = script.lower()
    assert "set-netfirewallprofile" not in lowered and "advfirewall" not in lowered
    removed = invocations(script, "Remove-NetFirewallRule")
    assert removed and all(inv.parameters.get("Name") != "'*'" for inv in removed)


def test_boot_script_order_routes_mode() -> None:
    script = helpers.text(helpers.one(_files("example", "win1"), "win1", "boot.ps1"))
    services = [inv.literal("Name") for inv in invocations(script, "Start-NodeService")]
    assert services == ["containerd", "kubelet", "kube-proxy"]
    steps = ("Start-NodeService", "Restore-", "Stop-Service", "& ")
    order = [line.split()[0] for line in script.splitlines() if line.startswith(steps)]
    assert order == [
        "Stop-Service",
        "Start-NodeService",
        "Restore-BridgeNetwork",
        "&",
        "Start-NodeService",
        "Start-NodeService",
    ]
    assert "'C:\\k\\hybridctl\\routes.ps1'" in script


def test_boot_script_order_vxlan_mode() -> None:
    script = helpers.text(helpers.one(_files("ha-vxlan", "win2025"), "win2025", "boot.ps1"))
    services = [inv.literal("Name") for inv in invocations(script, "Start-NodeService")]
    assert services == ["containerd", "kubelet", "flanneld", "kube-proxy"]
    wait = script.index("Wait-HnsNetwork -Seconds")
    assert (
        script.index("Start-NodeService -Name 'flanneld'")
        < wait
        < script.index("Start-NodeService -Name 'kube-proxy'")
    )
    assert "Restore-BridgeNetwork" not in script


def test_a_windows_taint_listed_in_the_inventory_is_registered_once() -> None:
    data = helpers.cluster_data("example")
    win1 = next(h for h in data["spec"]["hosts"] if h["name"] == "win1")
    win1["taints"] = [
        {"key": "os", "value": "windows", "effect": "NoSchedule"},
        {"key": "example.com/gpu", "value": "yes", "effect": "NoExecute"},
    ]
    cluster = helpers.build(data)
    files = render_host(cluster, cluster.host("win1"), helpers.assume("example"))
    config = helpers.yaml_doc(helpers.one(files, "win1", "kubelet/config.yaml"))
    assert config["registerWithTaints"] == [
        {"key": "os", "value": "windows", "effect": "NoSchedule"},
        {"key": "example.com/gpu", "value": "yes", "effect": "NoExecute"},
    ]
