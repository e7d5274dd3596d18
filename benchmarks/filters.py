"""Benchmark the filter stage per core: Gopher quality + repetition beside datatrove's filters (same
documents, same run, agreement of the keep/drop decisions), then the whole filter stage end to end
(language ID, every signal, rules, PII redaction) with one in-process Beam worker, and its peak RSS.

    python benchmarks/filters.py --corpora /work/shared/corpora [--repeat 3] [--docs 1200]
        [--dt-python /tmp/dt-venv/bin/python] [--out results.json]

Corpus: the main text of the real web pages in ``web/html`` (trafilatura eval pages, Scrapinghub AEB,
Mozilla Readability), extracted with tailmine's extractor, in sorted file order; documents under 200
characters are left out (they are not what a quality filter is tuned on). Figures are MB of UTF-8 text
per CPU-second of one process (``time.process_time``), best of ``--repeat``. datatrove (0.10.x with
spaCy) runs in its own virtualenv in a child process on the same JSONL: it is timed there the same way,
each filter on its own (each tokenizes with spaCy, as in a datatrove pipeline). tailmine's Gopher
figure covers one tokenization and both filters' signals and decisions. The decontamination benchmark is
``benchmarks/decontam.py``.
"""
from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from timing import best_of  # noqa: E402
SINGLE = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
TARBALLS = ("trafilatura-eval-pages.tar.gz", "scrapinghub-aeb-pages.tar.gz", "readability-test-pages.tar.gz")

DATATROVE = r"""
import json, sys, time
from datatrove.data import Document
from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
docs = [json.loads(line) for line in open(sys.argv[1])]
repeat = int(sys.argv[3])
out = {"decisions": {}, "seconds": {}}
for name, flt in (("repetition", GopherRepetitionFilter()), ("quality", GopherQualityFilter())):
    best = None
    for _ in range(repeat):
        t = time.process_time()
        decisions = []
        for d in docs:
            r = flt.filter(Document(text=d["text"], id=d["id"]))
            decisions.append(None if r is True else (r[1] if isinstance(r, tuple) else "dropped"))
        el = time.process_time() - t
        best = el if best is None else min(best, el)
    out["decisions"][name] = decisions
    out["seconds"][name] = best
json.dump(out, open(sys.argv[2], "w"))
"""

STAGE = r"""
import json, resource, sys, time
from tailmine.pipelines import filters
t0, c0 = time.perf_counter(), time.process_time()
m = filters.run(sys.argv[1], sys.argv[2], None, {single!r}, force=True, progress=False)
print(json.dumps({{"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                   "output": m.counts.output, "dropped": m.counts.dropped,
                   "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}}))
"""


def corpus(corpora: Path, n_docs: int) -> list[dict]:
    from tailmine.ingest.decode import decode_text
    from tailmine.ingest.extract import get_extractor

    extract = get_extractor("tailmine")
    docs = []
    for name in TARBALLS:
        with tarfile.open(corpora / "web" / "html" / name) as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                if not member.isfile() or not member.name.endswith(".html") or member.name.endswith("expected.html"):
                    continue
                text = extract(decode_text(tar.extractfile(member).read(), html=True)[0]).text
                if len(text) >= 200:
                    docs.append({"id": f"{name.split('-')[0]}/{member.name}", "text": text})
    return docs[:n_docs] if n_docs else docs


def gopher_tailmine(texts: list[str]) -> tuple[list, list]:
    """Both Gopher filters' decisions (first failed rule or None) from one tokenization per document."""
    from tailmine.filters.quality import gopher_quality_signals, gopher_repetition_signals, word_stats
    from tailmine.filters.rules import RULES

    rep = [r for r in RULES if r.name.startswith(("gopher_dup", "gopher_top"))]
    qual = [r for r in RULES if r.name.startswith("gopher_") and r not in rep]
    rep_dec, qual_dec = [], []
    for text in texts:
        stats = word_stats(text, "en")
        s = gopher_repetition_signals(text, stats)
        rep_dec.append(next((r.name for r in rep if r.fails(s[r.signal[:-3]], r.default)), None))
        s = gopher_quality_signals(text, stats, "en")
        qual_dec.append(next((r.name for r in qual if r.fails(s[r.signal[:-3]], r.default)), None))
    return rep_dec, qual_dec


