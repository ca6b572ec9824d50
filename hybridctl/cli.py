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


StateDirOpt = Annotated[
    Path | None, typer.Option("--state-dir", help="Run state directory (default: .hybridctl/<cluster>/).")
]
BreakLockOpt = Annotated[bool, typer.Option("--break-lock", help="Remove another run's lock first.")]
AcceptKeysOpt = Annotated[
    bool, typer.Option("--accept-new-host-keys", help="Record unknown SSH host keys (trust on first use).")
]
LinuxParallelOpt = Annotated[
    int, typer.Option("--linux-parallel", min=1, help="Linux hosts worked on at once.")
]
WindowsParallelOpt = Annotated[
    int, typer.Option("--windows-parallel", min=1, help="Windows hosts worked on at once.")
]
ContinueOpt = Annotated[
    bool, typer.Option("--continue-on-error", help="Keep going with the healthy hosts after a failure.")
]
JunitOpt = Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report (host x step).")]
HostsArg = Annotated[list[str] | None, typer.Argument(help="Host names from the inventory (default: all).")]


def _settings(  # noqa: PLR0917 - mirrors the shared run options one to one
    state_dir: Path | None,
    break_lock: bool,
    accept_new_host_keys: bool,
    linux_parallel: int,
    windows_parallel: int,
    continue_on_error: bool,
    junit: Path | None,
) -> Any:
    from hybridctl.session import RunSettings

    return RunSettings(
        state_dir=state_dir,
        break_lock=break_lock,
        accept_new_host_keys=accept_new_host_keys,
        linux_parallel=linux_parallel,
        windows_parallel=windows_parallel,
        continue_on_error=continue_on_error,
        junit=junit,
    )


@app.command(epilog="Example: hybridctl ping -i inventories/example.yaml --accept-new-host-keys")
def ping(
    ctx: typer.Context,
    names: HostsArg = None,
    *,
    state_dir: StateDirOpt = None,
    break_lock: BreakLockOpt = False,
    accept_new_host_keys: AcceptKeysOpt = False,
    linux_parallel: LinuxParallelOpt = 20,
    windows_parallel: WindowsParallelOpt = 5,
    junit: JunitOpt = None,
    inventory: InventoryOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = None,
    no_color: NoColorOpt = None,
    debug: DebugOpt = None,
) -> None:
    """Connect to every host and report OS, version or build, arch, hostname, clock skew and admin rights."""
    from hybridctl.verbs.ping import run_ping

    env = _env(ctx, inventory=inventory, output=output, verbose=verbose, no_color=no_color, debug=debug)
    settings = _settings(
        state_dir, break_lock, accept_new_host_keys, linux_parallel, windows_parallel, False, junit
    )
    raise typer.Exit(run_ping(env, settings, names or []))


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show the plan and stop; change nothing.")]
DiffOpt = Annotated[bool, typer.Option("--diff", help="Show unified diffs of the files that would change.")]


def _lifecycle(
    env: Any, settings: Any, verb: str, names: list[str], confirm: Any, *, purge: bool = False
) -> int:
    """Load the inventory, build the verb's action and run it (plan, confirm, apply)."""
    from hybridctl import actions
    from hybridctl.verbs.common import load_cluster, select_hosts
    from hybridctl.verbs.lifecycle import run_plan, run_verb

    cluster = load_cluster(env)
    select_hosts(cluster, names)
    if verb == "add-node" and not names:
        raise UsageError("add-node needs the names of the hosts to add")
    builders = {
        "plan": lambda: actions.up(cluster),
        "up": lambda: actions.up(cluster),
        "add-node": lambda: actions.add_node(cluster, names),
        "down": lambda: actions.down(cluster, names, purge=purge),
    }
    action = builders[verb]()
    run = run_plan if verb == "plan" else run_verb
    return run(env, settings, action, cluster, confirm)


@app.command(
    epilog="Examples: hybridctl plan --offline -i inventories/example.yaml; "
    "hybridctl plan -i inventory.yaml --detailed-exitcode --diff"
)
def plan(
    ctx: typer.Context,
    *,
    offline: Annotated[bool, typer.Option("--offline", help="List the steps without connecting.")] = False,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 5 when changes are pending.")
    ] = False,
    diff: DiffOpt = False,
    state_dir: StateDirOpt = None,
    break_lock: BreakLockOpt = False,
    accept_new_host_keys: AcceptKeysOpt = False,
    linux_parallel: LinuxParallelOpt = 20,
    windows_parallel: WindowsParallelOpt = 5,
    junit: JunitOpt = None,
    inventory: InventoryOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = None,
    no_color: NoColorOpt = None,
    debug: DebugOpt = None,
) -> None:
    """Show what 'up' would do: offline, the ordered steps per host; online, what would change where."""
    from hybridctl.verbs.lifecycle import Confirmation

    env = _env(ctx, inventory=inventory, output=output, verbose=verbose, no_color=no_color, debug=debug)
    if offline:
        from hybridctl import actions
        from hybridctl.verbs.common import load_cluster
        from hybridctl.verbs.lifecycle import run_plan_offline

        raise typer.Exit(run_plan_offline(env, actions.up, load_cluster(env)))
    settings = _settings(
        state_dir, break_lock, accept_new_host_keys, linux_parallel, windows_parallel, True, junit
    )
    confirm = Confirmation(yes=True, dry_run=True, detailed_exitcode=detailed_exitcode, diff=diff)
    raise typer.Exit(_lifecycle(env, settings, "plan", [], confirm))


