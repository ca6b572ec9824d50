"""Simulated kubectl over the lab's cluster model.

Validates the kubeconfig it is given (the client identity must belong to the current cluster, so a
stale admin.conf is Unauthorized), and answers only what hybridctl uses, refusing other verbs, resources
and flags:
- ``get`` nodes, secrets, configmaps, daemonsets, deployments, runtimeclasses, pods and events (the
  model stores no pods or events: the lab runs no real pods), ``--raw /readyz`` (ok only while this
  host, where hybridctl runs kubectl, has the kube-apiserver and etcd static pod manifests: the real API
  server and its stacked etcd run from them) and ``/version``; ``-o json``, ``-n``, ``-A``,
  ``--ignore-not-found``;
- ``apply -f -`` (RuntimeClass; Secret, a service-account-token one gets its token from the model);
- ``label node``, ``taint node``, ``patch`` (merge patches of daemonsets/deployments);
- ``drain`` (needs ``--ignore-daemonsets``: every Linux node runs kube-proxy), ``delete`` of a node, a
  Secret or a RuntimeClass, ``create token``.
"""

import base64
import json
import sys
from pathlib import Path

import yaml
from cluster_model import ModelError, node_object
from sim_common import SimError, duration, model, take_flags

VALUE_FLAGS = (
    "--kubeconfig",
    "-o",
    "--output",
    "-n",
    "--namespace",
    "-f",
    "--filename",
    "--type",
    "-p",
    "--patch",
    "--timeout",
    "--duration",
    "--raw",
)
BOOL_FLAGS = (
    "-A",
    "--all-namespaces",
    "--ignore-not-found",
    "--overwrite",
    "--ignore-daemonsets",
    "--delete-emptydir-data",
    "--force",
)
KINDS = {
    "nodes": "nodes",
    "node": "nodes",
    "no": "nodes",
    "secrets": "secrets",
    "secret": "secrets",
    "daemonsets": "daemonsets",
    "daemonset": "daemonsets",
    "ds": "daemonsets",
    "deployments": "deployments",
    "deployment": "deployments",
    "deploy": "deployments",
    "runtimeclasses": "runtimeclasses",
    "runtimeclass": "runtimeclasses",
    "pods": "pods",
    "pod": "pods",
    "events": "events",
    "event": "events",
    "configmaps": "configmaps",
    "configmap": "configmaps",
    "cm": "configmaps",
}
API = {
    "daemonsets": ("apps/v1", "DaemonSet"),
    "deployments": ("apps/v1", "Deployment"),
    "secrets": ("v1", "Secret"),
    "runtimeclasses": ("node.k8s.io/v1", "RuntimeClass"),
    "pods": ("v1", "Pod"),
    "events": ("v1", "Event"),
    "configmaps": ("v1", "ConfigMap"),
}


def main(program, args):
    flags, words = take_flags(args, VALUE_FLAGS, booleans=BOOL_FLAGS)
    cluster = _authenticate(flags.get("--kubeconfig"))
    if not words and "--raw" not in flags:
        raise SimError("no verb given")
    verb = words[0] if words else "get"
    handler = VERBS.get(verb)
    if handler is None:
        raise SimError(f'unknown command "{verb}" for "kubectl" (the lab simulates {sorted(VERBS)})')
    try:
        return handler(words[1:], flags, cluster)
    except ModelError as error:
        raise SimError(f"Error from server: {error}") from None


def _authenticate(path):
    if path is None:
        raise SimError("the lab's kubectl needs --kubeconfig (hybridctl always passes admin.conf)")
    try:
        config = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise SimError(f"stat {path}: no such file or directory") from None
    try:
        cluster = model().cluster()
    except ModelError as error:
        raise SimError(f"The connection to the server was refused ({error})") from None
    identity = base64.b64decode(config["users"][0]["user"]["client-certificate-data"]).decode()
    if identity.split(":")[1] != cluster["uid"]:
        raise SimError("error: You must be logged in to the server (Unauthorized)")
    return cluster


