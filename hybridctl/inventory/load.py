"""Load an inventory file: YAML with positions, ``${env:}`` secrets, schema, then semantic checks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from hybridctl.errors import InventoryError
from hybridctl.inventory.checks import check_cluster
from hybridctl.inventory.models import Cluster
from hybridctl.inventory.problems import Problem, error
from hybridctl.inventory.schema_errors import problems_from
from hybridctl.inventory.secrets import resolve_env
from hybridctl.inventory.yamlsource import Positions, YamlSyntaxError, parse_yaml


@dataclass
class LoadResult:
    """What loading found: the cluster (None when the schema failed) and every problem."""

    path: Path
    cluster: Cluster | None
    problems: list[Problem] = field(default_factory=list)
    positions: Positions = field(default_factory=Positions)

    @property
    def errors(self) -> list[Problem]:
        """Problems that fail validation."""
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        """Problems that do not fail validation."""
        return [p for p in self.problems if not p.is_error]

    def require(self) -> Cluster:
        """The cluster, or InventoryError listing every error."""
        if self.cluster is None or self.errors:
            raise InventoryError(
                f"{self.path} is not a valid inventory:\n" + "\n".join(str(p) for p in self.errors),
                hint=f"run 'hybridctl validate -i {self.path}' for details",
            )
        return self.cluster


def load_inventory(path: Path, env: Mapping[str, str] | None = None) -> LoadResult:
    """Read and validate ``path``; never raises for problems in the file itself."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InventoryError(f"inventory file {path} does not exist", hint="pass one with -i FILE") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"cannot read inventory file {path}: {exc}") from exc
    return load_text(text, shown, path, env if env is not None else os.environ)


def load_text(text: str, shown: str, path: Path, env: Mapping[str, str]) -> LoadResult:
    """Validate inventory ``text``; ``shown`` is the file name used in messages."""
    try:
        document = parse_yaml(text)
    except YamlSyntaxError as exc:
        return LoadResult(path, None, [exc.problem(shown)])
    result = LoadResult(path, None, positions=document.positions)
    if not isinstance(document.data, dict):
        result.problems.append(
            error((), "the inventory must be a YAML mapping (apiVersion, kind, metadata, spec)")
        )
        return _located(result, shown)
    data, secret_problems = resolve_env(document.data, env)
    result.problems += secret_problems
    try:
        cluster = Cluster.model_validate(data)
    except ValidationError as exc:
        result.problems += problems_from(exc, Cluster)
        return _located(result, shown)
    if not secret_problems:
        result.cluster = cluster
    result.problems += check_cluster(cluster)
    return _located(result, shown)


def _located(result: LoadResult, shown: str) -> LoadResult:
    result.problems = [result.positions.locate(p, shown) for p in result.problems]
    return result
