"""Load an inventory file: YAML with positions, ``${env:}`` secrets, schema, then semantic checks.

Every problem in the file is reported in one run: when the schema fails, the data is repaired around the
errors and the semantic checks run on the repaired model (findings about repaired values are dropped).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hybridctl.errors import InventoryError, NoInventoryError
from hybridctl.inventory.checks import check_cluster
from hybridctl.inventory.local_files import check_local_files
from hybridctl.inventory.models import Cluster
from hybridctl.inventory.problems import Path as DataPath
from hybridctl.inventory.problems import Problem, error, in_document_order
from hybridctl.inventory.schema_errors import problems_from, validate_repaired
from hybridctl.inventory.secrets import Resolved, masker_for, resolve_env, secret_keys, secret_values
from hybridctl.inventory.yamlsource import Positions, YamlSyntaxError, parse_yaml

SECRET_KEYS = secret_keys(Cluster)
NO_FILE = "the inventory file does not exist"


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

    @property
    def missing(self) -> bool:
        """True when there is no inventory file at all (a usage error, not an invalid inventory)."""
        return any(p.message == NO_FILE for p in self.problems)

    def require(self) -> Cluster:
        """The cluster; NoInventoryError when there is no file, InventoryError listing every error."""
        if self.missing:
            raise no_inventory(self.path)
        if self.cluster is None or self.errors:
            error = InventoryError(
                f"{self.path} is not a valid inventory:\n" + "\n".join(str(p) for p in self.errors),
                hint=f"run 'hybridctl validate -i {self.path}' for details",
            )
            error.problems = [p.to_json() for p in self.problems]
            raise error
        return self.cluster


def no_inventory(path: Path) -> NoInventoryError:
    """The error of a command that needs an inventory and finds none (exit 2)."""
    return NoInventoryError(
        "no inventory: pass -i FILE or create one with `hybridctl init`",
        hint=f"looked for {path} (-i FILE, else $HYBRIDCTL_INVENTORY, else ./inventory.yaml)",
    )


def load_inventory(path: Path, env: Mapping[str, str] | None = None) -> LoadResult:
    """Read and validate ``path``; a missing or unreadable file is a problem too, never an exception."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return _unreadable(path, _read_error(exc))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problem = error((), "the file is not UTF-8 text", "save the inventory as UTF-8")
        return LoadResult(path, None, [problem.located(str(path), line, None)])
    environment = env if env is not None else os.environ
    return load_text(text, str(path), path, environment, files_from=path.resolve().parent)


def _read_error(exc: OSError) -> Problem:
    if isinstance(exc, FileNotFoundError):
        return error((), NO_FILE, "pass an existing file with -i FILE, or create one with `hybridctl init`")
    if isinstance(exc, IsADirectoryError):
        return error((), "this is a directory, not an inventory file", "pass a YAML file with -i FILE")
    return error((), f"cannot read the inventory file: {exc.strerror or exc}", "check the file's permissions")


def _unreadable(path: Path, problem: Problem) -> LoadResult:
    return LoadResult(path, None, [problem.located(str(path), None, None)])


def load_text(
    text: str, shown: str, path: Path, env: Mapping[str, str], *, files_from: Path | None = None
) -> LoadResult:
    """Validate inventory ``text``; ``shown`` is the file name used in messages.

    With ``files_from`` (the inventory's directory) the local files it names are checked too.
    """
    try:
        document = parse_yaml(text)
    except YamlSyntaxError as exc:
        return LoadResult(path, None, [exc.problem(shown)])
    result = LoadResult(path, None, positions=document.positions)
    if not isinstance(document.data, dict):
        result.problems.append(_not_a_mapping(document.data))
        return _finish(result, shown, [])
    resolved = resolve_env(document.data, env)
    cluster, problems = _validate(resolved, files_from)
    result.cluster = cluster if not resolved.problems else None
    result.problems = [*resolved.problems, *problems]
    return _finish(result, shown, [*resolved.values, *secret_values(resolved.data, SECRET_KEYS)])


def _not_a_mapping(data: Any) -> Problem:
    if data is None:
        return error((), "the inventory file is empty", "start from inventories/example.yaml")
    what = "a list" if isinstance(data, list) else "a single value"
    message = f"the inventory must be a YAML mapping (apiVersion, kind, metadata, spec), not {what}"
    return error((), message, "start from inventories/example.yaml")


def _validate(resolved: Resolved, files_from: Path | None) -> tuple[Cluster | None, list[Problem]]:
    try:
        cluster = Cluster.model_validate(resolved.data, by_alias=True, by_name=False)
    except ValidationError as exc:
        return None, _with_repair(resolved, exc, files_from)
    return cluster, _trusted(_checks(cluster, files_from), resolved.failed_paths)


def _checks(cluster: Cluster, files_from: Path | None) -> list[Problem]:
    local = check_local_files(cluster, files_from) if files_from is not None else []
    return check_cluster(cluster) + local


def _with_repair(resolved: Resolved, exc: ValidationError, files_from: Path | None) -> list[Problem]:
    """Schema problems, plus the semantic problems of the data repaired around them."""
    schema = _trusted(problems_from(exc, Cluster), resolved.failed_paths)
    repaired, repair = validate_repaired(resolved.data, Cluster, exc.errors(include_url=False))
    if repaired is None:
        return schema
    found = [replace(p, path=repair.original(p.path)) for p in _checks(repaired, files_from)]
    return schema + _trusted(found, [*repair.changed, *resolved.failed_paths])


def _trusted(problems: list[Problem], stand_ins: list[DataPath]) -> list[Problem]:
    """Drop findings about stand-in values: they describe the stand-in, not what the file says."""
    return [p for p in problems if not any(_about(p.path, s) for s in stand_ins)]


def _about(path: DataPath, stand_in: DataPath) -> bool:
    # A finding on the mapping that holds the stand-in ("needs user and password") counts as about it.
    return path[: len(stand_in)] == stand_in or path == stand_in[:-1]


def _finish(result: LoadResult, shown: str, secrets: list[str]) -> LoadResult:
    mask = masker_for(secrets).mask
    located = (result.positions.locate(p, shown).masked(mask) for p in result.problems)
    result.problems = in_document_order(located)
    return result
