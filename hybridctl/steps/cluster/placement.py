"""Where a workload's pods may land: Linux-only selectors, Windows tolerations, the patch that fixes it."""

from __future__ import annotations

import json
from typing import Any

OS_LABEL = "kubernetes.io/os"
LINUX_ONLY_PATCH = json.dumps({"spec": {"template": {"spec": {"nodeSelector": {OS_LABEL: "linux"}}}}})


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    """The pod template's spec of a DaemonSet or Deployment."""
    spec: dict[str, Any] = workload.get("spec", {}).get("template", {}).get("spec", {})
    return spec


def _required_terms(spec: dict[str, Any]) -> list[dict[str, Any]]:
    affinity = spec.get("affinity") or {}
    required = (affinity.get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms: list[dict[str, Any]] = required.get("nodeSelectorTerms") or []
    return terms


def _term_os(term: dict[str, Any]) -> set[str] | None:
    """The OS values a node selector term allows, None when it does not restrict the OS."""
    for expression in term.get("matchExpressions") or []:
        if expression.get("key") == OS_LABEL and expression.get("operator") == "In":
            return set(expression.get("values") or [])
    return None


def allowed_os(spec: dict[str, Any]) -> set[str] | None:
    """The OSes a pod spec may schedule on (nodeSelector and required node affinity); None means any."""
    allowed: set[str] | None = None
    selector = (spec.get("nodeSelector") or {}).get(OS_LABEL)
    if selector:
        allowed = {selector}
    terms = _required_terms(spec)
    if terms:
        per_term = [_term_os(t) for t in terms]  # terms are ORed: one unrestricted term allows any OS
        if all(values is not None for values in per_term):
            union = set().union(*(v for v in per_term if v is not None))
            allowed = union if allowed is None else allowed & union
    return allowed


def tolerates_windows(spec: dict[str, Any]) -> bool:
    """Whether the pods tolerate hybridctl's Windows taint ``os=windows:NoSchedule``."""
    for toleration in spec.get("tolerations") or []:
        key, operator = toleration.get("key", ""), toleration.get("operator", "Equal")
        effect_ok = toleration.get("effect", "") in ("", "NoSchedule")
        if not key and operator == "Exists" and effect_ok:
            return True
        if key == "os" and effect_ok and (operator == "Exists" or toleration.get("value") == "windows"):
            return True
    return False


def needs_linux_only(workload: dict[str, Any], *, check_tolerations: bool = True) -> bool:
    """True for a workload that could land on a Windows node although it is not a Windows workload."""
    spec = pod_spec(workload)
    allowed = allowed_os(spec)
    if allowed is not None and "windows" not in allowed:
        return False  # already Linux-only (or another OS)
    if allowed is not None and allowed == {"windows"}:
        return False  # a Windows workload: none of our business
    return tolerates_windows(spec) if check_tolerations else True
