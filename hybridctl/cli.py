"""The ``hybridctl`` command line: parse options, call the library, map errors to exit codes.

Heavy modules (pydantic, jinja2, paramiko, pypsrp) are imported inside commands so that
``hybridctl --help`` starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from hybridctl.appenv import AppEnv, OutputFormat
from hybridctl.errors import ExitCode, HybridctlError, UsageError

app = typer.Typer(
    name="hybridctl",
    help="Build and run hybrid Kubernetes clusters: kubeadm on Linux, Linux and Windows workers.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

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


@app.callback()
def _root(
    ctx: typer.Context,
    *,
    inventory: InventoryOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = None,
    no_color: NoColorOpt = None,
    debug: DebugOpt = None,
) -> None:
    """Global options may come before the command or after it."""
    ctx.obj = _merge(
        AppEnv(), inventory=inventory, output=output, verbose=verbose, no_color=no_color, debug=debug
    )


def _merge(
    env: AppEnv,
    *,
    inventory: Path | None,
    output: OutputFormat | None,
    verbose: bool | None,
    no_color: bool | None,
    debug: bool | None,
) -> AppEnv:
    """Overlay options given on a command onto the global ones."""
    return AppEnv(
        inventory=inventory if inventory is not None else env.inventory,
        output=output if output is not None else env.output,
        verbose=verbose if verbose is not None else env.verbose,
        color=not no_color if no_color is not None else env.color,
        debug=debug if debug is not None else env.debug,
    )


def _env(
    ctx: typer.Context,
    *,
    inventory: Path | None = None,
    output: OutputFormat | None = None,
    verbose: bool | None = None,
    no_color: bool | None = None,
    debug: bool | None = None,
) -> AppEnv:
    base = ctx.obj if isinstance(ctx.obj, AppEnv) else AppEnv()
    return _merge(base, inventory=inventory, output=output, verbose=verbose, no_color=no_color, debug=debug)


@app.command(epilog="Example: hybridctl validate -i inventories/example.yaml --output json")
def validate(
    ctx: typer.Context,
    *,
    inventory: InventoryOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = None,
    no_color: NoColorOpt = None,
    debug: DebugOpt = None,
) -> None:
    """Check an inventory file and report every problem in one run (exit 3 when invalid)."""
    from hybridctl.verbs.validate import run_validate

    env = _env(ctx, inventory=inventory, output=output, verbose=verbose, no_color=no_color, debug=debug)
    raise typer.Exit(run_validate(env))


@app.command(epilog="Example: hybridctl render -i inventories/example.yaml -o out/example")
def render(
    ctx: typer.Context,
    *,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the files into.")],
    assume: Annotated[
        Path | None,
        typer.Option("--assume", help="YAML file of run-time values (pod CIDRs, tokens); else placeholders."),
    ] = None,
    inventory: InventoryOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = None,
    no_color: NoColorOpt = None,
    debug: DebugOpt = None,
) -> None:
    """Render every file hybridctl installs, per host and for the cluster, with a manifest.json."""
    from hybridctl.verbs.render import run_render

    env = _env(ctx, inventory=inventory, output=output, verbose=verbose, no_color=no_color, debug=debug)
    raise typer.Exit(run_render(env, out_dir, assume))


@app.command(epilog="Example: hybridctl schema > hybridctl.schema.json")
def schema(ctx: typer.Context) -> None:
    """Print the JSON Schema of the inventory format, for editors."""
    from hybridctl.verbs.validate import print_schema

    print_schema(_env(ctx))


@app.command(epilog="Example: hybridctl version")
def version(ctx: typer.Context, output: OutputOpt = None) -> None:
    """Print hybridctl's version and the supported Kubernetes and Windows versions."""
    from hybridctl.verbs.validate import print_version

    print_version(_env(ctx, output=output))


def _report(error: HybridctlError, debug: bool) -> None:
    """Print a user-facing error (and its traceback only with --debug)."""
    if debug:
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    print(f"error: {error.message}", file=sys.stderr)
    if error.hint:
        print(f"hint: {error.hint}", file=sys.stderr)


def _show_usage_error(exc: Exception) -> None:
    show = getattr(exc, "show", None)
    if callable(show):
        show()
    else:
        print(f"error: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> NoReturn:
    """Run hybridctl and exit with its documented exit code."""
    sys.exit(run(argv))


def run(argv: list[str] | None = None) -> int:
    """Run hybridctl and return its exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result: Any = app(args=args, prog_name="hybridctl", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except HybridctlError as exc:
        _report(exc, debug)
        return exc.exit_code
    except typer.TyperException as exc:  # click usage errors: bad option, missing argument
        _show_usage_error(exc)
        return ExitCode.USAGE
    return result if isinstance(result, int) else ExitCode.OK


__all__ = ["UsageError", "app", "main", "run"]
