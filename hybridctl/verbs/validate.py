"""``validate``, ``schema`` and ``version``: inventory checks that never connect to a host."""

from __future__ import annotations

import json

from hybridctl import __version__
from hybridctl.appenv import AppEnv
from hybridctl.errors import ExitCode
from hybridctl.inventory import load_inventory
from hybridctl.inventory.load import LoadResult, no_inventory
from hybridctl.inventory.models import Cluster
from hybridctl.ui import counted
from hybridctl.versions import RELEASES, SUPPORTED_RANGE, WINDOWS_BUILDS, support_document


def run_validate(env: AppEnv) -> int:
    """Validate the inventory; print every problem; return 0 or 3."""
    result = load_inventory(env.inventory_path())
    if result.missing and not env.json:
        raise no_inventory(result.path)
    if env.json:
        _print_json(env, result)  # validate's one JSON document, even without a file
        return ExitCode.USAGE if result.missing else _validity(result)
    _print_human(env, result)
    return _validity(result)


def _validity(result: LoadResult) -> int:
    return ExitCode.INVALID_INVENTORY if result.errors or result.cluster is None else ExitCode.OK


def _print_json(env: AppEnv, result: LoadResult) -> None:
    document = {
        "valid": not result.errors and result.cluster is not None,
        "file": str(result.path),
        "problems": [p.to_json() for p in result.problems],
    }
    env.stdout.write(json.dumps(document, indent=2) + "\n")


def _print_human(env: AppEnv, result: LoadResult) -> None:
    for problem in result.problems:
        env.stderr.write(f"{problem}\n")
    errors, warnings = len(result.errors), len(result.warnings)
    if errors or result.cluster is None:
        env.stderr.write(
            f"{result.path}: invalid ({counted(errors, 'error')}, {counted(warnings, 'warning')})\n"
        )
    else:
        hosts = len(result.cluster.hosts)
        env.stdout.write(f"{result.path}: valid ({counted(hosts, 'host')}, {counted(warnings, 'warning')})\n")


def print_schema(env: AppEnv) -> None:
    """Print the inventory's JSON Schema."""
    schema = Cluster.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "hybridctl inventory (hybridctl.io/v1alpha1, kind Cluster)"
    env.stdout.write(json.dumps(schema, indent=2, sort_keys=True) + "\n")


def print_version(env: AppEnv) -> None:
    """Print hybridctl's version, the supported Kubernetes minors with their components, and Windows."""
    if env.json:
        env.stdout.write(json.dumps({"version": __version__, **support_document()}) + "\n")
        return
    env.stdout.write(f"hybridctl {__version__}\n")
    env.stdout.write(f"Kubernetes: {SUPPORTED_RANGE}\n")
    for r in reversed(RELEASES):
        status = "in upstream support" if r.in_upstream_support else "kept only to upgrade from"
        lines = ", ".join(f"{v}+" for v in r.containerd)
        env.stdout.write(f"  {r.series}: newest {r.newest}, {status}; containerd {lines}, pause {r.pause}\n")
    windows = ", ".join(f"{v} ({b})" for v, b in WINDOWS_BUILDS.items())
    env.stdout.write(f"Windows Server: {windows}\n")
