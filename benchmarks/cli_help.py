"""Time of ``tailmine COMMAND --help`` for every command, for one or more source trees, alternating
between them (A B A B ...) and keeping the best of ``--repeat`` runs, so a loaded machine slows each
tree alike. Two numbers per run: CPU seconds of the process (user + system; what a loaded machine
hardly changes) and wall seconds (what a user waits for on an idle one).

    python benchmarks/cli_help.py --tree before=/tmp/base --tree after=.

Each run is a fresh interpreter (``python -m tailmine.cli COMMAND --help``) with the tree first on
``PYTHONPATH``: what a user waits for, interpreter start included.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

COMMANDS = ("run", "ingest", "filter", "dedup", "decontaminate", "classify", "concepts", "mix", "tokenizer", "report", "demo", "experiment")


def help_seconds(tree: str, command: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one ``--help``; NaN for a --help that fails."""
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tailmine.cli", command, "--help"], env=env, capture_output=True, cwd=tree)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        return float("nan"), float("nan")  # a crashing --help (the issue's `dedup --help`) has no time
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=PATH", help="a source tree to time")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree)
    best = {(name, c): (float("inf"), float("inf")) for name in trees for c in COMMANDS}
    for _ in range(args.repeat):
        for command in COMMANDS:
            for name, path in trees.items():
                cpu, wall = help_seconds(path, command)
                old_cpu, old_wall = best[name, command]
                best[name, command] = (min(old_cpu, cpu), min(old_wall, wall)) if cpu == cpu else (cpu, wall)
    names = list(trees)
    print("| command | " + " | ".join(f"{n}: CPU s / wall s" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for command in COMMANDS:
        cells = ["fails" if best[n, command][0] != best[n, command][0] else "{:.2f} / {:.2f}".format(*best[n, command]) for n in names]
        print(f"| `{command} --help` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
