"""Benchmark dedup per core: signatures vs datasketch (and rensa when installed), recall on planted
near-duplicates vs datasketch's MinHashLSH, the whole stage end to end, and peak RSS at 1x/4x/16x.

    python benchmarks/dedup.py --corpora /work/shared/corpora [--repeat 3] [--docs 4000] [--out results.json]

Corpus: 1-10 KB chunks of the English Gutenberg books (real prose). Every comparison runs the tools in
turn (A B A B ..., best of ``--repeat`` each): on a shared machine the load changes from second to
second, and only ratios taken from the same stretch of time mean anything. Signatures are timed
in-process (wall and CPU seconds); each side computes word 5-gram shingles of the same normalised
text (datasketch and rensa get them as Python strings/bytes, which is how their users call them;
tailmine's time includes its own NFKC + lower-casing). End-to-end and RSS runs call
``tailmine.pipelines.dedup.run`` in a child process with one in-process Beam worker (``ru_maxrss`` of
the child), on two inputs per scale: ``near`` (copy c of every text differs by one word: every
document is in a cluster of ``scale`` near-duplicates) and ``unique`` (copies 1.. have their words
shuffled: no document has a duplicate), so RSS is shown not to grow with document count.
datatrove's 4-stage MinHash pipeline (signatures, buckets, cluster, filter; one task/worker per
stage, 14 bucket tasks; 112 hashes, not 128) runs on the same JSONL in a child process with
``--datatrove-python`` (a venv where datatrove is installed), at 1x and 4x, alternating with
tailmine's stage. Both sides report wall seconds and CPU seconds (user + system of the child and its
children, start-up included). A reference tool that is missing or fails stops the benchmark with a
message (exit status 1); ``--skip datasketch,rensa,datatrove`` leaves one out on purpose. Inputs and
outputs go to a temp dir unless ``--work`` is given.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from timing import alternate, reference_tool  # noqa: E402
SINGLE = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def corpus(corpora: Path, n_docs: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts: list[str] = []
    books = sorted(p for p in (corpora / "books" / "gutenberg").glob("*.txt.gz") if not p.name.startswith(("fr__", "es__")))
    for path in books:
        text = gzip.open(path, "rt", encoding="utf-8-sig").read()
        i = 0
        while i < len(text) and len(texts) < n_docs:
            n = rng.randint(1000, 10000)
            texts.append(text[i : i + n])
            i += n
        if len(texts) >= n_docs:
            break
    return texts


def bench_signatures(texts: list[str], repeat: int, skip: set[str]) -> dict:
    """MB/s per core of tailmine's signatures and of each reference, run in turn (A B A B ..., best of
    ``repeat`` each). Same work on every side: 128 permutations of word 5-gram shingles of the same
    normalised text; the references get the shingles as Python bytes/str built by the same code
    (datasketch on an eighth of the texts: it is ~15x slower). tailmine's time includes its own
    normalisation (NFKC, lower case) and shingling; the references' time includes building the shingle
    strings."""
    from tailmine.dedup.minhash import MinHasher, normalize

    mh = MinHasher()
    mh.sketch(texts[:3])  # compile (or load the cached kernel) outside the timing

    def shingles(text):
        words = normalize(text).split()
        return [" ".join(words[i : i + 5]).encode() for i in range(max(1, len(words) - 4))]

    sub = texts[: max(50, len(texts) // 8)]
    runs = {"tailmine": (texts, lambda: mh.sketch(texts))}
    if "datasketch" not in skip:
        MinHash = reference_tool("datasketch", lambda: __import__("datasketch").MinHash, "pip install datasketch, or --skip datasketch")
        runs["datasketch"] = (sub, lambda: [MinHash(num_perm=128).update_batch(shingles(x)) for x in sub])
    if "rensa" not in skip:
        RMinHash = reference_tool("rensa", lambda: __import__("rensa").RMinHash, "pip install rensa, or --skip rensa")
        runs["rensa"] = (texts, lambda: [RMinHash(num_perm=128, seed=42).update([s.decode() for s in shingles(x)]) for x in texts])
    best = alternate({name: fn for name, (_, fn) in runs.items()}, repeat)
    results: dict = {"docs": len(texts), "repeat": repeat, "order": "alternating", "skipped": sorted(skip)}
    for name, (docs, _) in runs.items():
        mb = sum(len(t.encode()) for t in docs) / 1e6
        results[name] = {"MB": round(mb, 2), "MBps_wall": round(mb / best[name]["wall"], 2), "MB_per_cpu_s": round(mb / best[name]["cpu"], 2)}
    for name in runs.keys() - {"tailmine"}:
        for clock in ("MBps_wall", "MB_per_cpu_s"):
            results[f"ratio_vs_{name}_{clock}"] = round(results["tailmine"][clock] / results[name][clock], 1)
    return results


def bench_recall(texts: list[str]) -> dict:
    from datasketch import MinHash, MinHashLSH

    from tailmine.dedup import components as cc
    from tailmine.dedup.config import DedupConfig
    from tailmine.dedup.lsh import near_duplicate_edges
    from tailmine.dedup.minhash import MinHasher

    rng = random.Random(3)
    bases = [" ".join(t.split()[:300]) for t in texts[:200] if len(t.split()) >= 300]
    vocab = " ".join(bases).split()
    docs, planted = list(bases), []
    for i, b in enumerate(bases):
        for rate in (0.005, 0.01, 0.01, 0.02):
            words = b.split()
            for _ in range(max(1, round(rate * len(words)))):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            planted.append((i, len(docs)))
            docs.append(" ".join(words))
    cfg = DedupConfig()
    mh = MinHasher(cfg.num_perm, cfg.ngram, cfg.seed)
    sh = [set(mh.shingles(d).tolist()) for d in docs]
    jac = lambda a, b: len(sh[a] & sh[b]) / len(sh[a] | sh[b])
    high = [(a, b) for a, b in planted if jac(a, b) >= 0.85]
    sig = mh.signatures(docs)
    label = cc.components_local(near_duplicate_edges(sig, *cfg.bands_rows(), cfg.threshold - cfg.verify_slack))
    ours = sum(1 for a, b in high if a in label and label.get(a) == label.get(b)) / len(high)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    ms = []
    for i, s in enumerate(sh):
        m = MinHash(num_perm=128)
        m.update_batch([x.to_bytes(8, "little") for x in s])
        lsh.insert(i, m)
        ms.append(m)
    theirs = sum(1 for a, b in high if b in lsh.query(ms[a])) / len(high)
    return {"pairs_j_ge_0.85": len(high), "tailmine_recall": round(ours, 4), "datasketch_lsh_recall": round(theirs, 4)}


def _write_input(texts: list[str], copies: int, work: Path, unique: bool = False) -> Path:
    src = work / f"in-{'unique' if unique else 'near'}-{copies}"
    if not (src / "ingest" / "manifest.json").exists():
        src.mkdir(parents=True, exist_ok=True)
        with open(src / "docs.jsonl", "w") as f:
            for c in range(copies):
                rng = random.Random(c)
                for i, t in enumerate(texts):
                    if unique and c:
                        words = t.split(" ")
                        rng.shuffle(words)  # same words, new 5-grams: no duplicate anywhere
                        t = " ".join(words)
                    # near: copies differ by one word so the corpus grows without all being exact duplicates
                    f.write(json.dumps({"id": f"c{c}-d{i}", "text": f"copy{c} " + t}) + "\n")
        from tailmine.ingest.config import IngestConfig
        from tailmine.pipelines import ingest

        # one shard size at every scale (1 MiB units), so a larger input means more shards, not larger ones:
        # RSS then shows what grows with the number of documents, not with the shard size ingest picked
        ingest.run([str(src / "docs.jsonl")], str(src / "ingest"), IngestConfig(unit_bytes=1 << 20), SINGLE, force=True, progress=False)
    return src / "ingest"


CHILD = """
import json, sys, time
from tailmine.pipelines import dedup
t0 = time.perf_counter()
m = dedup.run(sys.argv[1], sys.argv[2], None, {single!r}, force=True, progress=False)
print(json.dumps({{"seconds": time.perf_counter() - t0, "counts": m.counts.to_dict(), "rounds": m.extra["component_rounds"]}}))
"""


DATATROVE = """
import sys, time, types
# datatrove.pipeline.dedup imports its exact-substring steps, which need `tokenizers`; MinHash does not
stub = types.ModuleType("datatrove.pipeline.dedup.exact_substrings")
stub.ESDatasetToSequence = stub.ESMergeSequences = stub.ESRangeRemover = None
sys.modules[stub.__name__] = stub
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers.jsonl import JsonlWriter

