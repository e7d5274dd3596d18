"""Scaling: time and peak memory of ingest -> dedup -> concepts against input size (x1, x2, x4, x8).

    python benchmarks/scaling.py --corpora /work/shared/corpora [--work DIR] [--scales 1,2,4,8] [--out FILE.json]

The base corpus is real text from ``--corpora``: the Gutenberg books cut into ~5 KB documents, the
CCNet documents, and the pages of the real WARC excerpts. Copy ``k`` of the corpus perturbs every
document deterministically (about 20% of words replaced, seeded by copy and document), so copies are
not near-duplicates of each other (5-gram Jaccard ~0.2) and dedup does not collapse the input: the
work really grows with the scale. Each stage runs in its own subprocess with one worker (per-core
figures); time excludes interpreter start. The slope of log(time) against log(size) is fitted per
stage: 1.0 is linear; the issue asks for <= 1.1. Peak RSS (VmHWM of the stage's process) should stay
flat in streaming stages (ingest) and grow at most with per-cluster / per-concept state elsewhere.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as python benchmarks/NAME.py or imported by tests
from timing import slope  # noqa: E402

ONE_WORKER = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]

STAGE_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    stage, src, out, extra = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    args = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    t = time.perf_counter()
    if stage == "ingest":
        from tailmine.pipelines import ingest
        m = ingest.run([src], out, None, args, force=True, progress=False)
    elif stage == "dedup":
        from tailmine.pipelines import dedup
        m = dedup.run(src, out, None, args, force=True, progress=False)
    else:
        from tailmine.concepts.config import ConceptConfig
        from tailmine.pipelines import concepts
        m = concepts.run(src, out, ConceptConfig(mode=extra.get("mode", "exact"), bootstrap=100), args, force=True, progress=False)
    seconds = time.perf_counter() - t
    rss = 0
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": rss, "input": m.counts.input, "output": m.counts.output}))
    """
)


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


def write_scale(docs: list[str], scale: int, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for copy in range(scale):
        path = folder / f"copy-{copy:03d}.jsonl.gz"
        if not path.exists():
            lines = (json.dumps({"id": f"c{copy}-d{i}", "text": perturb(t, copy, i)}) + "\n" for i, t in enumerate(docs))
            path.write_bytes(gzip.compress("".join(lines).encode(), compresslevel=6, mtime=0))
        total += path.stat().st_size
    return total


def run_stage(stage: str, src: Path, out: Path, extra: dict) -> dict:
    result = subprocess.run([sys.executable, "-c", STAGE_SCRIPT, stage, str(src), str(out), json.dumps(extra)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{stage} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])




def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpora"))
    parser.add_argument("--work", default=None, help="folder for inputs and outputs (default: a temp dir)")
    parser.add_argument("--scales", default="1,2,4,8")
    parser.add_argument("--concepts-mode", default="sketch", choices=("exact", "sketch"))
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    corpora = Path(args.corpora)
    if not (corpora / "SOURCES.md").is_file():
        print(f"corpora not found at {corpora}: nothing to measure")
        return 0
    work = Path(args.work or tempfile.mkdtemp(prefix="tailmine-scaling-"))
    docs = base_documents(corpora)
    scales = [int(s) for s in args.scales.split(",")]
    rows = []
    for scale in scales:
        inputs = work / f"x{scale}" / "in"
        size = write_scale(docs, scale, inputs)
        out = work / f"x{scale}" / "out"
        row = {"scale": scale, "input_mb": size / 1e6, "documents": len(docs) * scale}
        src = inputs
        for stage in ("ingest", "dedup", "concepts"):
            measured = run_stage(stage, src, out / stage, {"mode": args.concepts_mode})
            row[stage] = measured
            src = out / stage
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {"rows": rows, "slopes": {}, "concepts_mode": args.concepts_mode}
    print("\n| scale | input MB | docs | " + " | ".join(f"{s} s | {s} MB/s | {s} peak RSS MB" for s in ("ingest", "dedup", "concepts")) + " |")
    print("|---|---|---|" + "---|---|---|" * 3)
    for r in rows:
        cells = []
        for s in ("ingest", "dedup", "concepts"):
            cells += [f"{r[s]['seconds']:.1f}", f"{r['input_mb'] / r[s]['seconds']:.2f}", f"{r[s]['peak_rss_mb']:.0f}"]
        print(f"| x{r['scale']} | {r['input_mb']:.1f} | {r['documents']:,} | " + " | ".join(cells) + " |")
    if len(rows) > 1:
        for s in ("ingest", "dedup", "concepts"):
            report["slopes"][s] = slope([r["input_mb"] for r in rows], [r[s]["seconds"] for r in rows])
        print("\nslope of log time vs log size: " + ", ".join(f"{k} {v:.2f}" for k, v in report["slopes"].items()))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
