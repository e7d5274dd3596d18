"""Timing shared by the benchmark scripts (they run as ``python benchmarks/NAME.py``, so this folder is
on ``sys.path``)."""
from __future__ import annotations

import math
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
