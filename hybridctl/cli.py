"""The ``hybridctl`` command line: parse options, call the library, map errors to exit codes.

Heavy modules (pydantic, jinja2, paramiko, pypsrp) are imported inside commands so that
``hybridctl --help`` starts fast. Options shared by several commands come from ``cli_options``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import typer.core

from hybridctl import library_logs
from hybridctl.appenv import AppEnv
from hybridctl.cli_options import DebugOpt, InventoryOpt, NoColorOpt, OutputOpt, VerboseOpt, merge, options
from hybridctl.errors import ExitCode, HybridctlError, UsageError, local_file_error


def _argument_help_name(argument: typer.core.TyperArgument) -> str:
    """``NAME...`` for a list argument, as usage lines write it (typer shows ``NAME <list[str]>``)."""
    name = argument.display_name_raw
    return f"{name}..." if argument.nargs != 1 else name


def _argument_type(argument: typer.core.TyperArgument, ctx: Any) -> str:
    return ""  # the metavar (NAME, FILE) says what an argument is; its Python type means nothing to users


typer.core.TyperArgument._rich_display_name = _argument_help_name  # type: ignore[method-assign,assignment]
typer.core.TyperArgument.display_type = _argument_type  # type: ignore[method-assign,assignment]

app = typer.Typer(
    name="hybridctl",
    help="Build and run hybrid Kubernetes clusters: kubeadm on Linux, Linux and Windows workers.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
hosts_app = typer.Typer(help="Manage what hybridctl remembers about hosts.", no_args_is_help=True)
app.add_typer(hosts_app, name="hosts")

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show the plan and stop; change nothing.")]
DiffOpt = Annotated[bool, typer.Option("--diff", help="Show unified diffs of the files that would change.")]
EgressOpt = Annotated[
    str | None,
    typer.Option(
        "--egress-target", metavar="HOST:PORT", help="Check that pods of each OS reach this address."
    ),
]
HostsArg = Annotated[
    list[str] | None,
    typer.Argument(help="Host names from the inventory (default: all).", metavar="NAME", show_default=False),
]


def _print_version(value: bool) -> None:
    if value:
        from hybridctl import __version__

        print(f"hybridctl {__version__}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _root(
    ctx: typer.Context,
    *,
    inventory: InventoryOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = None,
    no_color: NoColorOpt = None,
    debug: DebugOpt = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print hybridctl's version and exit."
        ),
    ] = False,
) -> None:
    """Global options may come before the command or after it."""
    given = {
        "inventory": inventory,
        "output": output,
        "verbose": verbose,
        "no_color": no_color,
        "debug": debug,
    }
    ctx.obj = merge(AppEnv(), given)


@app.command(epilog="Example: hybridctl init --linux-workers 1 --windows-workers 2 -o inventory.yaml")
@options()
def init(
    ctx: typer.Context,
    *,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="File to create (default: the -i path); never overwritten."),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Cluster name.")] = "hybrid",
    linux_workers: Annotated[int, typer.Option("--linux-workers", help="Linux workers besides cp1.")] = 1,
    windows_workers: Annotated[int, typer.Option("--windows-workers", help="Windows Server workers.")] = 1,
    env: AppEnv,
) -> None:
    """Write a commented starter inventory (secrets as ${env:NAME}) and say what to run next."""
    from hybridctl.verbs.init import run_init

    raise typer.Exit(run_init(env, out, name, linux_workers, windows_workers))


@app.command(epilog="Example: hybridctl validate -i inventories/example.yaml --output json")
@options()
def validate(ctx: typer.Context, *, env: AppEnv) -> None:
    """Check an inventory file and report every problem in one run (exit 3 when invalid)."""
    from hybridctl.verbs.validate import run_validate

    raise typer.Exit(run_validate(env))


@app.command(epilog="Example: hybridctl render -i inventories/example.yaml -o out/example")
@options()
def render(
    ctx: typer.Context,
    *,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the files into.")],
    assume: Annotated[
        Path | None,
        typer.Option("--assume", help="YAML file of run-time values (pod CIDRs, tokens); else placeholders."),
    ] = None,
    env: AppEnv,
) -> None:
    """Render every file hybridctl installs, per host and for the cluster, with a manifest.json."""
    from hybridctl.verbs.render import run_render

    raise typer.Exit(run_render(env, out_dir, assume))


@app.command(epilog="Example: hybridctl schema > hybridctl.schema.json")
@options()
def schema(ctx: typer.Context, *, env: AppEnv) -> None:
    """Print the JSON Schema of the inventory format, for editors."""
    from hybridctl.verbs.validate import print_schema

    print_schema(env)


@app.command(epilog="Example: hybridctl version --output json")
@options()
def version(ctx: typer.Context, *, env: AppEnv) -> None:
    """Print hybridctl's version and the supported Kubernetes and Windows versions."""
    from hybridctl.verbs.validate import print_version

    print_version(env)


