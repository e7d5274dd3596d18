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


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(ys) on log(xs): 1.0 is linear growth, 2.0 quadratic."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)