@app.command(epilog="Example: hybridctl up -i inventories/example.yaml --accept-new-host-keys --yes")
def up(
    ctx: typer.Context,
    *,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    diff: DiffOpt = False,
    state_dir: StateDirOpt = None,
    break_lock: BreakLockOpt = False,
    accept_new_host_keys: AcceptKeysOpt = False,
    linux_parallel: LinuxParallelOpt = 20,
    windows_parallel: WindowsParallelOpt = 5,
    continue_on_error: ContinueOpt = False,
    junit: JunitOpt = None,
    inventory: InventoryOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = None,
    no_color: NoColorOpt = None,
    debug: DebugOpt = None,
) -> None:
    """Build or converge the whole cluster: show the plan, confirm, apply; a second run changes nothing."""
    from hybridctl.verbs.lifecycle import Confirmation

    env = _env(ctx, inventory=inventory, output=output, verbose=verbose, no_color=no_color, debug=debug)
    settings = _settings(
        state_dir,
        break_lock,
        accept_new_host_keys,
        linux_parallel,
        windows_parallel,
        continue_on_error,
        junit,
    )
    confirm = Confirmation(yes=yes, dry_run=dry_run, diff=diff)
    raise typer.Exit(_lifecycle(env, settings, "up", [], confirm))


@app.command("add-node", epilog="Example: hybridctl add-node -i inventory.yaml win3 lin2 --yes")
def add_node(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="Inventory names of the hosts to add.")],
    *,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    diff: DiffOpt = False,
    state_dir: StateDirOpt = None,
    break_lock: BreakLockOpt = False,
    accept_new_host_keys: AcceptKeysOpt = False,
    linux_parallel: LinuxParallelOpt = 20,
    windows_parallel: WindowsParallelOpt = 5,
    continue_on_error: ContinueOpt = False,
    junit: JunitOpt = None,
    inventory: InventoryOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = None,
    no_color: NoColorOpt = None,
    debug: DebugOpt = None,
) -> None:
    """Join the named hosts; existing nodes only gain routes to them (and lose nothing)."""
    from hybridctl.verbs.lifecycle import Confirmation

    env = _env(ctx, inventory=inventory, output=output, verbose=verbose, no_color=no_color, debug=debug)
    settings = _settings(
        state_dir,
        break_lock,
        accept_new_host_keys,
        linux_parallel,
        windows_parallel,
        continue_on_error,
        junit,
    )
    raise typer.Exit(
        _lifecycle(env, settings, "add-node", names, Confirmation(yes=yes, dry_run=dry_run, diff=diff))
    )


@app.command(
    epilog="Examples: hybridctl down -i inventory.yaml win2 --yes; hybridctl down -i inventory.yaml --yes"
)
def down(
    ctx: typer.Context,
    names: HostsArg = None,
    *,
    purge: Annotated[
        bool, typer.Option("--purge", help="Also remove packages, binaries and Windows features.")
    ] = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    state_dir: StateDirOpt = None,
    break_lock: BreakLockOpt = False,
    accept_new_host_keys: AcceptKeysOpt = False,
    linux_parallel: LinuxParallelOpt = 20,
    windows_parallel: WindowsParallelOpt = 5,
    continue_on_error: ContinueOpt = False,
    junit: JunitOpt = None,
    inventory: InventoryOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = None,
    no_color: NoColorOpt = None,
    debug: DebugOpt = None,
) -> None:
    """Remove the named nodes (their routes too, everywhere), or without names the whole cluster."""
    from hybridctl.verbs.lifecycle import Confirmation

    env = _env(ctx, inventory=inventory, output=output, verbose=verbose, no_color=no_color, debug=debug)
    settings = _settings(
        state_dir,
        break_lock,
        accept_new_host_keys,
        linux_parallel,
        windows_parallel,
        continue_on_error,
        junit,
    )
    confirm = Confirmation(yes=yes, dry_run=dry_run)
    raise typer.Exit(_lifecycle(env, settings, "down", names or [], confirm, purge=purge))


hosts_app = typer.Typer(help="Manage what hybridctl remembers about hosts.", no_args_is_help=True)
app.add_typer(hosts_app, name="hosts")


@hosts_app.command("forget", epilog="Example: hybridctl hosts forget cp1 -i inventories/example.yaml")
def hosts_forget(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="Host names whose recorded SSH keys to forget.")],
    *,
    state_dir: StateDirOpt = None,
    inventory: InventoryOpt = None,
    debug: DebugOpt = None,
) -> None:
    """Forget the recorded SSH host keys of hosts (after a host was reinstalled and re-keyed)."""
    from hybridctl.verbs.hosts import run_forget

    env = _env(ctx, inventory=inventory, debug=debug)
    raise typer.Exit(run_forget(env, names, state_dir))


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