@app.command(epilog="Example: hybridctl ping -i inventories/example.yaml --accept-new-host-keys")
@options(run=True)
def ping(ctx: typer.Context, names: HostsArg = None, *, env: AppEnv, settings: Any) -> None:
    """Connect to every host and report OS, version or build, arch, hostname, clock skew and admin rights."""
    from hybridctl.verbs.ping import run_ping

    raise typer.Exit(run_ping(env, settings, names or []))


@app.command(epilog="Example: hybridctl kubeconfig -i inventory.yaml -o ~/.kube/hybrid.conf")
@options(run=True)
def kubeconfig(
    ctx: typer.Context,
    *,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Also write it here (default: only .hybridctl/<cluster>/admin.conf)."
        ),
    ] = None,
    env: AppEnv,
    settings: Any,
) -> None:
    """Fetch (or refresh) the admin kubeconfig of the existing cluster from its first control plane (0600)."""
    from hybridctl.verbs.kubeconfig import run_kubeconfig

    raise typer.Exit(run_kubeconfig(env, settings, out))


@app.command(epilog="Example: hybridctl status -i inventory.yaml --output json")
@options(run=True)
def status(ctx: typer.Context, *, env: AppEnv, settings: Any) -> None:
    """Per node and for the cluster, what the API and the hosts report; exit 6 when anything is unhealthy."""
    from hybridctl.verbs.status import run_status

    raise typer.Exit(run_status(env, settings))


@app.command("support-bundle", epilog="Example: hybridctl support-bundle -i inventory.yaml -o support.tar.gz")
@options(run=True)
def support_bundle(
    ctx: typer.Context,
    *,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Archive to create (default: hybridctl-support-<cluster>-<time>.tar.gz)."
        ),
    ] = None,
    env: AppEnv,
    settings: Any,
) -> None:
    """Collect logs, configuration and network state of every host and the cluster into one tar.gz."""
    from hybridctl.verbs.support_bundle import run_support_bundle

    raise typer.Exit(run_support_bundle(env, settings, out))


@app.command(
    epilog="Examples: hybridctl smoke -i inventory.yaml --junit smoke.xml; "
    "hybridctl smoke -i inventory.yaml --egress-target 1.1.1.1:443 --keep --output json"
)
@options(run=True)
def smoke(
    ctx: typer.Context,
    *,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the smoke namespace and its pods in place.")
    ] = False,
    timeout: Annotated[
        str,
        typer.Option("--timeout", metavar="DURATION", help="Time for the whole test, e.g. 600, 90s, 10m."),
    ] = "10m",
    image: Annotated[
        str | None,
        typer.Option("--image", metavar="REF", help="Test image (default: spec.smoke.image, else agnhost)."),
    ] = None,
    egress_target: EgressOpt = None,
    env: AppEnv,
    settings: Any,
) -> None:
    """Run test pods on every node and check nodes, placement, pod-to-pod, Services, DNS and egress across
    Linux and Windows; exit 0 (all passed), 1 (a check failed) or 4 (cluster unreachable)."""
    from hybridctl.verbs.smoke import SmokeRequest, run_smoke

    request = SmokeRequest(image, timeout, keep, egress_target)
    raise typer.Exit(run_smoke(env, settings, request))


