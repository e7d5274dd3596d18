"""Scaling: wall, CPU seconds and peak memory of the stages against input size, each stage in its own
process with one DirectRunner worker.

    python benchmarks/scaling.py --synthetic 100000,400000,1600000 [--work DIR] [--out FILE.json]
    python benchmarks/scaling.py --corpora /work/shared/corpora [--work DIR] [--scales 1,2,4,8] [--out FILE.json]

``--synthetic N,...`` (issue 20): N short documents (~330 bytes: 38-56 words from a Zipf(1.1)
vocabulary of 300k pseudo-words, 5% near-duplicates of an earlier document: half exact copies, half
with one word replaced) written as gzip JSONL, then every stage through the ``tailmine`` command:
ingest -> filter -> dedup -> decontaminate -> concepts (sketch, and exact from the same input) ->
mix (on the sketch output). The filter runs with the rules that pseudo-words fail by construction
switched off (``SYNTHETIC_FILTER``: no English stop words, no punctuation, under 50 words); every
other rule, language ID and PII run. Decontamination checks 200 evaluation items, half of them
windows of the documents. The mix uses one 32k BPE trained beforehand on 50k other synthetic
documents (its training, capped at 200 MB of text, is a fixed cost left out), a budget of 30% of the
estimated tokens.

``--scales`` (real text): the Gutenberg books cut into ~5 KB documents, the CCNet documents, copy
``k`` perturbed deterministically (about 20% of words replaced, seeded by copy and document), so
copies are not near-duplicates of each other and dedup does not collapse the input; ingest -> dedup
-> concepts.

Each stage is measured by :func:`timing.run_measured`: wall seconds, CPU seconds (user + system of
the stage's process tree, interpreter start and imports included), peak RSS of the largest process
and of the process tree. On a shared machine wall time is noise; CPU seconds are the fairer figure.
The slope of log(time) on log(documents) is fitted per stage: 1.0 is linear; the issue asks <= 1.1.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as python benchmarks/NAME.py or imported by tests
from timing import run_measured, slope  # noqa: E402

ONE_WORKER = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]

# --- synthetic short documents (also used by dedup_scaling.py) -------------------------------------

VOCAB = 300_000
ZIPF_S = 1.1
DUP_FRACTION = 0.05


def vocabulary(seed: int = 0) -> np.ndarray:
    """``VOCAB`` distinct pseudo-words of 2-10 letters (word ``i`` is the ``i``-th most frequent)."""
    rng = np.random.default_rng(seed)
    words: dict[str, None] = {}
    while len(words) < VOCAB:
        lengths = rng.integers(2, 11, VOCAB)
        letters = rng.integers(0, 26, (VOCAB, 10)) + 97
        for n, row in zip(lengths.tolist(), letters):
            words.setdefault(bytes(row[:n].astype(np.uint8)).decode(), None)
    return np.array(list(words)[:VOCAB], dtype=object)


def synthetic_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` texts of ~330 bytes; ``DUP_FRACTION`` of them near-duplicates of an earlier text."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary(seed)
    cdf = np.cumsum(1.0 / np.arange(1, VOCAB + 1) ** ZIPF_S)
    cdf /= cdf[-1]
    lengths = rng.integers(38, 57, n)
    ranks = np.minimum(np.searchsorted(cdf, rng.random(int(lengths.sum()))), VOCAB - 1)
    words = vocab[ranks]
    ends = np.cumsum(lengths)
    texts = [" ".join(words[e - k : e]) for e, k in zip(ends.tolist(), lengths.tolist())]
    dups = np.flatnonzero(rng.random(n) < DUP_FRACTION)
    dups = dups[dups > 0]
    for i in dups.tolist():
        original = texts[int(rng.integers(0, i))].split(" ")
        if i % 2:  # one word replaced
            original[int(rng.integers(0, len(original)))] = vocab[int(rng.integers(0, VOCAB))]
        texts[i] = " ".join(original)
    return texts


def write_jsonl(texts: list[str], folder: Path, per_file: int = 100_000, prefix: str = "d") -> int:
    """``texts`` as gzip JSONL files of ``per_file`` records under ``folder``; returns the UTF-8 bytes of
    the texts. Files already there are kept (a rerun reuses its input)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f, start in enumerate(range(0, len(texts), per_file)):
        path = folder / f"part-{f:05d}.jsonl.gz"
        if not path.exists():
            lines = "".join(json.dumps({"id": f"{prefix}{start + i}", "text": t}) + "\n" for i, t in enumerate(texts[start : start + per_file]))
            path.write_bytes(gzip.compress(lines.encode(), compresslevel=1, mtime=0))
    return sum(len(t.encode()) for t in texts)


