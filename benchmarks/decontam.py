"""Decontamination throughput: MB/s per core of matching real documents against 10,000 eval items.

    .venv/bin/python benchmarks/decontam.py [--items 10000] [--repeat 3]

Eval items: gsm8k, NQ-open, HumanEval and MMLU subjects (unpacked to a temp dir) from
../shared/corpora/eval, the first --items of them. Documents: extracted real web pages (trafilatura,
scrapinghub and readability test sets), CCNet records and Gutenberg chunks. Time is process CPU time
of ``EvalIndex.match`` over all documents (one core), best of --repeat; index build time is reported
apart. Also prints how many clean documents matched (false positives, expected ~0).
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import sys
import tarfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPORA = os.environ.get("TAILMINE_CORPORA", os.path.join(os.path.dirname(REPO), "shared", "corpora"))


def documents() -> list[str]:
    from tailmine.ingest.decode import decode_text
    from tailmine.ingest.extract import get_extractor

    extract = get_extractor("tailmine")
    docs = []
    for name in ("trafilatura-eval-pages", "scrapinghub-aeb-pages", "readability-test-pages"):
        with tarfile.open(os.path.join(CORPORA, "web", "html", f"{name}.tar.gz")) as tar:
            for m in sorted(tar.getmembers(), key=lambda m: m.name):
                if m.isfile() and m.name.endswith((".html", ".htm")):
                    text = extract(decode_text(tar.extractfile(m).read(), html=True)[0]).text
                    if text.strip():
                        docs.append(text)
    for path in sorted(glob.glob(os.path.join(CORPORA, "web", "ccnet", "*.jsonl.gz"))):
        docs += [json.loads(line)["text"] for line in gzip.open(path, "rt", encoding="utf-8")]
    for path in sorted(glob.glob(os.path.join(CORPORA, "books", "gutenberg", "*.txt.gz")))[:20]:
        text = gzip.open(path, "rt", encoding="utf-8-sig").read()
        docs += [text[i : i + 20000] for i in range(0, min(len(text), 200000), 20000)]
    return docs


def main() -> int:
    from tailmine.filters.decontam import DecontamConfig, EvalIndex, read_eval_items

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cfg = DecontamConfig()
    ev = os.path.join(CORPORA, "eval")
    files = [os.path.join(ev, f) for f in ("gsm8k-test.jsonl.gz", "nq-open-dev.jsonl.gz", "humaneval.jsonl.gz", "mmlu-test-57-subjects.tar.gz")]
    items = [it for path in files for it in read_eval_items(path, cfg)][: args.items]  # MMLU read from its archive
    t = time.process_time()
    index = EvalIndex(items, cfg)
    build = time.process_time() - t
    docs = documents()
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    best, found = float("inf"), 0
    for _ in range(args.repeat):
        t = time.process_time()
        found = sum(1 for d in docs if index.match(d))
        best = min(best, time.process_time() - t)
    print(f"decontamination: {len(items):,} eval items ({sum(index.skipped.values()):,} too short), index built in {build:.2f} s CPU")
    print(f"  {len(docs):,} real documents, {mb:.1f} MB: {mb / best:.2f} MB/s per core (best of {args.repeat}), "
          f"{found} matched ({100 * found / len(docs):.2f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
