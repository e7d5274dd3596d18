"""Concepts scaling on synthetic short documents: wall, CPU seconds and peak RSS per process and for
the process tree, at growing sizes.

    python benchmarks/concepts_scaling.py --docs 100000,400000,1600000 [--mode exact] [--workers 2] [--work DIR] [--out FILE.json]

The input is the synthetic finished stage of ``dedup_scaling.py`` (documents of ~330 bytes from a Zipf
vocabulary of 300k pseudo-words, 5% near-duplicates, shards of ``--shard-rows``): the shape on which
exact concept counting grew with the number of distinct concepts and copied them to the launcher
(issue 20). Each size runs the concepts stage in its own subprocess with the local DirectRunner in
multi-processing mode (``--workers`` worker processes), so the launcher and the workers are separate
processes, as in a real local run. A sampler reads every process of the tree every ``--interval``
seconds: ``VmHWM`` (each process's own peak RSS, so a peak between samples is not missed) and the
current RSS summed over the tree (the tree's peak is the largest such sum: a lower bound, sampled).
CPU seconds are user + system of every process of the tree (last sample of each). ``--tailmine DIR``
runs another checkout (e.g. the code before a change) on the same input. ``--fit-only 0,2`` times the
power-law fit alone (0 and 2 bootstrap replicates) on the concept tables left by an earlier run.
``--fit-synthetic 20000000,67000000 --fit-only 0,20`` times it on synthetic spectra instead: that many
distinct concepts with document frequencies drawn from a Zipf(2.0) law capped at ``--fit-cap``
documents (the shape of the 1.6M-document run's 67M concepts, 5,501 distinct df values), built once
per size, then fitted in a fresh process (``--tailmine`` for the code before a change).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as python benchmarks/NAME.py or imported by tests
from dedup_scaling import write_stage  # noqa: E402
from timing import slopes  # noqa: E402

STAGE_SCRIPT = """
import json, sys, time
from tailmine.concepts.config import ConceptConfig
from tailmine.pipelines import concepts
src, out, mode, bootstrap, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
args = ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"] if workers > 1 else \\
       ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
t = time.perf_counter()
m = concepts.run(src, out, ConceptConfig(mode=mode, bootstrap=bootstrap), args, force=True, progress=False)
fit = json.load(open(out + "/fit.json"))
print(json.dumps({"wall_s": time.perf_counter() - t, "input": m.counts.input, "output": m.counts.output,
                  "distinct": fit["counting"].get("distinct_concepts") or fit["counting"].get("distinct_concepts_estimate"),
                  "alpha": (fit.get("power_law") or {}).get("alpha")}))
"""


def _tree(root):
    import psutil

    try:
        return [root] + root.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _hwm_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(src: Path, out: Path, mode: str, bootstrap: int, workers: int, interval: float, tailmine: str | None) -> dict:
    """Run the stage in a subprocess, sampling its process tree; return times, peaks and the result."""
    import psutil

    env = dict(os.environ)
    if tailmine:
        env["PYTHONPATH"] = tailmine
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", STAGE_SCRIPT, str(src), str(out), mode, str(bootstrap), str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tailmine or None)
    root = psutil.Process(proc.pid)
    peak_hwm: dict[int, float] = {}
    cpu: dict[int, float] = {}
    tree_peak = 0.0
    while proc.poll() is None:
        total = 0.0
        for p in _tree(root):
            try:
                total += p.memory_info().rss / 2**20
                times = p.cpu_times()
                cpu[p.pid] = times.user + times.system
                peak_hwm[p.pid] = max(peak_hwm.get(p.pid, 0.0), _hwm_mb(p.pid))
            except psutil.NoSuchProcess:
                continue
        tree_peak = max(tree_peak, total)
        time.sleep(interval)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"concepts failed:\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    launcher = peak_hwm.get(proc.pid, 0.0)
    workers_peak = max((v for k, v in peak_hwm.items() if k != proc.pid), default=0.0)
    return {**result, "process_wall_s": time.perf_counter() - t0, "cpu_s": sum(cpu.values()), "launcher_peak_mb": launcher,
            "largest_worker_peak_mb": workers_peak, "largest_process_peak_mb": max(launcher, workers_peak),
            "tree_peak_sampled_mb": tree_peak, "processes": len(peak_hwm)}


FIT_SCRIPT = """
import json, resource, sys, time
import numpy as np
from tailmine.concepts.fitting import FitConfig, Spectrum, fit_power_law
if sys.argv[1].endswith(".npz"):  # a synthetic spectrum (synthetic_spectrum)
    z = np.load(sys.argv[1])
    values, counts = z["values"], z["counts"]
else:  # the concept table of an earlier run
    from tailmine.concepts.partitioned import merge_spectra, spectrum_of
    from tailmine.concepts.tables import iter_concept_tables
    values, counts = merge_spectra([spectrum_of(t.column("df").to_numpy()) for t in iter_concept_tables(sys.argv[1], ["df"])])