@hosts_app.command("forget", epilog="Example: hybridctl hosts forget cp1 -i inventories/example.yaml")
@options()
def hosts_forget(
    ctx: typer.Context,
    names: Annotated[
        list[str],
        typer.Argument(
            help="Host names (or bastion addresses) whose recorded SSH keys to forget.", metavar="NAME"
        ),
    ],
    *,
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Run state directory.")] = None,
    env: AppEnv,
) -> None:
    """Forget the recorded SSH host keys of hosts (after a host was reinstalled and re-keyed)."""
    from hybridctl.verbs.hosts import run_forget

    raise typer.Exit(run_forget(env, names, state_dir))


@app.command(
    epilog="Examples: hybridctl plan --offline -i inventories/example.yaml; "
    "hybridctl plan -i inventory.yaml --detailed-exitcode --diff"
)
@options(run=True)
def plan(
    ctx: typer.Context,
    *,
    offline: Annotated[bool, typer.Option("--offline", help="List the steps without connecting.")] = False,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 5 when changes are pending.")
    ] = False,
    diff: DiffOpt = False,
    env: AppEnv,
    settings: Any,
) -> None:
    """Show what 'up' would do: offline, the ordered steps per host; online, what would change where."""
    from hybridctl.verbs.lifecycle import Confirmation

    if offline:
        from hybridctl import actions
        from hybridctl.verbs.common import load_cluster
        from hybridctl.verbs.lifecycle import run_plan_offline

        raise typer.Exit(run_plan_offline(env, actions.up, load_cluster(env)))
    confirm = Confirmation(yes=True, dry_run=True, detailed_exitcode=detailed_exitcode, diff=diff)
    raise typer.Exit(_lifecycle(env, settings, "plan", [], confirm))


@app.command(epilog="Example: hybridctl up -i inventories/example.yaml --accept-new-host-keys --yes")
@options(run=True)
def up(
    ctx: typer.Context,
    *,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    diff: DiffOpt = False,
    rotate_kube_proxy_token: Annotated[
        bool,
        typer.Option(
            "--rotate-kube-proxy-token",
            help="Replace the Windows kube-proxy ServiceAccount token (Secret and every node's kubeconfig).",
        ),
    ] = False,
    smoke: Annotated[
        bool,
        typer.Option("--smoke", help="After a successful up, run 'hybridctl smoke' (same --junit file)."),
    ] = False,
    egress_target: EgressOpt = None,
    env: AppEnv,
    settings: Any,
) -> None:
    """Build or converge the whole cluster: show the plan, confirm, apply; a second run changes nothing."""
    import dataclasses

    from hybridctl.verbs.lifecycle import Confirmation

    if rotate_kube_proxy_token:
        settings = dataclasses.replace(settings, rotate_kube_proxy_token=True)
    if egress_target is not None and not smoke:
        raise UsageError("--egress-target needs --smoke", hint="add --smoke, or run 'hybridctl smoke' later")
    code = _lifecycle(env, settings, "up", [], Confirmation(yes=yes, dry_run=dry_run, diff=diff))
    if smoke and code == ExitCode.OK and not dry_run:
        from hybridctl.verbs.smoke import SmokeRequest, run_smoke

        code = run_smoke(env, settings, SmokeRequest(egress_target=egress_target), after_up=True)
    raise typer.Exit(code)


@app.command("add-node", epilog="Example: hybridctl add-node -i inventory.yaml win3 lin2 --yes")
@options(run=True)
def add_node(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="Inventory names of the hosts to add.", metavar="NAME")],
    *,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    diff: DiffOpt = False,
    env: AppEnv,
    settings: Any,
) -> None:
    """Join the named hosts; existing nodes only gain routes to them (and lose nothing)."""
    from hybridctl.verbs.lifecycle import Confirmation

    confirm = Confirmation(yes=yes, dry_run=dry_run, diff=diff)
    raise typer.Exit(_lifecycle(env, settings, "add-node", names, confirm))