def agreement(ours: list, theirs: list) -> dict:
    same = sum((a is None) == (b is None) for a, b in zip(ours, theirs))
    disagreements = collections.Counter(f"datatrove={b} tailmine={a}" for a, b in zip(ours, theirs) if (a is None) != (b is None))
    return {
        "docs": len(ours),
        "same_decision": round(same / len(ours), 4),
        "dropped_tailmine": sum(a is not None for a in ours),
        "dropped_datatrove": sum(b is not None for b in theirs),
        "disagreements": dict(disagreements.most_common(8)),
    }


def bench_gopher(docs: list[dict], repeat: int, dt_python: str, work: Path) -> dict:
    from tailmine.filters.quality import quality_signals

    texts = [d["text"] for d in docs]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    path = work / "docs.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    quality_signals("Warm up the compiled kernels.")
    results: dict = {"MB": round(mb, 2), "docs": len(docs)}
    t = best_of(lambda: gopher_tailmine(texts), repeat, time.process_time)[0]
    results["tailmine_gopher_both_MBps"] = round(mb / t, 2)
    t = best_of(lambda: [quality_signals(x) for x in texts], repeat, time.process_time)[0]
    results["tailmine_all_signals_MBps"] = round(mb / t, 2)
    rep_dec, qual_dec = gopher_tailmine(texts)
    if not Path(dt_python).exists():
        results["datatrove"] = f"not run: {dt_python} not found"
        return results
    proc = subprocess.run([dt_python, "-c", DATATROVE, str(path), str(work / "dt.json"), str(repeat)], capture_output=True, text=True)
    if proc.returncode:
        results["datatrove"] = "failed: " + proc.stderr[-1500:]
        return results
    dt = json.loads((work / "dt.json").read_text())
    for name, ours in (("repetition", rep_dec), ("quality", qual_dec)):
        results[f"datatrove_{name}_MBps"] = round(mb / dt["seconds"][name], 3)
        results[f"agreement_{name}"] = agreement(ours, dt["decisions"][name])
    both = dt["seconds"]["repetition"] + dt["seconds"]["quality"]
    results["datatrove_both_MBps"] = round(mb / both, 3)
    results["speedup_vs_datatrove_both"] = round(results["tailmine_gopher_both_MBps"] / results["datatrove_both_MBps"], 1)
    results["speedup_vs_datatrove_slower_filter"] = round(
        results["tailmine_gopher_both_MBps"] / min(results["datatrove_repetition_MBps"], results["datatrove_quality_MBps"]), 1)
    return results


def bench_stage(docs: list[dict], work: Path, copies: int) -> dict:
    from tailmine.ingest.config import IngestConfig
    from tailmine.pipelines import ingest

    src = work / "stage.jsonl"
    with open(src, "w") as f:
        for c in range(copies):
            for d in docs:
                f.write(json.dumps({"id": f"c{c}/{d['id']}", "text": d["text"]}) + "\n")
    ingest.run([str(src)], str(work / "ingest"), IngestConfig(), SINGLE, force=True, progress=False)
    mb = copies * sum(len(d["text"].encode()) for d in docs) / 1e6
    proc = subprocess.run([sys.executable, "-c", STAGE.format(single=SINGLE), str(work / "ingest"), str(work / "filter")],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        return {"failed": proc.stderr[-2000:]}
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["MB"] = round(mb, 2)
    row["MBps_per_core_wall"] = round(mb / row["seconds"], 2)
    row["MBps_per_cpu_second"] = round(mb / row["cpu_seconds"], 2)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    ap.add_argument("--docs", type=int, default=0, help="use the first N documents (0: all)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--copies", type=int, default=2, help="the end-to-end run reads the corpus this many times")
    ap.add_argument("--dt-python", default="/tmp/dt-venv/bin/python", help="python of a virtualenv with datatrove + spaCy")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="tailmine-filter-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    docs = corpus(args.corpora, args.docs)
    results = {"gopher": bench_gopher(docs, args.repeat, args.dt_python, work)}
    print(json.dumps(results["gopher"], indent=1), flush=True)
    results["stage"] = bench_stage(docs, work, args.copies)
    print(json.dumps(results["stage"], indent=1), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
