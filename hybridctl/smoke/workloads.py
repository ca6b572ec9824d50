"""The smoke test's Kubernetes objects, rendered from ``templates/smoke/`` so an admin can read and diff them.

One namespace; one DaemonSet for the Linux nodes and one per Windows RuntimeClass (process isolation per
build, and ``windows-hyperv-<version>`` when Hyper-V isolation is offered), each pod with two agnhost
``netexec`` containers (``server`` on 8080, ``peer`` on 8081) so the checks can test localhost between the
containers of one pod; per OS a ClusterIP and a NodePort Service in front of that OS's pods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hybridctl.inventory.models import Cluster
from hybridctl.render.cluster import RuntimeClassSpec, runtime_classes
from hybridctl.render.engine import render_text
from hybridctl.render.files import RenderedFile
from hybridctl.render.values import RuntimeValues

NAMESPACE = "hybridctl-smoke"
SERVER_PORT = 8080  # agnhost netexec --http-port of the "server" container
PEER_PORT = 8081  # the "peer" container's netexec; checks run agnhost connect from this container
SERVICE_PORT = 80
OS_LABEL = "hybridctl.io/smoke-os"
CLASS_LABEL = "hybridctl.io/smoke-class"
LINUX_CLASS = "linux"

AGNHOST = "e2e-test-images/agnhost"
AGNHOST_TAG = "2.63.0"
AGNHOST_DIGEST = "sha256:a62f40481e05709988fe44e5035b2e0f553cd52bf0ae4e83614928255b00e8c1"
"""The default test image, pinned by the digest of its manifest list. The digest is the one Kubernetes'
image promoter published as registry.k8s.io/e2e-test-images/agnhost:2.63.0 (kubernetes/k8s.io
``registry.k8s.io/images/k8s-staging-e2e-test-images/images.yaml``, commit e10ab5f9); 2.63.0 is
``test/images/agnhost/VERSION`` of k8s.io/kubernetes v1.36.3, whose ``BASEIMAGE`` builds Linux and Windows
1809 (Server 2019), ltsc2022 and ltsc2025 variants: one image for every Windows build hybridctl supports.
(The 1.37 release's 2.66.1 is newer, but no promoted digest of it could be cited here.)"""
DEFAULT_REGISTRY = "registry.k8s.io"


@dataclass(frozen=True)
class Workload:
    """One smoke DaemonSet: its name, OS, RuntimeClass (Windows) and the Windows build it is pinned to."""

    name: str
    os: str
    runtime_class: str | None
    build: str | None

    @property
    def klass(self) -> str:
        """The value of the class label: ``linux`` or the RuntimeClass name."""
        return self.runtime_class or LINUX_CLASS


def smoke_image(cluster: Cluster, override: str | None = None) -> str:
    """``--image``, else ``spec.smoke.image``, else agnhost by digest under imageRepository or registry.k8s.io
    (a mirror that copies the image with its manifest list, as ``crane copy`` or ``skopeo copy --all`` do,
    keeps the digest)."""
    if override:
        return override
    if cluster.spec.smoke.image:
        return cluster.spec.smoke.image
    registry = cluster.spec.kubernetes.image_repository or DEFAULT_REGISTRY
    return f"{registry}/{AGNHOST}:{AGNHOST_TAG}@{AGNHOST_DIGEST}"


def workloads(cluster: Cluster, values: RuntimeValues) -> list[Workload]:
    """The Linux DaemonSet, then one per Windows RuntimeClass the cluster has."""
    found = [Workload("smoke-linux", "linux", None, None)]
    found += [_windows(spec) for spec in runtime_classes(cluster, values)]
    return found


def _windows(spec: RuntimeClassSpec) -> Workload:
    return Workload(f"smoke-{spec.name}", "windows", spec.name, spec.build)


def render_smoke(cluster: Cluster, values: RuntimeValues, image: str) -> list[RenderedFile]:
    """The namespace, the DaemonSets and the Services, as ``cluster/smoke/<name>.yaml`` files."""
    context: dict[str, Any] = {
        "namespace": NAMESPACE,
        "image": image,
        "server_port": SERVER_PORT,
        "peer_port": PEER_PORT,
        "service_port": SERVICE_PORT,
        "os_label": OS_LABEL,
        "class_label": CLASS_LABEL,
    }
    files = [_file("namespace", "smoke/namespace.yaml.j2", context)]
    for workload in workloads(cluster, values):
        files.append(_file(workload.name, "smoke/daemonset.yaml.j2", {**context, "workload": workload}))
    for os_name in ("linux", "windows") if cluster.windows_hosts else ("linux",):
        files.append(_file(f"services-{os_name}", "smoke/services.yaml.j2", {**context, "os": os_name}))
    return files


def _file(name: str, template: str, context: dict[str, Any]) -> RenderedFile:
    content = render_text(template, context).encode("utf-8")
    return RenderedFile(None, None, "smoke-workload", content, 0o644, f"cluster/smoke/{name}.yaml", False)
