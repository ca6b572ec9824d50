"""``render``: write every file hybridctl would install, plus a manifest, without connecting anywhere."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hybridctl.appenv import AppEnv
from hybridctl.errors import ExitCode
from hybridctl.inventory import load_inventory
from hybridctl.render import RuntimeValues, render_all, write_output


def run_render(env: AppEnv, out_dir: Path, assume: Path | None) -> int:
    """Render the inventory into ``out_dir``; print a summary (or the manifest with --output json)."""
    result = load_inventory(env.inventory_path())
    for problem in result.warnings:
        env.stderr.write(f"{problem}\n")
    cluster = result.require()
    values = RuntimeValues.load(assume) if assume is not None else RuntimeValues()
    files = render_all(cluster, values)
    manifest = write_output(files, out_dir)
    if env.json:
        env.stdout.write(manifest.read_text(encoding="utf-8"))
        return ExitCode.OK
    per_host = Counter(f.host or "cluster/scripts" for f in files)
    pending = sum(1 for f in files if f.placeholders)
    for host, count in per_host.items():
        env.stdout.write(f"{host}: {count} files\n")
    env.stdout.write(f"wrote {len(files)} files and {manifest}\n")
    if pending:
        env.stdout.write(
            f"{pending} files hold placeholders for values known only at run time "
            "(pass --assume FILE to fill them); such files are never installed\n"
        )
    return ExitCode.OK
