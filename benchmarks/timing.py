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


def alternate(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, float]]:
    """Best wall and best CPU seconds of each of ``fns``, called in turn (A B C A B C ...) for ``repeats``
    rounds.

    Why alternate: on a shared machine the neighbours' load changes from one second to the next; running
    tool A ``repeats`` times and then tool B lets one of them run in a quiet spell and the other in a busy
    one, and the ratio measures the neighbours. Interleaved, every tool meets the same spells, and the
    best of each is taken from the same stretch of time."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    best = {name: {"wall": math.inf, "cpu": math.inf} for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            wall, cpu = time.perf_counter(), cpu_seconds()
            fn()
            best[name]["cpu"] = min(best[name]["cpu"], cpu_seconds() - cpu)
            best[name]["wall"] = min(best[name]["wall"], time.perf_counter() - wall)
    return best


def reference_tool(name: str, load: Callable[[], Any], hint: str = "") -> Any:
    """``load()``'s result (an import, a model, a binary's path), or exit non-zero with a message naming
    the reference tool: a comparison whose other side did not run must not print as a missing column."""
    try:
        return load()
    except Exception as exc:  # noqa: BLE001 - any failure of the reference stops the benchmark
        raise SystemExit(f"benchmark stopped: reference tool {name} failed to run ({type(exc).__name__}: {exc})"
                         + (f"; {hint}" if hint else "")) from exc


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(ys) on log(xs): 1.0 is linear growth, 2.0 quadratic."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def slopes(rows: list[dict], x: str, keys: tuple[str, ...]) -> dict[str, float]:
    """:func:`slope` of each of ``keys`` on ``x`` over ``rows`` (the keys every row has)."""
    xs = [r[x] for r in rows]
    return {k: slope(xs, [r[k] for r in rows]) for k in keys if all(k in r for r in rows)}


def _tree_memory(pid: int) -> tuple[int, int]:
    """Resident bytes of ``pid`` and every descendant now, and the peak resident bytes of ``pid`` itself
    so far (its VmHWM), from /proc; (0, 0) once it has exited."""
    total, peak, stack = 0, 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as h:
                for line in h:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                    elif line.startswith("VmHWM:") and p == pid:
                        peak = int(line.split()[1]) * 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as h:
                    stack.extend(int(c) for c in h.read().split())
        except (OSError, ValueError):  # exited between the listing and the read
            continue
    return total, peak


def run_measured(cmd: list[str], sample_seconds: float = 0.1, **popen: Any) -> dict:
    """Run ``cmd`` as a child process and measure it: wall seconds, CPU seconds (user + system of the
    child and every descendant it waited for), the peak RSS of the child process (its VmHWM, read
    from /proc every ``sample_seconds``: growth in its last moments can be missed) and of the whole
    process tree (the sum of VmRSS, sampled as often: a shorter peak can be missed).

    Not ``ru_maxrss``: the kernel carries the parent's high-water mark into the child across exec, so
    a benchmark driver holding 2 GB of generated text made every stage it started look 2 GB large.
    Raises with the end of stderr when the command fails, so a stage that breaks fails the benchmark
    loudly."""
    import subprocess
    import threading

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    tree_peak, process_peak = [0], [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(sample_seconds):
            tree, hwm = _tree_memory(proc.pid)
            tree_peak[0], process_peak[0] = max(tree_peak[0], tree), max(process_peak[0], hwm)

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
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": process_peak[0] / 1e6,
            "tree_peak_rss_mb": max(tree_peak[0], process_peak[0]) / 1e6, "stdout": "".join(out)}
