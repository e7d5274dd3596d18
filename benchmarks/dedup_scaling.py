"""Dedup scaling on synthetic short documents: wall, CPU seconds and peak RSS at growing sizes.

    python benchmarks/dedup_scaling.py --docs 100000,400000,1600000 [--work DIR] [--out FILE.json]

The input is written directly as a finished stage (Parquet shards of ``--shard-rows`` documents and a
manifest), so the measurement is the dedup stage alone: documents of ~330 bytes drawn from a Zipf
vocabulary of 300k pseudo-words; 5% of them are near-duplicates of an earlier document (half exact
copies, half with one word replaced: 5-gram Jaccard ~0.82). This is the shape that turned dedup
quadratic past ~1M documents (issue 20): many shards, few duplicates, candidate pairs spread over
every shard.

Each size runs dedup in its own subprocess with one worker (``--direct_num_workers=1``), so CPU
seconds (user + system of that process tree) are a per-core figure; wall seconds depend on what else
the machine runs. The fitted slope of log(CPU seconds) on log(documents) is 1.0 for linear work.
``cpu_s`` is the whole process (interpreter and Beam start included); ``run_cpu_s`` the run alone,
split into ``steps`` (CPU seconds of each step's tasks, summed; "framework" is the rest: Beam and
scheduling). Also printed: the plan's predicted CPU seconds (``STEP_RATES`` in
``tailmine/dedup/planner.py`` come from these step figures) and peak memory next to what was measured.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as python benchmarks/NAME.py or imported by tests
from scaling import synthetic_texts  # noqa: E402  (the generator of benchmarks/scaling.py --synthetic)
from timing import run_measured, slopes  # noqa: E402

STAGE_SCRIPT = """
import collections, json, resource, sys, time
from tailmine.dedup.config import DedupConfig
from tailmine.pipelines import dedup

src, out, log = sys.argv[1], sys.argv[2], sys.argv[3]
STEPS = {"sign_unit": "sign", "partition_candidates": "candidates", "send_signatures": "verify", "verify_unit": "verify",
         "cc_local": "components+survivors", "cc_init": "components+survivors", "cc_send": "components+survivors",
         "cc_receive": "components+survivors", "rank_send": "components+survivors", "choose_unit": "components+survivors",
         "write_unit": "write", "line_keys_unit": "lines", "line_counts_partition": "lines"}
def timed(name, fn):  # the DoFns are pickled: each task appends its CPU seconds to a file, not to a dict here
    def wrapper(*a):
        t = time.process_time()
        r = fn(*a)
        with open(log, "a") as h:
            h.write(json.dumps([name, time.process_time() - t]) + "\\n")
        return r
    return wrapper
for name, step in STEPS.items():
    if hasattr(dedup, name):
        setattr(dedup, name, timed(step, getattr(dedup, name)))
t, cpu = time.perf_counter(), time.process_time()
m = dedup.run(src, out, DedupConfig(), ["--direct_running_mode=in_memory", "--direct_num_workers=1"], force=True, progress=False)
wall, run_cpu = time.perf_counter() - t, time.process_time() - cpu
self_ru, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
rss = max(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
steps = collections.Counter()
for line in open(log):
    name, seconds = json.loads(line)
    steps[name] += seconds
steps["framework"] = run_cpu - sum(steps.values())
print(json.dumps({"wall_s": wall, "cpu_s": self_ru.ru_utime + self_ru.ru_stime + kids.ru_utime + kids.ru_stime, "run_cpu_s": run_cpu,
                  "peak_rss_mb": rss, "input": m.counts.input, "output": m.counts.output, "dropped": m.counts.dropped,
                  "clustered": m.extra["clustered_documents"], "steps": dict(steps)}))
"""


def write_stage(n: int, folder: Path, shard_rows: int) -> None:
    """A finished stage of ``n`` synthetic documents in shards of ``shard_rows`` rows (as ingest writes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import tailmine
    from tailmine.schemas.document import DOCUMENT_SCHEMA
    from tailmine.schemas.manifest import Counts, Manifest, ShardInfo

    if (folder / "manifest.json").exists():
        return
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    texts = synthetic_texts(n)
    shards, text_bytes = [], 0
    for s, start in enumerate(range(0, n, shard_rows)):
        chunk = texts[start : start + shard_rows]
        k = len(chunk)
        ids = [f"d{start + i}" for i in range(k)]
        columns = {f.name: pa.nulls(k, f.type) for f in DOCUMENT_SCHEMA}
        columns.update(
            id=pa.array(ids, pa.string()), source=pa.array(["jsonl"] * k, pa.string()), text=pa.array(chunk, pa.string()),
            raw_bytes=pa.array([len(t) for t in chunk], pa.int64()), source_file=pa.array(["synthetic"] * k, pa.string()),
        )
        rel = f"docs/part-{s:05d}.parquet"
        pq.write_table(pa.table(columns, schema=DOCUMENT_SCHEMA), folder / rel, compression="zstd")
        data = (folder / rel).read_bytes()
        shards.append(ShardInfo(rel, k, len(data), hashlib.sha256(data).hexdigest()))
        text_bytes += sum(len(t.encode()) for t in chunk)
    Manifest("ingest", tailmine.__version__, "1", {"synthetic": True}, [], shards, [], Counts(n, n), {"text_bytes": text_bytes}).write(str(folder))




def predicted(folder: Path, out: Path) -> dict:
    """The plan's figures: memory with the 50% bound, and with the rate the run in ``out`` observed."""
    from tailmine.dedup.config import DedupConfig
    from tailmine.pipelines import dedup

    bound = dedup.make_plan(str(folder), DedupConfig())[0]
    try:
        observed = dedup.make_plan(str(folder), DedupConfig(), str(out))[0]
    except TypeError:  # a tailmine from before the plan learnt the observed rate
        observed = bound
    return {"cpu_s": getattr(bound, "cpu_seconds", float("nan")), "peak_mb": bound.peak_memory_bytes / 1e6,
            "peak_mb_observed_rate": observed.peak_memory_bytes / 1e6}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", default="100000,400000,1600000")
    parser.add_argument("--shard-rows", type=int, default=25_000)
    parser.add_argument("--work", default=None, help="folder for inputs and outputs (default: a temp dir)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="tailmine-dedup-scaling-"))
    rows = []
    for n in [int(x) for x in args.docs.split(",")]:
        src = work / f"in-{n}"
        write_stage(n, src, args.shard_rows)
        log = work / f"steps-{n}.jsonl"
        log.unlink(missing_ok=True)
        measured = run_measured([sys.executable, "-c", STAGE_SCRIPT, str(src), str(work / f"out-{n}"), str(log)])
        row = {"documents": n, **json.loads(measured["stdout"].strip().splitlines()[-1]), "tree_peak_rss_mb": measured["tree_peak_rss_mb"],
               "plan": predicted(src, work / f"out-{n}")}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| documents | wall s | CPU s (process) | CPU s (run) | peak RSS MB | plan CPU s | plan peak MB | removed |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['documents']:,} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r.get('run_cpu_s', float('nan')):.1f} | {r['peak_rss_mb']:.0f} | {r['plan']['cpu_s']:.1f} | {r['plan']['peak_mb']:.0f} | {sum(r['dropped'].values()):,} |")
    report = {"rows": rows}
    if len(rows) > 1:
        report["slopes"] = slopes(rows, "documents", ("wall_s", "cpu_s", "run_cpu_s"))
        print("\nslope of log time vs log documents: " + ", ".join(f"{k} {v:.2f}" for k, v in report["slopes"].items()))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