t = time.process_time()
fit = fit_power_law(Spectrum.of_frequencies(values, counts), FitConfig(bootstrap=int(sys.argv[2])))
print(json.dumps({"concepts": int(counts.sum()), "df_values": len(values), "fit_cpu_s": time.process_time() - t,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "alpha": fit.alpha, "p_value": fit.p_value}))
"""


def synthetic_spectrum(concepts: int, cap: int, path: Path, seed: int = 0) -> Path:
    """An ``.npz`` of (values, counts): ``concepts`` document frequencies from Zipf(2.0) capped at
    ``cap``, counted in chunks of 10M (never all values at once)."""
    import numpy as np

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    total = np.zeros(cap + 1, np.int64)
    left = concepts
    while left:
        n = min(left, 10_000_000)
        total += np.bincount(np.minimum(rng.zipf(2.0, n), cap), minlength=cap + 1)
        left -= n
    values = np.nonzero(total)[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, values=values, counts=total[values])
    return path


def measure_fit(out: Path, bootstrap: int, tailmine: str | None = None) -> dict:
    """CPU seconds and peak RSS of the power-law fit alone (with ``bootstrap`` replicates) on the
    frequency spectrum of the concept table in ``out`` (or of an ``.npz`` spectrum), in a fresh process."""
    env = {**os.environ, "PYTHONPATH": tailmine} if tailmine else None
    # cwd: ``python -c`` puts the working folder first on sys.path, ahead of PYTHONPATH
    result = subprocess.run([sys.executable, "-c", FIT_SCRIPT, str(out), str(bootstrap)], capture_output=True, text=True, env=env,
                            cwd=tailmine or None)
    if result.returncode != 0:
        raise RuntimeError(f"fit failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", default="100000,400000,1600000")
    parser.add_argument("--shard-rows", type=int, default=25_000)
    parser.add_argument("--mode", default="exact", choices=("exact", "sketch"))
    parser.add_argument("--bootstrap", type=int, default=10, help="power-law bootstrap replicates (each costs ~0.1 s per million distinct concepts)")
    parser.add_argument("--workers", type=int, default=2, help="DirectRunner worker processes (1: one in-process worker)")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between samples of the process tree")
    parser.add_argument("--tailmine", default=None, help="run the tailmine of this checkout instead (PYTHONPATH)")
    parser.add_argument("--fit-only", default=None, metavar="N,N", help="only time the fit (e.g. 0,2 bootstrap replicates) on the concept tables an earlier run left in --work")
    parser.add_argument("--fit-synthetic", default=None, metavar="N,N", help="with --fit-only: fit synthetic spectra of N distinct concepts instead of earlier tables")
    parser.add_argument("--fit-cap", type=int, default=1_600_000, help="largest document frequency of --fit-synthetic (the documents)")
    parser.add_argument("--work", default=None, help="folder for inputs and outputs (default: a temp dir)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="tailmine-concepts-scaling-"))
    rows = []
    if args.fit_only and args.fit_synthetic:
        for n in [int(x) for x in args.fit_synthetic.split(",")]:
            spectrum = synthetic_spectrum(n, args.fit_cap, work / f"spectrum-{n}-{args.fit_cap}.npz")
            for b in [int(x) for x in args.fit_only.split(",")]:
                print(json.dumps({"concepts": n, "bootstrap": b, **measure_fit(spectrum, b, args.tailmine)}), flush=True)
        return 0
    if args.fit_only:
        for n in [int(x) for x in args.docs.split(",")]:
            for b in [int(x) for x in args.fit_only.split(",")]:
                print(json.dumps({"documents": n, "bootstrap": b, **measure_fit(work / f"out-{n}-{args.mode}", b)}), flush=True)
        return 0
    for n in [int(x) for x in args.docs.split(",")]:
        src = work / f"in-{n}"
        write_stage(n, src, args.shard_rows)
        row = {"documents": n, **measure(src, work / f"out-{n}-{args.mode}", args.mode, args.bootstrap, args.workers, args.interval, args.tailmine)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\nmode {args.mode}, {args.workers} worker(s), bootstrap {args.bootstrap}")
    print("| documents | distinct concepts | wall s | CPU s (tree) | launcher peak MB | largest worker peak MB | tree peak MB (sampled) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['documents']:,} | {r['distinct']:,.0f} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['launcher_peak_mb']:.0f} | "
              f"{r['largest_worker_peak_mb']:.0f} | {r['tree_peak_sampled_mb']:.0f} |")
    report = {"mode": args.mode, "workers": args.workers, "bootstrap": args.bootstrap, "rows": rows}
    if len(rows) > 1:
        report["slopes"] = slopes(rows, "documents", ("wall_s", "cpu_s", "largest_process_peak_mb", "tree_peak_sampled_mb"))
        print("\nslope of log(y) on log(documents): " + ", ".join(f"{k} {v:.2f}" for k, v in report["slopes"].items()))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
