"""Concepts benchmark: extraction + counting MB/s per core (exact and sketch), sketch-mode peak memory
as the corpus grows x1, x4, x16, and the power-law fit against the ``powerlaw`` package.

    .venv/bin/python benchmarks/concepts.py [--books N] [--repeats 3]

Single process, best of ``repeats``. Memory is measured in a fresh subprocess per size (peak RSS).
"""
from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

CORPORA = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"


def texts(n_books: int) -> list[str]:
    books = sorted((CORPORA / "books" / "gutenberg").glob("*.txt.gz"))[:n_books]
    out = [gzip.open(p, "rt", encoding="utf-8", errors="replace").read() for p in books]
    for p in sorted((CORPORA / "web" / "ccnet").glob("*.jsonl.gz")):
        out += [json.loads(line)["text"] for line in gzip.open(p, "rt")]
    return out


def count(docs, mode: str):
    from tailmine.concepts.config import ConceptConfig
    from tailmine.concepts.extract import build_extractors
    from tailmine.concepts.sketches import new_counts
    from tailmine.pipelines.concepts import sketch_config

    cfg = ConceptConfig(mode=mode)
    ex = build_extractors(cfg.extractors, cfg.max_n)
    counts = new_counts(mode, sketch_config(cfg))
    for i in range(0, len(docs), 16):
        counts.add_batch([ex.extract(t) for t in docs[i : i + 16]])
    return counts


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def memory_child(scale: int, base_books: int) -> None:
    """Sketch-mode counting streamed over ``scale`` copies of the base corpus (each copy's concepts
    renamed, so the vocabulary grows with the corpus); prints peak RSS in MB."""
    from tailmine.concepts.config import ConceptConfig
    from tailmine.concepts.extract import build_extractors
    from tailmine.concepts.sketches import new_counts
    from tailmine.pipelines.concepts import sketch_config

    docs = texts(base_books)
    cfg = ConceptConfig(mode="sketch")
    ex = build_extractors(cfg.extractors, cfg.max_n)
    counts = new_counts("sketch", sketch_config(cfg))
    for copy in range(scale):
        for t in docs:
            counts.add_batch([{f"{c}#{copy}" for c in ex.extract(t)}])
    print(json.dumps({"scale": scale, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "hll": counts.hll.estimate()}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--books", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory-base-books", type=int, default=2)
    ap.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.memory_base_books)

    docs = texts(args.books)
    mb = sum(len(t.encode()) for t in docs) / 1e6
    print(f"corpus: {len(docs)} docs, {mb:.1f} MB ({args.books} Gutenberg books + CCNet)")
    from collections import Counter
    from tailmine.concepts.extract import build_extractors

    ex = build_extractors(["ngram", "entity"])
    t_extract = best(lambda: [ex.extract(t) for t in docs], args.repeats)
    # reference: the simplest document-frequency count there is (regex words -> set -> Counter)
    import re

    word = re.compile(r"\w+")
    t_ref = best(lambda: Counter(w for t in docs for w in set(word.findall(t.lower()))), args.repeats)
    rows = [("extract (ngram 1-3 + entity)", t_extract)]
    for mode in ("exact", "sketch"):
        rows.append((f"extract + count ({mode})", best(lambda: count(docs, mode), args.repeats)))
    rows.append(("reference: regex unigram set + Counter", t_ref))
    print(f"{'step':40s} {'s':>7s} {'MB/s':>7s} {'docs/s':>8s}")
    for name, t in rows:
        print(f"{name:40s} {t:7.2f} {mb / t:7.2f} {len(docs) / t:8.1f}")
    print(f"ratio extract+count(exact) / reference: {rows[1][1] / t_ref:.1f}x slower")

    print("\nsketch-mode peak RSS as the corpus (and its vocabulary) grows:")
    for scale in (1, 4, 16):
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(scale), "--memory-base-books", str(args.memory_base_books)],
            capture_output=True, text=True, check=True,
        )
        print("  " + out.stdout.strip().splitlines()[-1])

    print("\npower-law fit vs powerlaw 2.0 (1e5 discrete samples, alpha=2.1; ours without bootstrap, then 1000 reps):")
    import powerlaw

    from tailmine.concepts.fitting import fit_power_law

    x = np.random.default_rng(0).zipf(2.1, 100_000)
    t_ours = best(lambda: fit_power_law(x, bootstrap=0), args.repeats)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_pl = best(lambda: powerlaw.Fit(x, discrete=True, verbose=False).power_law.alpha, args.repeats)
    t_boot = best(lambda: fit_power_law(x, bootstrap=1000), 1)
    print(f"  ours fit {t_ours:.2f}s, powerlaw.Fit {t_pl:.2f}s (ratio {t_pl / t_ours:.1f}x); ours with 1000 bootstrap reps {t_boot:.1f}s")


if __name__ == "__main__":
    main()
