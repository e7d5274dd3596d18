"""Mix planning at scale: peak memory and time of the stage's planning passes and writers (everything
after the per-shard prepare step) from 100k to 1.6M units, on synthetic prepared shards.

    python benchmarks/mix_scaling.py [--scales 100000,200000,400000,800000,1600000] [--out FILE.json]

Each document is one short unit (20-200 tokens) with 1-3 concepts drawn from a Zipf(1.3) law (so the
number of distinct concepts grows with the corpus, as it does in real text), its bucket the rarest of
them, its group one of 5,000 domains; 50,000 units per prepared shard. The budget is 30% of the
tokens, written as output shards of at most 2M tokens. Each scale runs in its own subprocess with one
DirectRunner worker (in_memory); peak RSS is that process's VmHWM, time excludes interpreter start
and data generation. The per-shard prepare step (tokenize, cut, extract concepts) streams one input
shard at a time and is measured by ``benchmarks/mix.py``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as python benchmarks/NAME.py or imported by tests
from timing import run_measured, slope  # noqa: E402

PER_SHARD = 50_000

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import apache_beam as beam
    from tailmine.mixtures.config import MixConfig
    from tailmine.pipelines import mix
    from tailmine.pipelines.options import pipeline_options
    from tailmine.runtime import ShardTask
    out, n_shards, budget, tok = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    cfg = MixConfig(tokens=budget, vocab_size=512, shard_tokens=2_000_000, holdout=0.0)
    tasks = [ShardTask(u, f"synthetic-{u:05d}.parquet", 0, 0) for u in range(n_shards)]
    t = time.perf_counter()
    pipeline = beam.Pipeline(options=pipeline_options(["--direct_running_mode=in_memory", "--direct_num_workers=1"]))
    shards = pipeline | "Shards" >> beam.Create(list(range(n_shards)), reshuffle=False)
    held = beam.pvalue.AsSingleton(pipeline | "Held" >> beam.Create([(frozenset(), {"fraction": 0.0})]))
    mix.plan_and_write(shards, held, cfg, out, tasks, tok, {"step": "mix"}, [], None, budget)
    pipeline.run().wait_until_finish()
    seconds = time.perf_counter() - t
    import resource
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ru.ru_utime + ru.ru_stime
    rss = [int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    recipe = json.load(open(out + "/recipe.json"))
    print(json.dumps({"seconds": seconds, "cpu_seconds_with_imports": cpu, "peak_rss_mb": rss, "tokens_total": recipe["tokens_total"],
                      "budget_error": recipe["budget_error"], "output_shards": len(recipe["shards"]),
                      "concepts": recipe["tail_metrics"]["mixture"]["concepts"],
                      "cov_10": recipe["tail_metrics"]["mixture"]["cov_10"], "cov_10_passive": recipe["tail_metrics"]["passive"]["cov_10"]}))
    """
)


def write_prepared(out: Path, n_units: int, seed: int = 0) -> int:
    """Synthetic prepared shards (work tables + token arrays) under ``out``; returns the shard count."""
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tailmine.mixtures.prepare import WORK_SCHEMA, work_paths

    rng = np.random.default_rng(seed)
    shards = math.ceil(n_units / PER_SHARD)
    for s in range(shards):
        n = min(PER_SHARD, n_units - s * PER_SHARD)
        first = s * PER_SHARD
        tokens = rng.integers(20, 201, n)
        per = rng.integers(1, 4, n)
        concepts = rng.zipf(1.3, int(per.sum())).astype(np.int64)
        offsets = np.concatenate([[0], np.cumsum(per)])
        rarest = np.maximum.reduceat(concepts, offsets[:-1])
        df = np.maximum(1, (n_units * rarest.astype(np.float64) ** -1.3 / 3.9).astype(np.int64))
        ids = [f"d{first + i}" for i in range(n)]
        table = pa.table({
            "id": ids, "unit": np.zeros(n, np.int32), "last_unit": np.ones(n, bool), "doc_row": np.arange(n),
            "char_start": np.zeros(n, np.int64), "char_end": tokens * 4, "token_start": np.zeros(n, np.int64),
            "group": [f"domain:site{(first + i) % 5000}.org" for i in range(n)], "source": ["web"] * n,
            "bucket": [f"e:c{r}" for r in rarest], "bucket_df": df,
            "concept_ids": pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(concepts)),
            "tokens": tokens, "utf8_bytes": tokens * 4, "quality": pa.nulls(n, pa.float64()),
            "input_shard": [f"synthetic-{s:05d}.parquet"] * n, "source_file": [f"synthetic-{s:05d}.jsonl"] * n,
            "source_record": np.arange(n), "source_offset": pa.nulls(n, pa.int64()),
        }, schema=WORK_SCHEMA)
        docs_path, tokens_path, _ = work_paths(str(out), s)
        Path(docs_path).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, docs_path, compression="zstd")
        flat = rng.integers(1, 500, int(tokens.sum())).astype(np.uint32)
        flat[np.cumsum(tokens) - 1] = 0  # EOS
        buf = io.BytesIO()
        np.save(buf, flat)
        Path(tokens_path).write_bytes(buf.getvalue())
    return shards


def tokenizer(path: Path) -> str:
    from tailmine.demo.sample import synthetic_documents
    from tailmine.mixtures.tokenize import save_tokenizer, train_bpe

    return save_tokenizer(train_bpe(synthetic_documents(200, seed=1), vocab_size=512), str(path))




def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", default="100000,200000,400000,800000,1600000")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tailmine-mix-scaling-"))
    tok = tokenizer(work / "tokenizer.json")
    rows = []
    for n in (int(x) for x in args.scales.split(",")):
        out = work / f"n{n}"
        shards = write_prepared(out, n)
        total = sum(__import__("numpy").load(out / "_work" / f"tokens-{s:05d}.npy", mmap_mode="r").shape[0] for s in range(shards))
        res = run_measured([sys.executable, "-c", SCRIPT, str(out), str(shards), str(int(0.3 * total)), tok])
        row = {"units": n, "shards": shards, "unit_tokens_total": int(total), **json.loads(res["stdout"].strip().splitlines()[-1]),
               "tree_peak_rss_mb": res["tree_peak_rss_mb"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
        import shutil

        shutil.rmtree(out, ignore_errors=True)
    if len(rows) > 1:
        summary = {"time_slope": slope([r["units"] for r in rows], [r["seconds"] for r in rows]),
                   "cpu_slope": slope([r["units"] for r in rows], [r["cpu_seconds_with_imports"] for r in rows]),
                   "peak_rss_ratio_last_over_first": rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]}
        print(json.dumps(summary))
        rows.append(summary)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
