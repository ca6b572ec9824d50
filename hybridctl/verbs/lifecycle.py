"""``plan``, ``up``, ``add-node`` and ``down``: show what would change, confirm, then make it so."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hybridctl.actions import Action
from hybridctl.appenv import AppEnv
from hybridctl.errors import ExitCode, UsageError
from hybridctl.events import Outcome
from hybridctl.inventory.models import Cluster
from hybridctl.runner import RunReport
from hybridctl.session import RunSettings, Session, exit_code_of
from hybridctl.steps.context import DEPARTING, JOINING


@dataclass(frozen=True)
class Confirmation:
    """How a changing verb asks before it changes anything."""

    yes: bool = False
    dry_run: bool = False
    detailed_exitcode: bool = False
    diff: bool = False


def run_plan_offline(env: AppEnv, build: Callable[[Cluster], Action], cluster: Cluster) -> int:
    """The ordered steps per host, without connecting anywhere."""
    action = build(cluster)
    pairs = action.pairs(cluster)
    steps = list(dict.fromkeys(step for step, _ in pairs))
    rows = [(step, [h.name for s, h in pairs if s is step]) for step in steps]
    if env.json:
        document = [{"step": s.name, "title": s.title, "hosts": hosts} for s, hosts in rows]
        env.stdout.write(json.dumps({"verb": action.verb, "steps": document}, indent=2) + "\n")
        return ExitCode.OK
    _print_offline(env, action.verb, rows)
    return ExitCode.OK


def _print_offline(env: AppEnv, verb: str, rows: Sequence[tuple[object, list[str]]]) -> None:
    from rich.table import Table

    table = Table(title=f"hybridctl {verb}: steps in order (offline, nothing was contacted)", box=None)
    for column in ("#", "step", "what it does", "hosts"):
        table.add_column(column)
    for number, (step, hosts) in enumerate(rows, 1):
        table.add_row(str(number), step.name, step.title, ", ".join(hosts))  # type: ignore[attr-defined]
    env.out.print(table)


def run_verb(
    env: AppEnv,
    settings: RunSettings,
    action: Action,
    cluster: Cluster,
    confirm: Confirmation,
    *,
    command: str | None = None,
) -> int:
    """Plan (checks only), show it, ask, apply (each check runs again right before its apply).

    ``command`` is the verb the user typed (the lock names it): ``plan`` runs ``up``'s action read-only.
    """
    with Session(env, cluster, settings, command or action.verb) as session:
        session.run_state.set(DEPARTING, action.departing)
        session.run_state.set(JOINING, action.joining)
        plan = _run(session, action, read_only=True)
        pending = plan.count(Outcome.CHANGED)
        _show_plan(env, plan, confirm.diff or env.verbose)
        blocked = exit_code_of(plan)
        if blocked != ExitCode.OK or confirm.dry_run or not pending:
            _show_plan_failures(env, session, plan)
            return _plan_exit(env, plan, pending, confirm, blocked)
        _confirm(env, action.verb, pending, confirm.yes)
        report = _run(session, action, read_only=False)
        _show_result(env, session, report)
        return exit_code_of(report)


def run_plan(
    env: AppEnv, settings: RunSettings, action: Action, cluster: Cluster, confirm: Confirmation
) -> int:
    """The online plan: every check on every host; --detailed-exitcode exits 5 when changes are pending."""
    planning = Confirmation(
        yes=True, dry_run=True, detailed_exitcode=confirm.detailed_exitcode, diff=confirm.diff
    )
    return run_verb(env, settings, action, cluster, planning, command="plan")


def _run(session: Session, action: Action, *, read_only: bool) -> RunReport:
    verb = f"{action.verb} (plan)" if read_only else action.verb
    return session.run(action.hosts, action.steps, read_only=read_only, verb=verb, selector=action.selector)


def _show_plan(env: AppEnv, plan: RunReport, diffs: bool) -> None:
    if not env.json:
        from hybridctl.ui import print_plan

        print_plan(env.out, plan, diffs=diffs)


def _show_plan_failures(env: AppEnv, session: Session, plan: RunReport) -> None:
    """What stopped the plan, as ``up``'s summary and ``ping`` show failures (command, stderr, log)."""
    if env.json or plan.interrupted:
        return
    from hybridctl.ui import print_failures

    print_failures(env.out, plan.results, session.state_dir.log_dir(session.run_id))


def _plan_exit(env: AppEnv, plan: RunReport, pending: int, confirm: Confirmation, blocked: int) -> int:
    if plan.interrupted:
        _say(env, "interrupted: nothing was changed")
        return ExitCode.INTERRUPTED
    if blocked != ExitCode.OK:
        _say(env, "the plan could not be completed on every host; nothing was changed")
        return blocked
    if not pending:
        _say(env, "nothing to do: every host is converged")
        return ExitCode.OK
    _say(env, f"dry run: {pending} step(s) would change something; nothing was changed")
    return ExitCode.CHANGES_PENDING if confirm.detailed_exitcode else ExitCode.OK


def _confirm(env: AppEnv, verb: str, pending: int, yes: bool) -> None:
    if yes:
        return
    import sys

    if not sys.stdin.isatty():
        raise UsageError(f"{verb} would change {pending} step(s) and needs confirmation", hint="pass --yes")
    answer = input(f"apply these changes ({pending} step(s))? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("not confirmed; nothing was changed")


def _show_result(env: AppEnv, session: Session, report: RunReport) -> None:
    if env.json:
        return
    from hybridctl.ui import print_summary

    print_summary(env.out, report, session.state_dir.log_dir(session.run_id))
    if session.state_dir.kubeconfig.exists():
        path = session.state_dir.kubeconfig
        env.out.print(f"\nadmin kubeconfig: {path}\n  export KUBECONFIG={path}\n  kubectl get nodes -o wide")


def _say(env: AppEnv, message: str) -> None:
    if not env.json:
        env.err.print(message)
