"""Entry point of the simulated toolchain inside a test host: ``main.py PROGRAM ARGS...``.

Each wrapper in the host's /usr/local/sbin runs ``/usr/bin/python3 -I <lab>/sim/main.py <program> "$@"``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sim_common


def main() -> int:
    """Dispatch on the program name; every failure is a non-zero exit with a message on stderr."""
    if len(sys.argv) < 2:
        print("usage: main.py PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    program, args = sys.argv[1], sys.argv[2:]
    handler = sim_common.PROGRAMS.get(program)
    if handler is None:
        print(f"hybridctl lab: no simulation of {program!r}", file=sys.stderr)
        return 127
    return sim_common.run(program, handler, args)


if __name__ == "__main__":
    sys.exit(main())
