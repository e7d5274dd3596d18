"""Wall time of ``tailmine COMMAND --help`` for every command, for one or more source trees, alternating
between them (A B A B ...) and keeping the best of ``--repeat`` runs, so a loaded machine slows each
tree alike.

    python benchmarks/cli_help.py --tree before=/tmp/base --tree after=.

Each run is a fresh interpreter (``python -m tailmine.cli COMMAND --help``) with the tree first on
``PYTHONPATH``: what a user waits for, interpreter start included.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

COMMANDS = ("run", "ingest", "filter", "dedup", "decontaminate", "classify", "concepts", "mix", "tokenizer", "report", "demo", "experiment")


def help_seconds(tree: str, command: str) -> float:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tailmine.cli", command, "--help"], env=env, capture_output=True, cwd=tree)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        return float("nan")  # a crashing --help (the issue's `dedup --help`) has no time
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=PATH", help="a source tree to time")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree)
    best = {(name, c): float("inf") for name in trees for c in COMMANDS}
    for _ in range(args.repeat):
        for command in COMMANDS:
            for name, path in trees.items():
                seconds = help_seconds(path, command)
                best[name, command] = min(best[name, command], seconds) if seconds == seconds else seconds
    names = list(trees)
    print("| command | " + " | ".join(f"{n} (s)" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for command in COMMANDS:
        cells = ["fails" if best[n, command] != best[n, command] else f"{best[n, command]:.2f}" for n in names]
        print(f"| `{command} --help` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
