"""Timing shared by the benchmark scripts (they run as ``python benchmarks/NAME.py``, so this folder is
on ``sys.path``)."""
from __future__ import annotations

import math
import os
import resource
import time
from typing import Any, Callable


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (threads included): on a shared machine wall time is
    noise, CPU time much less."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def best_of(fn: Callable[[], Any], repeats: int, clock: Callable[[], float] = time.perf_counter) -> tuple[float, Any]:
    """The smallest ``clock`` seconds one call of ``fn`` took over ``repeats`` calls, and the last
    call's result."""
    times, result = [], None
    for _ in range(repeats):
        start = clock()
        result = fn()
        times.append(clock() - start)
    return min(times), result


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(ys) on log(xs): 1.0 is linear growth, 2.0 quadratic."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def _tree_rss_bytes(pid: int) -> int:
    """Resident bytes of ``pid`` and every descendant, from /proc (0 once it has exited)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm") as h:
                total += int(h.read().split()[1]) * PAGE_BYTES
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as h:
                    stack.extend(int(c) for c in h.read().split())
        except (OSError, ValueError):  # exited between the listing and the read
            continue
    return total


PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def run_measured(cmd: list[str], sample_seconds: float = 0.1, **popen: Any) -> dict:
    """Run ``cmd`` as a child process and measure it: wall seconds, CPU seconds (user + system of the
    child and every descendant it waited for), the peak RSS of its largest process (the kernel's
    ``ru_maxrss``) and of the whole process tree (sampled from /proc every ``sample_seconds``: a peak
    shorter than that can be missed). Raises with the end of stderr when the command fails, so a
    stage that breaks fails the benchmark loudly."""
    import subprocess
    import threading

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    tree_peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(sample_seconds):
            tree_peak[0] = max(tree_peak[0], _tree_rss_bytes(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = [], []
    readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True) for s, b in ((proc.stdout, out), (proc.stderr, err))]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} ... failed (exit {proc.returncode}):\n{''.join(err)[-3000:]}")
    process_peak = usage.ru_maxrss * 1024  # KiB on Linux
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": process_peak / 1e6,
            "tree_peak_rss_mb": max(tree_peak[0], process_peak) / 1e6, "stdout": "".join(out)}
