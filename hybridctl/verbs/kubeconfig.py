"""``kubeconfig``: fetch (or refresh) the admin kubeconfig of an existing cluster, mode 0600.

The file comes from ``/etc/kubernetes/admin.conf`` on the first control plane, lands in the state
directory (``.hybridctl/<cluster>/admin.conf``) and, with ``-o FILE``, is copied there too. Its content
is never printed: it holds cluster-admin credentials.
"""

from __future__ import annotations

from pathlib import Path

from hybridctl.appenv import AppEnv
from hybridctl.errors import ExitCode, UsageError
from hybridctl.events import Event, JsonLines, Outcome
from hybridctl.runner import RunReport
from hybridctl.session import RunSettings, Session, exit_code_of
from hybridctl.state import atomic_write
from hybridctl.steps.cluster.fetch_kubeconfig import FetchKubeconfig
from hybridctl.verbs.common import load_cluster


def run_kubeconfig(env: AppEnv, settings: RunSettings, out: Path | None) -> int:
    """Fetch the admin kubeconfig; write it to the state directory and ``out``; print where it is."""
    cluster = load_cluster(env)
    control_plane = cluster.first_control_plane
    with Session(env, cluster, settings, "kubeconfig") as session:
        report = session.run([control_plane], [FetchKubeconfig()], read_only=False, verb="kubeconfig")
        code = exit_code_of(report)
        if code != ExitCode.OK:
            _show_failure(env, session, report)
            return code
        fetched = session.state_dir.kubeconfig
        target = out if out is not None else fetched
        if out is not None:
            _copy(fetched, out)
        changed = report.count(Outcome.CHANGED) > 0
        _show(env, session, target, changed, control_plane.name)
    return ExitCode.OK


def _copy(fetched: Path, out: Path) -> None:
    try:
        atomic_write(out, fetched.read_bytes(), 0o600)
    except OSError as exc:
        hint = f"the kubeconfig is in {fetched}; choose a writable -o FILE"
        raise UsageError(f"cannot write {out}: {exc.strerror}", hint=hint) from None


def _show(env: AppEnv, session: Session, target: Path, changed: bool, source: str) -> None:
    if env.json:
        data = {"path": str(target), "source": source, "refreshed": changed, "mode": "0600"}
        JsonLines(env.stdout, session.masker).emit(Event("kubeconfig", data))
        return
    state = "fetched" if changed else "already up to date"
    env.stdout.write(f"admin kubeconfig from {source} {state}: {target} (mode 0600)\n")
    env.stdout.write(f"  export KUBECONFIG={target.resolve()}\n  kubectl get nodes -o wide\n")


def _show_failure(env: AppEnv, session: Session, report: RunReport) -> None:
    if env.json:
        return  # the step-end and run-end events already carry the error
    from hybridctl.ui import print_summary

    print_summary(env.err, report, session.state_dir.log_dir(session.run_id))