def _namespace(flags):
    return flags.get("-n", flags.get("--namespace", "default"))


def _print(obj, flags):
    if flags.get("-o", flags.get("--output")) != "json":
        raise SimError("the lab's kubectl prints -o json only")
    print(json.dumps(obj, indent=2))


def _stored(kind, key, name):
    if kind == "nodes":
        entry = model().nodes().get(name)
        return node_object(entry) if entry else None
    obj = model().objects(kind).get(key)
    if obj is None:
        return None
    api, kind_name = API[kind]
    namespace, _, _ = key.rpartition("/")
    metadata = {**obj.get("metadata", {}), "name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api, "kind": kind_name, **obj, "metadata": metadata}


MANIFESTS = Path("/etc/kubernetes/manifests")
STATIC_PODS = ("kube-apiserver", "etcd")


def _raw(path, cluster):
    """/readyz and friends, and /version: the API server's version is the release kubeadm initialised."""
    if path == "/version":
        major, minor, _ = cluster["version"].split(".")
        print(json.dumps({"major": major, "minor": minor, "gitVersion": f"v{cluster['version']}"}))
        return 0
    if path not in ("/readyz", "/livez", "/healthz"):
        raise SimError(f"the lab answers --raw /readyz and /version only, not {path}")
    missing = [name for name in STATIC_PODS if not (MANIFESTS / f"{name}.yaml").exists()]
    if missing:  # the API server and its etcd are static pods of this (control-plane) host
        raise SimError(f"The connection to the server was refused (no static pod {', '.join(missing)})")
    print("ok")
    return 0


def get(words, flags, cluster):
    if "--raw" in flags:
        return _raw(flags["--raw"], cluster)
    if not words or words[0] not in KINDS:
        raise SimError(f'the server doesn\'t have a resource type "{words[0] if words else ""}"')
    kind = KINDS[words[0]]
    if len(words) > 1:
        key = words[1] if kind in ("nodes", "runtimeclasses") else f"{_namespace(flags)}/{words[1]}"
        obj = _stored(kind, key, words[1])
        if obj is None:
            if "--ignore-not-found" in flags:
                return 0
            raise SimError(f'Error from server (NotFound): {kind} "{words[1]}" not found')
        _print(obj, flags)
        return 0
    _print({"apiVersion": "v1", "kind": "List", "items": _list(kind, flags)}, flags)
    return 0


def _list(kind, flags):
    if kind == "nodes":
        return [node_object(entry) for _, entry in sorted(model().nodes().items())]
    every = {"-A", "--all-namespaces"} & set(flags)
    items = []
    for key in sorted(model().objects(kind)):
        namespace, _, name = key.rpartition("/")
        if every or kind == "runtimeclasses" or namespace == _namespace(flags):
            items.append(_stored(kind, key, name))
    return items


def apply(words, flags, cluster):
    if words or flags.get("-f", flags.get("--filename")) != "-":
        raise SimError("the lab's kubectl applies -f - only")
    documents = [d for d in yaml.safe_load_all(sys.stdin.read()) if d]
    for document in documents:
        for item in document.get("items", [document]) if document.get("kind") == "List" else [document]:
            print(_apply_one(item))
    return 0


def _apply_one(item):
    kind, api, name = item.get("kind"), item.get("apiVersion"), item.get("metadata", {}).get("name")
    if not name:
        raise SimError("error: resource name may not be empty")
    if kind == "RuntimeClass" and api == "node.k8s.io/v1":
        if not item.get("handler"):
            raise SimError(f'RuntimeClass.node.k8s.io "{name}" is invalid: handler: Required value')
        body = {k: v for k, v in item.items() if k not in ("apiVersion", "kind")}
        changed = model().put_object("runtimeclasses", name, body)
        return f"runtimeclass.node.k8s.io/{name} {'configured' if changed else 'unchanged'}"
    if kind == "Secret" and api == "v1":
        return _apply_secret(item, name)
    raise SimError(f'the lab cannot apply kind "{kind}" of "{api}"')


def _apply_secret(item, name):
    namespace = item["metadata"].get("namespace", "default")
    key = f"{namespace}/{name}"
    body = {k: v for k, v in item.items() if k not in ("apiVersion", "kind")}
    existing = model().objects("secrets").get(key)
    if item.get("type") == "kubernetes.io/service-account-token":
        account = item["metadata"].get("annotations", {}).get("kubernetes.io/service-account.name")
        if not account:
            raise SimError(
                f'Secret "{name}" is invalid: '
                "metadata.annotations[kubernetes.io/service-account.name]: Required value"
            )
        token = (existing or {}).get("data", {}).get("token")
        if token is None:
            token = base64.b64encode(
                model().create_sa_token(namespace, account, 10 * 365 * 86400).encode()
            ).decode()
        body["data"] = {**body.get("data", {}), "token": token}
    changed = model().put_object("secrets", key, body)
    return f"secret/{name} {'configured' if changed else 'unchanged'}"


def _node_or_fail(name):
    entry = model().nodes().get(name)
    if entry is None:
        raise SimError(f'Error from server (NotFound): nodes "{name}" not found')
    return entry


def label(words, flags, cluster):
    if len(words) < 3 or KINDS.get(words[0]) != "nodes":
        raise SimError("the lab labels nodes only: kubectl label node NAME KEY=VALUE...")
    entry = _node_or_fail(words[1])
    labels = dict(entry.get("labels") or {})
    for pair in words[2:]:
        if pair.endswith("-"):
            labels.pop(pair[:-1], None)
            continue
        key, sep, value = pair.partition("=")
        if not sep:
            raise SimError(f"invalid label {pair!r}")
        if key in labels and labels[key] != value and "--overwrite" not in flags:
            raise SimError(f"'{key}' already has a value ({labels[key]}), and --overwrite is false")
        labels[key] = value
    model().update_node(words[1], labels=labels)
    print(f"node/{words[1]} labeled")
    return 0


def annotate(words, flags, cluster):
    if len(words) < 3 or KINDS.get(words[0]) != "nodes":
        raise SimError("the lab annotates nodes only: kubectl annotate node NAME KEY=VALUE...")
    entry = _node_or_fail(words[1])
    annotations = dict(entry.get("annotations") or {})
    for pair in words[2:]:
        if pair.endswith("-"):
            annotations.pop(pair[:-1], None)
            continue
        key, sep, value = pair.partition("=")
        if not sep:
            raise SimError(f"invalid annotation {pair!r}")
        if key in annotations and annotations[key] != value and "--overwrite" not in flags:
            raise SimError(f"'{key}' already has a value ({annotations[key]}), and --overwrite is false")
        annotations[key] = value
    model().update_node(words[1], annotations=annotations)
    print(f"node/{words[1]} annotated")
    return 0


def taint(words, flags, cluster):
    if len(words) < 3 or KINDS.get(words[0]) != "nodes":
        raise SimError("the lab taints nodes only: kubectl taint node NAME KEY[=VALUE]:EFFECT...")
    entry = _node_or_fail(words[1])
    taints = list(entry.get("taints") or [])
    for spec in words[2:]:
        body, _, effect = spec.rpartition(":")
        key, _, value = body.partition("=")
        if effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute") or not key:
            raise SimError(f"invalid taint spec: {spec}")
        same = [t for t in taints if t.get("key") == key and t.get("effect") == effect]
        if same and "--overwrite" not in flags:
            raise SimError(
                f"node {words[1]} already has {key} taint(s) with same effect(s) and --overwrite is false"
            )
        taints = [t for t in taints if t not in same] + [
            {"key": key, "value": value, "effect": effect} if value else {"key": key, "effect": effect}
        ]
    model().update_node(words[1], taints=taints)
    print(f"node/{words[1]} tainted")
    return 0


def _merge(target, patch):
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value
    return target


def patch(words, flags, cluster):
    if len(words) != 2 or KINDS.get(words[0]) not in ("daemonsets", "deployments"):
        raise SimError("the lab patches daemonsets and deployments only")
    if flags.get("--type") != "merge":
        raise SimError("the lab applies --type merge patches only")
    kind, key = KINDS[words[0]], f"{_namespace(flags)}/{words[1]}"
    obj = model().objects(kind).get(key)
    if obj is None:
        raise SimError(f'Error from server (NotFound): {kind} "{words[1]}" not found')
    changed = model().put_object(
        kind, key, _merge(obj, json.loads(flags.get("-p", flags.get("--patch", "{}"))))
    )
    print(f"{kind[:-1]}.apps/{words[1]} {'patched' if changed else 'patched (no change)'}")
    return 0


def drain(words, flags, cluster):
    if len(words) != 1:
        raise SimError("kubectl drain NODE")
    entry = _node_or_fail(words[0])
    if "--ignore-daemonsets" not in flags and entry.get("os", "linux") == "linux":
        raise SimError(
            "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets): "
            f"kube-system/kube-proxy on {words[0]}"
        )
    if "--timeout" in flags:
        duration(flags["--timeout"])
    model().update_node(words[0], unschedulable=True)
    print(f"node/{words[0]} cordoned\nnode/{words[0]} drained")
    return 0


def delete(words, flags, cluster):
    if len(words) == 2 and words[0] in ("secret", "secrets"):
        return _delete_secret(words[1], flags)
    if len(words) == 2 and KINDS.get(words[0]) == "runtimeclasses":
        return _delete_runtime_class(words[1], flags)
    if len(words) != 2 or KINDS.get(words[0]) != "nodes":
        raise SimError("the lab deletes nodes, secrets and RuntimeClasses only: kubectl delete KIND NAME")
    if words[1] not in model().nodes():
        if "--ignore-not-found" in flags:
            return 0
        raise SimError(f'Error from server (NotFound): nodes "{words[1]}" not found')
    model().delete_node(words[1])
    print(f'node "{words[1]}" deleted')
    return 0


def _delete_secret(name, flags):
    """Delete a Secret; a service-account-token Secret's token stops being valid with it (legacy tokens
    are checked against their Secret by the API server)."""
    key = f"{_namespace(flags)}/{name}"
    secret = model().objects("secrets").get(key)
    if secret is None:
        if "--ignore-not-found" in flags:
            return 0
        raise SimError(f'Error from server (NotFound): secrets "{name}" not found')
    token = secret.get("data", {}).get("token")
    if token:
        model().revoke_sa_token(base64.b64decode(token).decode())
    model().delete_object("secrets", key)
    print(f'secret "{name}" deleted')
    return 0


def _delete_runtime_class(name, flags):
    if not model().delete_object("runtimeclasses", name):
        if "--ignore-not-found" in flags:
            return 0
        raise SimError(f'Error from server (NotFound): runtimeclasses.node.k8s.io "{name}" not found')
    print(f'runtimeclass.node.k8s.io "{name}" deleted')
    return 0


def create(words, flags, cluster):
    if len(words) != 2 or words[0] != "token":
        raise SimError("the lab creates tokens only: kubectl create token SERVICEACCOUNT -n NAMESPACE")
    seconds = duration(flags.get("--duration", "1h"))
    print(model().create_sa_token(_namespace(flags), words[1], seconds))
    return 0


VERBS = {
    "get": get,
    "apply": apply,
    "label": label,
    "annotate": annotate,
    "taint": taint,
    "patch": patch,
    "drain": drain,
    "delete": delete,
    "create": create,
}
