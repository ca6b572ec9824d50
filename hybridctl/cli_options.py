"""Options several commands share, and the decorator that adds them to a command's signature.

Typer reads a command's options from its signature. Instead of repeating the global options (inventory,
output, verbosity, colour, debug) and the run options (state directory, lock, host keys, parallelism,
stop policy, JUnit) on every command, ``options(...)`` appends them to the signature typer sees and hands
the command a ready ``AppEnv`` (``env``) and ``RunSettings`` (``settings``) instead.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from hybridctl.appenv import AppEnv, OutputFormat

InventoryOpt = Annotated[
    Path | None,
    typer.Option(
        "--inventory", "-i", help="Inventory file (default: $HYBRIDCTL_INVENTORY, else inventory.yaml)."
    ),
]
OutputOpt = Annotated[OutputFormat | None, typer.Option("--output", help="Output format: human or json.")]
VerboseOpt = Annotated[bool | None, typer.Option("--verbose", "-v", help="Show more detail.")]
NoColorOpt = Annotated[bool | None, typer.Option("--no-color", help="Do not use colours.")]
DebugOpt = Annotated[bool | None, typer.Option("--debug", help="Show tracebacks for errors.")]

GLOBAL: dict[str, tuple[Any, Any]] = {
    "inventory": (InventoryOpt, None),
    "output": (OutputOpt, None),
    "verbose": (VerboseOpt, None),
    "no_color": (NoColorOpt, None),
    "debug": (DebugOpt, None),
}
RUN: dict[str, tuple[Any, Any]] = {
    "state_dir": (
        Annotated[
            Path | None,
            typer.Option("--state-dir", help="Run state directory (default: .hybridctl/<cluster>/)."),
        ],
        None,
    ),
    "break_lock": (
        Annotated[bool, typer.Option("--break-lock", help="Remove another run's lock first.")],
        False,
    ),
    "accept_new_host_keys": (
        Annotated[
            bool,
            typer.Option("--accept-new-host-keys", help="Record unknown SSH host keys (trust on first use)."),
        ],
        False,
    ),
    "linux_parallel": (
        Annotated[int, typer.Option("--linux-parallel", min=1, help="Linux hosts worked on at once.")],
        20,
    ),
    "windows_parallel": (
        Annotated[int, typer.Option("--windows-parallel", min=1, help="Windows hosts worked on at once.")],
        5,
    ),
    "continue_on_error": (
        Annotated[
            bool,
            typer.Option("--continue-on-error", help="Keep going with the healthy hosts after a failure."),
        ],
        False,
    ),
    "junit": (
        Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report (host x step).")],
        None,
    ),
}


def merge(base: AppEnv, values: dict[str, Any]) -> AppEnv:
    """``base`` with every global option that was given (not None) applied."""
    return AppEnv(
        inventory=values["inventory"] if values.get("inventory") is not None else base.inventory,
        output=values["output"] if values.get("output") is not None else base.output,
        verbose=values["verbose"] if values.get("verbose") is not None else base.verbose,
        color=not values["no_color"] if values.get("no_color") is not None else base.color,
        debug=values["debug"] if values.get("debug") is not None else base.debug,
    )


def _settings(values: dict[str, Any]) -> Any:
    from hybridctl.session import RunSettings

    return RunSettings(**values)


def options(*, run: bool = False) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the global options (and with ``run`` the run options) as ``env`` / ``settings``."""
    groups = [GLOBAL, RUN] if run else [GLOBAL]
    injected = {name: spec for group in groups for name, spec in group.items()}

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(func)
        def command(ctx: typer.Context, *args: Any, **kwargs: Any) -> None:
            taken = {name: kwargs.pop(name) for name in injected}
            base = ctx.obj if isinstance(ctx.obj, AppEnv) else AppEnv()
            kwargs["env"] = merge(base, {k: taken[k] for k in GLOBAL})
            if run:
                kwargs["settings"] = _settings({k: taken[k] for k in RUN})
            func(ctx, *args, **kwargs)

        _present(command, func, injected)
        return command

    return decorate


def _present(command: Callable[..., None], func: Callable[..., None], injected: dict[str, Any]) -> None:
    """The signature and annotations typer reads: the command's own parameters plus the injected ones."""
    hints = typing.get_type_hints(func, include_extras=True, localns={"AppEnv": AppEnv, "Any": Any})
    # resolved annotations: typer must not evaluate the command module's strings in this module
    own = [
        p.replace(annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(func).parameters.values()
        if p.name not in ("env", "settings")
    ]
    keyword = inspect.Parameter.KEYWORD_ONLY
    added = [inspect.Parameter(n, keyword, default=d, annotation=a) for n, (a, d) in injected.items()]
    command.__signature__ = inspect.Signature([*own, *added], return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {**{p.name: p.annotation for p in [*own, *added]}, "return": None}
