"""Concepts benchmark: MB/s of text per core for extraction alone and for the whole stage
(extraction + counting + annotation, exact and sketch), against the per-string reference extractor;
sketch-mode peak memory as the corpus grows x1, x4, x16; the power-law fit against ``powerlaw``.

    .venv/bin/python benchmarks/concepts.py [--parquet DIR] [--books N] [--repeats 3] [--beam]

Input: the document shards in ``--parquet`` (default: the scaling benchmark's x1 dedup output,
``bench-out/scaling/x1/out/dedup/docs``, ~5,700 real documents, ~30 MB of text) when present,
otherwise ``--books`` Gutenberg books + CCNet from ``../shared/corpora``.

Single process, best of ``--repeat`` (tools compared with each other called in turn, A B A B ...:
the reference and compiled extractors, our power-law fit and ``powerlaw``); each row gives CPU seconds of this process (``process_time``:
per core, and steady on a shared machine) and wall seconds. "Whole stage" is what the Beam stage
does per shard minus Parquet I/O and the power-law fit: extract concept ids per 1024-row batch,
count them (strings kept once per distinct concept), write the ids to a work file, merge, read the
ids back and compute the four rarity columns per 2048-row batch. The bootstrap of the power-law fit
is out of every stage figure (the Beam stage runs with ``bootstrap=0``); its cost is printed on its
own at the end (1000 replicates): a run with the default config (``bootstrap=1000``) adds it. ``--beam`` also times the real
stage (one DirectRunner worker, bootstrap 0) on ``--parquet``. Memory is measured in a fresh
subprocess per size (peak RSS).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from timing import alternate

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"
DEFAULT_PARQUET = ROOT / "bench-out" / "scaling" / "x1" / "out" / "dedup" / "docs"


def texts(n_books: int, parquet: str | None = None) -> list[str]:
    if parquet:
        import pyarrow.parquet as pq

        out: list[str] = []
        for path in sorted(Path(parquet).glob("*.parquet")):
            out += [t or "" for t in pq.read_table(path, columns=["text"]).column(0).to_pylist()]
        return out
    books = sorted((CORPORA / "books" / "gutenberg").glob("*.txt.gz"))[:n_books]
    out = [gzip.open(p, "rt", encoding="utf-8", errors="replace").read() for p in books]
    for p in sorted((CORPORA / "web" / "ccnet").glob("*.jsonl.gz")):
        out += [json.loads(line)["text"] for line in gzip.open(p, "rt")]
    return out


def whole_stage(docs, mode: str, work_dir: str):
    """Extraction + counting + ids to a work file + merge + annotation, as the stage does per shard."""
    from tailmine.concepts.config import ConceptConfig
    from tailmine.concepts.extract import build_extractors
    from tailmine.concepts.rarity import ConceptRarityStep
    from tailmine.concepts.sketches import new_counts
    from tailmine.pipelines.concepts import add_to_counts, load_ids, save_ids, sketch_config

    cfg = ConceptConfig(mode=mode)
    ex = build_extractors(cfg.extractors, cfg.max_n)
    counts = new_counts(mode, sketch_config(cfg))
    ids, sizes = [], []
    for i in range(0, len(docs), 1024):
        batch = ex.extract_hashed(docs[i : i + 1024], cfg.seed)
        add_to_counts(counts, batch)
        ids.append(batch.hashes)
        sizes.append(np.diff(batch.offsets))
    path = os.path.join(work_dir, f"ids-{mode}.npz")
    save_ids(path, np.concatenate(ids), np.concatenate(sizes))
    merged = new_counts(mode, sketch_config(cfg)).merge(counts)  # the CombineGlobally step
    if mode == "exact":
        merged.arrays()
    step = ConceptRarityStep(cfg, merged, cfg.tail_df_range(merged.documents))
    hashes, offsets = load_ids(path)
    step.begin_shard((hashes, offsets), len(docs))
    columns = None
    for i in range(0, len(docs), 2048):
        n = min(2048, len(docs) - i)
        a, b = offsets[i], offsets[i + n]
        from tailmine.concepts.rarity import rarity_from_dfs

        columns = rarity_from_dfs(step.lookup_ids(hashes[a:b]), offsets[i : i + n + 1] - a, step.tail_range)
    return merged, columns


def best(fn, repeats):
    """(CPU seconds, wall seconds), each the best of ``repeats``."""
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return min(cpu), min(wall)


def memory_child(scale: int, base_books: int, parquet: str | None) -> None:
    """Sketch-mode counting streamed over ``scale`` copies of the base corpus (each copy's concepts
    renamed, so the vocabulary grows with the corpus); prints peak RSS in MB."""
    from tailmine.concepts.config import ConceptConfig
    from tailmine.concepts.extract import build_extractors
    from tailmine.concepts.sketches import _splitmix, new_counts
    from tailmine.pipelines.concepts import sketch_config

    docs = texts(base_books, parquet)
    cfg = ConceptConfig(mode="sketch")
    ex = build_extractors(cfg.extractors, cfg.max_n)
    counts = new_counts("sketch", sketch_config(cfg))
    for copy in range(scale):
        for i in range(0, len(docs), 1024):
            batch = ex.extract_hashed(docs[i : i + 1024], cfg.seed)
            keys, first, df = np.unique(_splitmix(batch.hashes, 1000 + copy), return_index=True, return_counts=True)
            names = lambda idx, first=first, batch=batch, copy=copy: [f"{c}#{copy}" for c in batch.strings(first[np.asarray(idx)]).to_pylist()]
            counts.add_hashed(keys, df.astype(np.int64), names, len(batch))
    print(json.dumps({"scale": scale, "documents": counts.documents, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "hll": counts.hll.estimate()}))


def beam_stage(parquet_docs: Path, mode: str) -> float:
    """Wall seconds of the real stage, one DirectRunner worker, no bootstrap, in a subprocess."""
    code = (
        "import sys, time; from tailmine.concepts.config import ConceptConfig; from tailmine.pipelines import concepts;"
        "t = time.perf_counter();"
        "concepts.run(sys.argv[1], sys.argv[2], ConceptConfig(mode=sys.argv[3], bootstrap=0), "
        "['--direct_running_mode=in_memory', '--direct_num_workers=1'], force=True, progress=False);"
        "print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", code, str(parquet_docs.parent), os.path.join(tmp, "out"), mode], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parquet", default=str(DEFAULT_PARQUET) if DEFAULT_PARQUET.is_dir() else None, help="folder of document shards")
    ap.add_argument("--books", type=int, default=8)
    ap.add_argument("--repeat", "--repeats", dest="repeats", type=int, default=3)
    ap.add_argument("--memory-base-books", type=int, default=2)
    ap.add_argument("--beam", action="store_true", help="also time the real Beam stage on --parquet")
    ap.add_argument("--skip-reference", action="store_true", help="do not time the per-string reference extractor")
    ap.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.memory_base_books, args.parquet)

    docs = texts(args.books, args.parquet)
    mb = sum(len(t.encode()) for t in docs) / 1e6
    source = args.parquet or f"{args.books} Gutenberg books + CCNet"
    print(f"corpus: {len(docs)} docs, {mb:.1f} MB of text ({source})")
    from tailmine.concepts.extract import build_extractors

    ex = build_extractors(["ngram", "entity"])
    ex.extract_hashed(docs[:64])  # compile / load the kernels outside the timings
    rows = []
    # the per-string reference and the compiled extractor in turn (A B A B ...), best of --repeat each
    extract_runs = {"extract (compiled, ids)": lambda: [ex.extract_hashed(docs[i : i + 1024]) for i in range(0, len(docs), 1024)]}
    if not args.skip_reference:
        extract_runs = {"reference extract (per-string Python)": lambda: [ex.extract(t) for t in docs], **extract_runs}
    rows += [(name, (b["cpu"], b["wall"])) for name, b in alternate(extract_runs, args.repeats).items()]
    with tempfile.TemporaryDirectory() as work:
        for mode in ("exact", "sketch"):
            rows.append((f"whole stage ({mode}): extract+count+annotate", best(lambda: whole_stage(docs, mode, work), args.repeats)))
    print(f"{'step':46s} {'cpu s':>7s} {'MB/s/core':>10s} {'wall s':>7s} {'docs/s':>8s}")
    for name, (cpu, wall) in rows:
        print(f"{name:46s} {cpu:7.2f} {mb / cpu:10.2f} {wall:7.2f} {len(docs) / cpu:8.1f}")
    if args.beam and args.parquet:
        for mode in ("exact", "sketch"):
            t = beam_stage(Path(args.parquet), mode)
            print(f"{'Beam stage (' + mode + ', 1 worker, I/O, no fit) wall':46s} {'':7s} {mb / t:10.2f} {t:7.2f}")

    print("\nsketch-mode peak RSS as the corpus (and its vocabulary) grows:")
    for scale in (1, 4, 16):
        cmd = [sys.executable, __file__, "--memory-child", str(scale), "--memory-base-books", str(args.memory_base_books)]
        if args.parquet:
            cmd += ["--parquet", args.parquet]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        print("  " + out.stdout.strip().splitlines()[-1])

    print("\npower-law fit vs powerlaw 2.0 (1e5 discrete samples, alpha=2.1; ours without bootstrap, then 1000 reps):")
    import powerlaw

    from tailmine.concepts.fitting import fit_power_law

    x = np.random.default_rng(0).zipf(2.1, 100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = alternate({"ours": lambda: fit_power_law(x, bootstrap=0),
                          "powerlaw": lambda: powerlaw.Fit(x, discrete=True, verbose=False).power_law.alpha}, args.repeats)
    t_ours, t_pl = fits["ours"]["wall"], fits["powerlaw"]["wall"]
    t_boot = best(lambda: fit_power_law(x, bootstrap=1000), 1)[1]
    print(f"  ours fit {t_ours:.2f}s, powerlaw.Fit {t_pl:.2f}s (ratio {t_pl / t_ours:.1f}x); ours with 1000 bootstrap reps {t_boot:.1f}s")


if __name__ == "__main__":
    main()