@app.command(
    epilog="Examples: hybridctl down -i inventory.yaml win2 --yes; hybridctl down -i inventory.yaml --yes"
)
@options(run=True)
def down(
    ctx: typer.Context,
    names: HostsArg = None,
    *,
    purge: Annotated[
        bool, typer.Option("--purge", help="Also remove packages, binaries and Windows features.")
    ] = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    env: AppEnv,
    settings: Any,
) -> None:
    """Remove the named nodes (their routes too, everywhere), or without names the whole cluster."""
    from hybridctl.verbs.lifecycle import Confirmation

    confirm = Confirmation(yes=yes, dry_run=dry_run)
    raise typer.Exit(_lifecycle(env, settings, "down", names or [], confirm, purge=purge))


def _lifecycle(
    env: AppEnv, settings: Any, verb: str, names: list[str], confirm: Any, *, purge: bool = False
) -> int:
    """Load the inventory, build the verb's action and run it (plan, confirm, apply)."""
    from hybridctl import actions
    from hybridctl.verbs.common import load_cluster, select_hosts
    from hybridctl.verbs.lifecycle import run_plan, run_verb

    cluster = load_cluster(env)
    select_hosts(cluster, names)
    builders = {
        "plan": lambda: actions.up(cluster),
        "up": lambda: actions.up(cluster),
        "add-node": lambda: actions.add_node(cluster, names),
        "down": lambda: actions.down(cluster, names, purge=purge),
    }
    action = builders[verb]()
    run_action = run_plan if verb == "plan" else run_verb
    return run_action(env, settings, action, cluster, confirm)


def _report(error: HybridctlError, args: list[str]) -> None:
    """Print a user-facing error (and its traceback only with --debug); a JSON event with --output json."""
    if "--debug" in args:
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    if _wants_json(args):
        print(json.dumps(_error_event(error)), flush=True)
    print(f"error: {error.message}", file=sys.stderr)
    if error.hint:
        print(f"hint: {error.hint}", file=sys.stderr)


def _error_event(error: HybridctlError) -> dict[str, Any]:
    event: dict[str, Any] = {"event": "error", "exitCode": int(error.exit_code), "message": error.message}
    if error.hint:
        event["hint"] = error.hint
    problems = getattr(error, "problems", None)
    if problems:
        event["problems"] = problems
    return event


def _wants_json(args: list[str]) -> bool:
    """``--output json`` anywhere on the command line (errors may come before options are parsed)."""
    pairs = zip(args, [*args[1:], ""], strict=True)
    return "--output=json" in args or any(a == "--output" and b == "json" for a, b in pairs)


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
    library_logs.capture(debug="--debug" in args)
    try:
        result: Any = app(args=args, prog_name="hybridctl", standalone_mode=False)
    except KeyboardInterrupt:
        return _exit_code(typer.Abort(), args)
    except Exception as exc:  # every error, expected or not, ends here: one line, a documented code
        return _exit_code(exc, args)
    return result if isinstance(result, int) else ExitCode.OK


def _exit_code(exc: Exception, args: list[str]) -> int:
    """The one place that turns an exception into what the user sees and the exit code."""
    if isinstance(exc, typer.Exit):
        return exc.exit_code
    if isinstance(exc, typer.Abort):
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    if isinstance(exc, typer.TyperException):  # click usage errors: bad option, missing argument
        _show_usage_error(exc)
        return ExitCode.USAGE
    error = _as_error(exc)
    _report(error, args)
    return error.exit_code


def _as_error(exc: Exception) -> HybridctlError:
    if isinstance(exc, HybridctlError):
        return exc
    error: HybridctlError
    if isinstance(exc, OSError):  # a local path the user named cannot be used
        error = local_file_error(exc)
    else:  # a bug: still one line; the traceback only with --debug
        error = HybridctlError(f"internal error: {type(exc).__name__}: {exc}", hint=INTERNAL_HINT)
    error.__cause__ = exc
    return error


INTERNAL_HINT = "this is a bug in hybridctl: run again with --debug and report the traceback"


__all__ = ["UsageError", "app", "main", "run"]
