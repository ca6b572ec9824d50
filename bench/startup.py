"""Start-up benchmark: ``hybridctl --help`` against a bare ``python -c "import typer, rich"``.

Whole processes are timed (interpreter start included), several runs each, interleaved so that
machine noise hits both sides alike. Prints both medians and the ratio; the target is at most 1.5.
Also checks that ``--help`` imports neither paramiko nor pypsrp (nor pydantic or jinja2).

    python bench/startup.py [--runs 21]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

BASELINE = [sys.executable, "-c", "import typer, rich"]
HELP = [sys.executable, "-m", "hybridctl", "--help"]
HEAVY = ("paramiko", "pypsrp", "pydantic", "jinja2", "ruamel")
TARGET = 1.5


def timed(argv: list[str]) -> float:
    """Wall time of one whole process."""
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def heavy_imports() -> list[str]:
    """Heavy modules that ``hybridctl --help`` imports (should be none)."""
    probe = (
        "import sys, runpy; sys.argv=['hybridctl','--help']\n"
        "try:\n    runpy.run_module('hybridctl', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("HEAVY:"))
    return [m for m in line.removeprefix("HEAVY:").split(",") if m]


def main() -> int:
    """Run the benchmark and print medians and the ratio."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    timed(BASELINE), timed(HELP)  # warm the file system cache
    base, cli = [], []
    for _ in range(args.runs):
        base.append(timed(BASELINE))
        cli.append(timed(HELP))
    b, c = statistics.median(base), statistics.median(cli)
    heavy = heavy_imports()
    print(f"bare 'import typer, rich': median {b * 1000:.1f} ms over {args.runs} runs")
    print(f"'hybridctl --help':         median {c * 1000:.1f} ms over {args.runs} runs")
    print(f"ratio: {c / b:.2f} (target <= {TARGET})")
    print(f"heavy modules imported by --help: {', '.join(heavy) if heavy else 'none'}")
    return 0 if c / b <= TARGET and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