src, work = sys.argv[1], sys.argv[2]
cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)  # its defaults; 112 hashes
t0 = time.perf_counter()
LocalPipelineExecutor([JsonlReader(src), MinhashDedupSignature(output_folder=work + "/sigs", config=cfg)],
                      tasks=1, workers=1, logging_dir=work + "/logs/1").run()
LocalPipelineExecutor([MinhashDedupBuckets(input_folder=work + "/sigs", output_folder=work + "/buckets", config=cfg)],
                      tasks=cfg.num_buckets, workers=1, logging_dir=work + "/logs/2").run()
LocalPipelineExecutor([MinhashDedupCluster(input_folder=work + "/buckets", output_folder=work + "/remove_ids", config=cfg)],
                      tasks=1, workers=1, logging_dir=work + "/logs/3").run()
LocalPipelineExecutor([JsonlReader(src), MinhashDedupFilter(input_folder=work + "/remove_ids"), JsonlWriter(work + "/out")],
                      tasks=1, workers=1, logging_dir=work + "/logs/4").run()
print(time.perf_counter() - t0)
"""


def run_datatrove(python: str, jsonl: Path, work: Path) -> dict:
    """datatrove's 4-stage MinHash dedup, end to end, in a child process (one worker per stage)."""
    import shutil

    dt_work = work / "datatrove"
    shutil.rmtree(dt_work, ignore_errors=True)
    dt_src = dt_work / "in"
    dt_src.mkdir(parents=True)
    shutil.copy(jsonl, dt_src / "docs.jsonl")
    proc = subprocess.run([sys.executable, "-c", "import resource,subprocess,sys;"
                           "r=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
                           "print(r.stdout.strip().splitlines()[-1] if r.returncode == 0 else 'ERR ' + r.stderr[-3000:]);"
                           "u=resource.getrusage(resource.RUSAGE_CHILDREN);print(u.ru_utime+u.ru_stime);print(u.ru_maxrss)",
                           python, "-c", DATATROVE, str(dt_src), str(dt_work)], capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if not lines or lines[0].startswith("ERR"):
        raise SystemExit(f"benchmark stopped: reference tool datatrove failed to run ({python}); --skip datatrove to leave it out:\n"
                         + proc.stdout[-3000:] + proc.stderr[-1000:])
    return {"seconds": round(float(lines[-3]), 2), "cpu_seconds": round(float(lines[-2]), 2), "peak_rss_mb": round(int(lines[-1]) / 1024, 1)}


def run_stage(in_dir: Path, out: Path) -> dict:
    """tailmine's dedup stage in a fresh child (so ``ru_maxrss`` is that run's own peak)."""
    proc = subprocess.run([sys.executable, "-c", "import resource,subprocess,sys,json;"
                           "r=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
                           "print(r.stdout.strip().splitlines()[-1] if r.returncode == 0 else 'ERR ' + r.stderr[-3000:]);"
                           "u=resource.getrusage(resource.RUSAGE_CHILDREN);print(u.ru_utime+u.ru_stime);print(u.ru_maxrss)",
                           sys.executable, "-c", CHILD.format(single=SINGLE), str(in_dir), str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    lines = proc.stdout.strip().splitlines()
    if len(lines) < 3 or lines[-3].startswith("ERR"):
        raise SystemExit(f"benchmark stopped: tailmine dedup failed on {in_dir}:\n{proc.stdout[-3000:]}{proc.stderr[-1000:]}")
    row = json.loads(lines[-3])
    row["cpu_seconds"] = round(float(lines[-2]), 2)  # the child's user + system time, start-up included
    row["peak_rss_mb"] = round(int(lines[-1]) / 1024, 1)
    return row


def alternate_runs(tools: dict, repeat: int) -> dict[str, dict]:
    """``{tool: fastest run}``, the tools run in turn (A B A B ...) ``repeat`` times each; peak RSS is
    the largest over the runs and ``all_seconds`` lists every run."""
    runs: dict[str, list[dict]] = {name: [] for name in tools}
    for _ in range(repeat):
        for name, fn in tools.items():
            runs[name].append(fn())
    best = {}
    for name, rows in runs.items():
        best[name] = dict(min(rows, key=lambda r: r["seconds"]))
        best[name]["all_seconds"] = [round(r["seconds"], 2) for r in rows]
        best[name]["peak_rss_mb"] = max(r["peak_rss_mb"] for r in rows)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    ap.add_argument("--docs", type=int, default=4000)
    ap.add_argument("--repeat", "--repeats", dest="repeat", type=int, default=3, help="runs of each tool, in turn; the fastest is reported")
    ap.add_argument("--scales", default="1,4,16")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--datatrove-python", default="/tmp/dt-venv/bin/python", help="python of a venv with datatrove")
    ap.add_argument("--datatrove-scales", type=lambda v: [int(x) for x in v.split(",")], default=[1, 4],
                    help="near-duplicate scales datatrove also runs at (default 1,4)")
    ap.add_argument("--skip-signatures", action="store_true", help="only the stage, datatrove and RSS runs")
    ap.add_argument("--signatures-only", action="store_true", help="only the signature speed and recall comparisons")
    ap.add_argument("--skip", type=lambda v: set(filter(None, v.split(","))), default=set(),
                    help="reference tools not to run (datasketch,rensa,datatrove); any other that fails to run stops the benchmark")
    args = ap.parse_args(argv)
    if "datatrove" not in args.skip:
        reference_tool("datatrove", lambda: Path(args.datatrove_python).resolve(strict=True),
                       "make a venv with datatrove and pass --datatrove-python, or --skip datatrove")
    texts = corpus(args.corpora, args.docs)
    results = {}
    if not args.skip_signatures:
        results["signatures_MBps_per_core"] = bench_signatures(texts, args.repeat, args.skip)
        print(json.dumps(results, indent=1), flush=True)
        results["recall"] = bench_recall(texts)
        print(json.dumps(results["recall"], indent=1), flush=True)
    if args.signatures_only:
        if args.out:
            args.out.write_text(json.dumps(results, indent=1))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="tailmine-dedup-bench-"))
    mb = sum(len(t.encode()) for t in texts) / 1e6
    results["stage"] = {}
    runs = [(kind, int(s)) for kind in ("near", "unique") for s in args.scales.split(",")]
    for kind, scale in runs:
        if kind == "unique" and scale == 1:
            continue  # copy 0 is never shuffled: unique 1x is the near 1x input
        in_dir = _write_input(texts, scale, work, unique=kind == "unique")
        with_datatrove = kind == "near" and scale in args.datatrove_scales and "datatrove" not in args.skip
        tools = {"tailmine": lambda: run_stage(in_dir, work / f"out-{kind}-{scale}")}
        if with_datatrove:
            tools["datatrove"] = lambda: run_datatrove(args.datatrove_python, in_dir.parent / "docs.jsonl", work)
        best = alternate_runs(tools, args.repeat)
        row = best["tailmine"]
        row["MB"] = round(mb * scale, 1)
        row["MBps_per_core"] = round(mb * scale / row["seconds"], 2)
        row["MB_per_cpu_second"] = round(mb * scale / row["cpu_seconds"], 2)
        results["stage"][f"{kind}-{scale}x"] = row
        print(kind, scale, json.dumps(row), flush=True)
        if with_datatrove:
            dt = best["datatrove"]
            dt["MB"] = row["MB"]
            dt["MBps_per_core"] = round(row["MB"] / dt["seconds"], 3)
            dt["MB_per_cpu_second"] = round(row["MB"] / dt["cpu_seconds"], 3)
            dt["tailmine_stage_ratio_wall"] = round(row["MBps_per_core"] / dt["MBps_per_core"], 1)
            dt["tailmine_stage_ratio_cpu"] = round(row["MB_per_cpu_second"] / dt["MB_per_cpu_second"], 1)
            results.setdefault("datatrove_end_to_end", {})[f"{scale}x"] = dt
            print("datatrove", scale, json.dumps(dt), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