#: rules synthetic pseudo-words fail by construction (no English stop words, no punctuation or sentences, 38-56 words)
SYNTHETIC_FILTER = {"thresholds": {"gopher_short_doc": None, "gopher_too_few_stop_words": None, "fineweb_line_punct_ratio": None,
                                 "c4_too_few_sentences": None}}


def eval_items(texts: list[str], n: int = 200, seed: int = 7) -> list[dict]:
    """Evaluation items for decontamination: half 20-word windows of ``texts`` (contaminated), half
    fresh synthetic texts (clean)."""
    rng = random.Random(seed)
    items = []
    for k in range(n // 2):
        words = texts[rng.randrange(len(texts))].split(" ")
        start = rng.randrange(max(1, len(words) - 20))
        items.append({"id": f"hit{k}", "question": " ".join(words[start : start + 20])})
    for k, t in enumerate(synthetic_texts(n - n // 2, seed=seed)):
        items.append({"id": f"clean{k}", "question": t})
    return items


def bpe_tokenizer(path: Path, documents: int = 50_000) -> str:
    """A 32k byte-level BPE trained on synthetic documents of another seed (once per work folder)."""
    if not path.exists():
        from tailmine.mixtures.tokenize import DEFAULT_EOS, save_tokenizer, train_bpe

        save_tokenizer(train_bpe(synthetic_texts(documents, seed=1), 32000, special_tokens=(DEFAULT_EOS,)), str(path))
    return str(path)


# --- the stage chain --------------------------------------------------------------------------------


def tailmine_stage(args: list[str]) -> dict:
    """One ``tailmine`` command with one DirectRunner worker, measured; adds the counts of its manifest."""
    out = Path(args[args.index("--out") + 1])
    measured = run_measured([sys.executable, "-m", "tailmine.cli", *args, "--force", "--no-progress", "--", *ONE_WORKER])
    measured.pop("stdout")
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    return {**measured, "input": counts["input"], "output": counts["output"]}


#: each stage's input: the stage before it in the chain, or with ``--fan-out`` the ingest output
CHAIN = {"filter": "ingest", "dedup": "filter", "decontaminate": "dedup", "concepts_sketch": "decontaminate",
         "concepts_exact": "decontaminate", "mix": "concepts_sketch"}
FAN_OUT = {"filter": "ingest", "dedup": "ingest", "decontaminate": "ingest", "concepts_sketch": "ingest",
           "concepts_exact": "ingest", "mix": "concepts_sketch"}


def synthetic_chain(work: Path, n: int, tokenizer: str, stages: tuple[str, ...], fan_out: bool = False, jobs: int = 1,
                    on_stage=lambda row: None) -> dict:
    """Generate ``n`` documents (kept between runs) and run every stage on them; one row.

    ``fan_out``: the stages after ingest read the ingest output (mix: the sketch concepts) instead of
    the stage before them, so up to ``jobs`` of them run at once (each still one process, one worker,
    measured alone) — for a size that would not fit in the time otherwise."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    inputs = work / f"n{n}" / "in"
    texts = synthetic_texts(n)
    text_bytes = write_jsonl(texts, inputs)
    (work / "filter.json").write_text(json.dumps(SYNTHETIC_FILTER))
    eval_file = work / f"n{n}" / "eval.jsonl"
    eval_file.write_text("".join(json.dumps(i) + "\n" for i in eval_items(texts)))
    del texts
    out = work / f"n{n}" / "out"
    source = FAN_OUT if fan_out else CHAIN
    tail = {"filter": ["--config", str(work / "filter.json")], "decontaminate": ["--eval", str(eval_file)],
            "concepts_sketch": ["--mode", "sketch"], "concepts_exact": ["--mode", "exact"],
            "mix": ["--tokenizer", tokenizer, "--tokens", str(int(0.3 * text_bytes / 4))]}
    commands = {"ingest": ["ingest", str(inputs), "--out", str(out / "ingest")]}
    for stage, before in source.items():
        commands[stage] = [stage.split("_")[0], "--in", str(out / before), "--out", str(out / stage), *tail.get(stage, [])]
    row = {"documents": n, "text_mb": text_bytes / 1e6, "fan_out": fan_out}
    pending, running = list(stages), {}
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        while pending or running:
            ready = [s for s in pending if s == "ingest" or source[s] in row or source[s] not in stages]
            for stage in ready[: max(1, jobs) - len(running)]:
                pending.remove(stage)
                running[pool.submit(tailmine_stage, commands[stage])] = stage
            if not running:
                raise RuntimeError(f"stages {pending} wait for stages not run")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                stage = running.pop(future)
                row[stage] = future.result()
                print(f"  {n:,} {stage}: " + json.dumps(row[stage]), flush=True)
                on_stage(row)
    return row


def base_documents(corpora: Path, chunk_chars: int = 5000) -> list[str]:
    docs: list[str] = []
    for path in sorted((corpora / "books" / "gutenberg").glob("*.txt.gz"))[:40]:
        text = gzip.decompress(path.read_bytes()).decode("utf-8-sig", "replace")
        paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
        chunk: list[str] = []
        size = 0
        for p in paragraphs:
            chunk.append(" ".join(p.split()))
            size += len(p)
            if size >= chunk_chars:
                docs.append("\n\n".join(chunk))
                chunk, size = [], 0
    for path in sorted((corpora / "web" / "ccnet").glob("*.jsonl.gz")):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            docs.append(json.loads(line)["text"])
    return docs


def perturb(text: str, copy: int, index: int, rate: float = 0.2) -> str:
    if copy == 0:
        return text
    seed = int.from_bytes(hashlib.blake2b(f"{copy}:{index}".encode(), digest_size=8).digest(), "little")
    rng = random.Random(seed)
    words = text.split(" ")
    for i in range(len(words)):
        if rng.random() < rate:
            words[i] = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
    return " ".join(words)


def real_chain(work: Path, docs: list[str], scale: int, concepts_mode: str) -> dict:
    """``scale`` perturbed copies of the real documents through ingest -> dedup -> concepts; one row."""
    texts = [perturb(t, copy, i) for copy in range(scale) for i, t in enumerate(docs)]
    inputs = work / f"x{scale}" / "in"
    text_bytes = write_jsonl(texts, inputs, per_file=len(docs), prefix="c")
    out = work / f"x{scale}" / "out"
    row = {"scale": scale, "documents": len(texts), "text_mb": text_bytes / 1e6}
    row["ingest"] = tailmine_stage(["ingest", str(inputs), "--out", str(out / "ingest")])
    row["dedup"] = tailmine_stage(["dedup", "--in", str(out / "ingest"), "--out", str(out / "dedup")])
    row["concepts"] = tailmine_stage(["concepts", "--in", str(out / "dedup"), "--out", str(out / "concepts"), "--mode", concepts_mode])
    return row


SYNTHETIC_STAGES = ("ingest", "filter", "dedup", "decontaminate", "concepts_sketch", "concepts_exact", "mix")


def summarize(rows: list[dict], stages: tuple[str, ...]) -> dict:
    """Print one table row per (size, stage), then per stage the slopes of log time on log documents
    (the stage's own input), the peak RSS ratio last/first and the marginal per-core rate between the
    last two sizes (the figures ``STAGE_RATES`` in tailmine/pipelines/estimate.py take). A stage
    missing at a size (not run, or stopped) is left out there."""
    print("\n| documents | stage | docs in | text MB in | wall s | CPU s | docs/CPU-s | MB/CPU-s | peak RSS MB (process) | peak RSS MB (tree) |")
    print("|---|---|---|---|---|---|---|---|---|---|")

    def text_mb(r: dict, s: str) -> float:  # documents are alike: the stage's text is its share of the documents
        return r["text_mb"] * r[s]["input"] / r["documents"]

    for r in rows:
        for s in (s for s in stages if s in r):
            m = r[s]
            print(f"| {r['documents']:,} | {s} | {m['input']:,} | {text_mb(r, s):.1f} | {m['wall_s']:.1f} | {m['cpu_s']:.1f} | "
                  f"{m['input'] / m['cpu_s']:,.0f} | {text_mb(r, s) / m['cpu_s']:.2f} | {m['peak_rss_mb']:.0f} | {m['tree_peak_rss_mb']:.0f} |")
    summary: dict = {}
    for s in stages:
        have = [r for r in rows if s in r]
        if len(have) < 2:
            continue
        docs_in = [r[s]["input"] for r in have]
        a, b = have[-2], have[-1]
        extra_cpu = b[s]["cpu_s"] - a[s]["cpu_s"]
        summary[s] = {"from": have[0]["documents"], "to": have[-1]["documents"],
                      "wall_slope": slope(docs_in, [r[s]["wall_s"] for r in have]), "cpu_slope": slope(docs_in, [r[s]["cpu_s"] for r in have]),
                      "peak_ratio": b[s]["peak_rss_mb"] / have[0][s]["peak_rss_mb"],
                      "tree_peak_ratio": b[s]["tree_peak_rss_mb"] / have[0][s]["tree_peak_rss_mb"],
                      "marginal_docs_per_cpu_s": (b[s]["input"] - a[s]["input"]) / extra_cpu if extra_cpu > 0 else float("nan"),
                      "marginal_mb_per_cpu_s": (text_mb(b, s) - text_mb(a, s)) / extra_cpu if extra_cpu > 0 else float("nan")}
    if summary:
        print("\n| stage | sizes | slope wall | slope CPU | peak RSS last/first (process) | (tree) | marginal docs/CPU-s | marginal MB/CPU-s |")
        print("|---|---|---|---|---|---|---|---|")
        for s, v in summary.items():
            print(f"| {s} | {v['from']:,}→{v['to']:,} | {v['wall_slope']:.2f} | {v['cpu_slope']:.2f} | {v['peak_ratio']:.2f}× | "
                  f"{v['tree_peak_ratio']:.2f}× | {v['marginal_docs_per_cpu_s']:,.0f} | {v['marginal_mb_per_cpu_s']:.2f} |")
    return summary


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", default=None, metavar="N,N,...", help="synthetic short documents at these sizes (every stage)")
    parser.add_argument("--stages", default=",".join(SYNTHETIC_STAGES), help="with --synthetic: which stages (in order; each reads the one before it)")
    parser.add_argument("--fan-out", action="store_true", help="with --synthetic: stages after ingest read the ingest output, --jobs at once")
    parser.add_argument("--jobs", type=int, default=1, help="with --fan-out: stages run at once")
    parser.add_argument("--corpora", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpora"))
    parser.add_argument("--scales", default="1,2,4,8", help="real text: copies of the base corpus")
    parser.add_argument("--concepts-mode", default="sketch", choices=("exact", "sketch"), help="real text: the concepts mode")
    parser.add_argument("--work", default=None, help="folder for inputs and outputs (default: a temp dir)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--report", nargs="+", default=None, metavar="FILE.json",
                        help="measure nothing: the tables and slopes of earlier --out files (rows sorted by size)")
    args = parser.parse_args(argv)
    if args.report:
        rows = sorted((r for f in args.report for r in json.loads(Path(f).read_text())["rows"]), key=lambda r: r["documents"])
        stages = tuple(s for s in SYNTHETIC_STAGES + ("concepts",) if any(s in r for r in rows))
        summarize(rows, stages)
        return 0
    work = Path(args.work or tempfile.mkdtemp(prefix="tailmine-scaling-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    if args.synthetic:
        stages = tuple(args.stages.split(","))
        unknown = set(stages) - set(SYNTHETIC_STAGES)
        if unknown:
            parser.error(f"--stages: unknown {sorted(unknown)}; known: {', '.join(SYNTHETIC_STAGES)}")
        tokenizer = bpe_tokenizer(work / "tokenizer.json") if "mix" in stages else ""
        def save(row: dict) -> None:  # after every stage: a long run keeps what it measured (--report reads it)
            if args.out:
                Path(args.out).write_text(json.dumps({"rows": rows + [row] if row not in rows else rows}, indent=1))

        for n in (int(x) for x in args.synthetic.split(",")):
            rows.append(synthetic_chain(work, n, tokenizer, stages, args.fan_out, args.jobs, save))
    else:
        corpora = Path(args.corpora)
        if not (corpora / "SOURCES.md").is_file():
            print(f"corpora not found at {corpora}: nothing to measure")
            return 0
        stages = ("ingest", "dedup", "concepts")
        docs = base_documents(corpora)
        for scale in (int(s) for s in args.scales.split(",")):
            rows.append(real_chain(work, docs, scale, args.concepts_mode))
    report = {"rows": rows, "summary": summarize(rows, stages)}
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
