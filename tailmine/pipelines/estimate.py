"""``tailmine run CONFIG --estimate``: what the config would cost, before any work: CPU-hours, memory per
worker and shuffle volume of every configured stage, and the wall time on a given number of vCPUs.

Nothing is read but the listing of the inputs (their bytes). Documents and text follow from the bytes
by a per-format ratio (``FORMAT_RATES``); each stage's CPU time from the per-core rates measured by
``benchmarks/scaling.py --synthetic`` (``STAGE_RATES``; dedup uses its own planner,
:mod:`tailmine.dedup.planner`, which splits its time by step). These two tables are the one place the
rates live: docs/scale.md quotes them and a test checks that it does so verbatim.

The figures are a model, not a promise:

- every stage is assumed to see every ingested document (filtering and dedup usually remove some: an
  upper bound);
- rates were measured on short documents (~348 bytes). A stage's per-document costs do not grow with
  the text, its per-byte costs do; for longer documents the time lies between the per-document
  extrapolation (``low``) and the per-byte one (``high``). Where documents are ~348 bytes the two agree;
- wall time assumes every vCPU runs one worker and the work spreads evenly (a stage cannot use more
  workers than it has units of work: one per input shard for most stages).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Optional

MB = 1e6
GB = 1e9
TB = 1e12


@dataclass(frozen=True)
class FormatRate:
    """Ingest of one input format on one core, and what its files hold."""

    file_mb_per_cpu_s: float
    """MB of input file bytes (as stored, compressed) one core ingests per CPU-second."""
    file_bytes_per_doc: float
    """File bytes per document: documents are estimated as file bytes / this."""
    text_bytes_per_doc: float
    """UTF-8 bytes of extracted text per document."""
    worker_mb: float
    """Peak RSS of one ingest worker."""
    measured: str


@dataclass(frozen=True)
class StageRate:
    """One stage on one core, measured on the synthetic short documents: the rates are marginal ((CPU at
    the largest size - CPU at the size before) / the extra documents), so a run's fixed start-up
    (imports, Beam, a few seconds per worker) is left out."""

    docs_per_cpu_s: float
    text_mb_per_cpu_s: float
    worker_mb: float
    """Peak RSS of the stage's one-worker process at the largest size measured."""
    shuffle_bytes_per_doc: float
    """Bytes exchanged between workers per input document (0: the stage maps shards to shards)."""
    shuffle_bytes_per_shard: float
    """Bytes exchanged per input shard whatever its size (a sketch)."""
    shuffle: str
    """What crosses between workers."""


FORMAT_RATES: dict[str, FormatRate] = {
    "warc": FormatRate(16.6, 33_000, 3_500, 225, "WARC ingest 16.6 MB/s of file bytes (BENCHMARKS.md Ingest, warc-pages-x4: 163 MB, "
                       "tailmine extractor; ~565 documents per second, as on the real CC excerpts); 33 KB of file per document as in a "
                       "Common Crawl snapshot (100 TB, 3 billion documents); 3.5 KB of text per document "
                       "(39 pages of the CC and Dolma WARC excerpts in the shared corpora)"),
    "wet": FormatRate(31.6, 2_890, 5_900, 383, "BENCHMARKS.md Ingest, wet (book chunks: 46.3 MB, 16,014 records)"),
    "jsonl": FormatRate(30.6, 2_100, 5_730, 378, "BENCHMARKS.md Ingest, jsonl (33.6 MB gzip, 16,014 records)"),
    "parquet": FormatRate(30.6, 2_100, 5_730, 378, "not measured: taken as jsonl"),
    "html": FormatRate(84.7, 145_000, 3_500, 225, "BENCHMARKS.md Ingest, warc-pages-x4 in decompressed MB/s (the pages as HTML files: 195 MB, 1,344 pages)"),
    "gutenberg": FormatRate(15.8, 257_000, 690_000, 230, "BENCHMARKS.md Ingest, books (128 Gutenberg .txt.gz, 32.9 MB)"),
    "text": FormatRate(15.8, 257_000, 690_000, 230, "taken as books"),
}
"""Per input format (``detect_format``'s names; ``.wet`` files apart from WARC). ``arc`` uses ``warc``."""

STAGE_RATES: dict[str, StageRate] = {
    "filter": StageRate(10_768, 3.75, 599, 0, 0, "nothing (documents map to documents)"),
    "decontaminate": StageRate(17_105, 5.96, 292, 0, 0, "nothing (the evaluation index is a side input)"),
    "concepts_sketch": StageRate(13_065, 4.55, 974, 0, 10.9e6, "one sketch per shard (Count-Min, HLL, Misra-Gries, hash sample), merged"),
    "concepts_exact": StageRate(3_850, 1.34, 829, 1_780, 0, "each shard's counts split by concept-id bucket (files), each shard's dfs back"),
    "mix": StageRate(5_364, 1.87, 913, 200, 0, "token arrays (uint16) read by the output writers; plan summaries; concept dfs joined by key"),
}
"""Per stage after ingest (dedup apart), from BENCHMARKS.md "Scaling: every stage on synthetic short
documents": marginal rates from 100k to 6.4M documents (filter, decontaminate, concepts in sketch
mode, mix; one worker each, one stage at a time), memory at 6.4M; concepts in exact mode from
"Concepts at scale" (counts sharded by concept id: 400k -> 1.6M, two workers, bootstrap 0; largest
process). Shuffle: the sketch's size measured (pickled); exact counts from the distinct concepts of
one 100,000-document shard (5.56M, 16 bytes each), out to the buckets and back as the shard's dfs;
mix derived (2 bytes a token, ~100 tokens a document). ``classify`` is not measured here (its cost
is the model's)."""

NOT_MEASURED = ("classify",)


@dataclass
class StageEstimate:
    stage: str
    documents: int
    cpu_hours_low: float
    cpu_hours_high: float
    worker_mb: float
    shuffle_bytes: float
    parallelism: int
    """Units of work the stage can spread (one per input file or shard)."""
    note: str = ""

    def wall_hours(self, vcpus: int) -> float:
        return self.cpu_hours_high / max(1, min(vcpus, self.parallelism))


@dataclass
class InputEstimate:
    files: int
    file_bytes: float
    documents: float
    text_bytes: float
    by_format: dict
    """format -> (files, bytes)."""


def input_format(path: str, forced: str = "auto") -> str:
    """The format a file would be read as, from its name only (no bytes read)."""
    from tailmine.ingest.formats import _name, detect_format

    if forced != "auto":
        fmt = forced
    elif _name(path).endswith(".wet"):
        fmt = "wet"
    else:
        fmt = detect_format(path, b"")
    fmt = {"arc": "warc", "unknown": "text"}.get(fmt, fmt)
    return fmt if fmt in FORMAT_RATES else "text"


def estimate_input(files: Iterable[tuple[str, float]], forced: str = "auto") -> InputEstimate:
    """Documents and text bytes from (path, bytes) pairs by the per-format ratios."""
    by_format: dict[str, list] = {}
    for path, size in files:
        entry = by_format.setdefault(input_format(path, forced), [0, 0.0])
        entry[0] += 1
        entry[1] += size
    documents = sum(b / FORMAT_RATES[f].file_bytes_per_doc for f, (_, b) in by_format.items())
    text = sum(b / FORMAT_RATES[f].file_bytes_per_doc * FORMAT_RATES[f].text_bytes_per_doc for f, (_, b) in by_format.items())
    return InputEstimate(sum(n for n, _ in by_format.values()), sum(b for _, b in by_format.values()), documents, text,
                         {f: tuple(v) for f, v in by_format.items()})


def estimate_stages(inputs: InputEstimate, stages: list[tuple[str, Any]]) -> list[StageEstimate]:
    """One estimate per configured stage (``(name, config)`` in pipeline order)."""
    docs, text = inputs.documents, inputs.text_bytes
    shards = max(1, inputs.files)  # ingest writes at least one shard per unit; a unit is at most one (large) file
    out = []
    for name, cfg in stages:
        if name == "ingest":
            seconds = sum(b / MB / FORMAT_RATES[f].file_mb_per_cpu_s for f, (_, b) in inputs.by_format.items())
            memory = max(FORMAT_RATES[f].worker_mb for f in inputs.by_format) if inputs.by_format else 0
            out.append(StageEstimate(name, int(docs), seconds / 3600, seconds / 3600, memory, 0, shards))
        elif name == "dedup":
            out.append(_dedup(cfg, docs, text, shards))
        elif name in NOT_MEASURED:
            out.append(StageEstimate(name, int(docs), math.nan, math.nan, math.nan, 0, shards, "not measured"))
        else:
            key = f"concepts_{cfg.mode}" if name == "concepts" else name
            rate = STAGE_RATES[key]
            by_docs = docs / rate.docs_per_cpu_s / 3600
            by_bytes = text / MB / rate.text_mb_per_cpu_s / 3600
            note = "plus the fit's bootstrap: ~0.15 CPU-s a replicate (at 67M concepts)" if key == "concepts_exact" else ""
            shuffle = docs * rate.shuffle_bytes_per_doc + shards * rate.shuffle_bytes_per_shard
            out.append(StageEstimate(key, int(docs), min(by_docs, by_bytes), max(by_docs, by_bytes), rate.worker_mb, shuffle, shards, note))
    return out


DEDUP_BASE_MB = 390
"""Resident memory of a dedup worker before any work (Python, Beam, Arrow, numba): BENCHMARKS.md
"Dedup scaling" (393-431 MB measured against 45-91 MB of planned working state)."""


def _dedup(cfg, docs: float, text: float, shards: int) -> StageEstimate:
    from tailmine.dedup.planner import plan

    rows = int(docs / shards)
    p = plan(int(docs), int(text), [rows] * shards, cfg)
    steps = p.step_cpu_seconds
    exchange = steps.get("exchange files", 0.0)
    hours = p.cpu_seconds / 3600
    note = f"exchange files {exchange / p.cpu_seconds:.0%} of it (shards squared)" if exchange > 0.2 * p.cpu_seconds else ""
    return StageEstimate("dedup", int(docs), hours, hours, DEDUP_BASE_MB + p.peak_memory_bytes / MB, p.shuffle_bytes, shards, note)


def _hours(h: float) -> str:
    """Hours to three significant figures (whole hours from 100)."""
    if math.isnan(h):
        return "–"
    return f"{h:,.0f}" if h >= 100 else f"{h:.3g}"


def _size(n: float) -> str:
    """Bytes in the largest unit (MB, GB, TB) that keeps the figure at 1 or more."""
    for unit, scale in (("TB", TB), ("GB", GB)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n / MB:,.1f} MB"


def describe(inputs: InputEstimate, estimates: list[StageEstimate], vcpus: int) -> str:
    """The estimate as a Markdown table (the terminal shows it as is; docs/scale.md holds one)."""
    fmts = ", ".join(f"{f}: {n:,} files, {_size(b)}" for f, (n, b) in sorted(inputs.by_format.items()))
    lines = [
        f"input: {inputs.files:,} files, {_size(inputs.file_bytes)} ({fmts}); "
        f"~{inputs.documents:,.0f} documents, ~{_size(inputs.text_bytes)} of text (estimated from the bytes)",
        "",
        f"| stage | documents | vCPU-hours (low–high) | memory per worker MB | shuffle | wall hours at {vcpus:,} vCPUs | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in estimates:
        low, high = _hours(e.cpu_hours_low), _hours(e.cpu_hours_high)
        cpu = high if low == high else f"{low}–{high}"
        memory = "–" if math.isnan(e.worker_mb) else f"{e.worker_mb:,.0f}"
        wall = "–" if math.isnan(e.cpu_hours_high) else _hours(e.wall_hours(vcpus))
        shuffle = _size(e.shuffle_bytes) if e.shuffle_bytes else "–"
        lines.append(f"| {e.stage} | {e.documents:,} | {cpu} | {memory} | {shuffle} | {wall} | {e.note} |")
    known = [e for e in estimates if not math.isnan(e.cpu_hours_high)]
    total_low = sum(e.cpu_hours_low for e in known)
    total_high = sum(e.cpu_hours_high for e in known)
    wall = sum(e.wall_hours(vcpus) for e in known)
    top = sorted(known, key=lambda e: -e.cpu_hours_high)[:2]
    lines.append(f"| **total** | | {_hours(total_low)}–{_hours(total_high)} | | {_size(sum(e.shuffle_bytes for e in estimates))} | {_hours(wall)} | |")
    if top:
        lines.append("")
        lines.append("dominating: " + ", ".join(f"{e.stage} ({e.cpu_hours_high / total_high:.0%})" for e in top)
                     + " of the high figure; low–high: per-document vs per-byte extrapolation of rates measured on ~348-byte documents")
    return "\n".join(lines)


def estimate_config(config, vcpus: int = 1000) -> str:
    """``tailmine run CONFIG --estimate``: the listing of the config's inputs through the model."""
    from tailmine.fileio import expand_inputs

    forced = next((getattr(cfg, "format", "auto") for name, cfg in config.stages if name == "ingest"), "auto")
    inputs = estimate_input(((f.path, f.size) for f in expand_inputs(config.inputs)), forced)
    return describe(inputs, estimate_stages(inputs, list(config.stages)), vcpus)


COMMON_CRAWL_FILES = 90_000
COMMON_CRAWL_BYTES = 100 * TB


def common_crawl(vcpus: int = 1000, stages: Optional[list[tuple[str, Any]]] = None) -> str:
    """The worked example of docs/scale.md: one Common Crawl snapshot (~90,000 WARC files, ~100 TB
    compressed) through ingest, filter, dedup, decontaminate, concepts (sketch) and mix at defaults."""
    if stages is None:
        from tailmine.concepts.config import ConceptConfig
        from tailmine.dedup.config import DedupConfig

        stages = [("ingest", None), ("filter", None), ("dedup", DedupConfig()), ("decontaminate", None),
                  ("concepts", ConceptConfig(mode="sketch")), ("mix", None)]
    size = COMMON_CRAWL_BYTES / COMMON_CRAWL_FILES
    inputs = estimate_input(((f"CC-MAIN-{i:05d}.warc.gz", size) for i in range(COMMON_CRAWL_FILES)))
    return describe(inputs, estimate_stages(inputs, stages), vcpus)


def rates_table() -> str:
    """``STAGE_RATES`` and ``FORMAT_RATES`` as the Markdown docs/scale.md quotes."""
    lines = ["| stage | docs/s per core | MB/s of text per core | memory per worker MB | shuffle bytes per document | per shard | what is shuffled |",
             "|---|---|---|---|---|---|---|"]
    for name, r in STAGE_RATES.items():
        lines.append(f"| {name} | {r.docs_per_cpu_s:,.0f} | {r.text_mb_per_cpu_s:g} | {r.worker_mb:,.0f} | {r.shuffle_bytes_per_doc:,.0f} | "
                     f"{_size(r.shuffle_bytes_per_shard) if r.shuffle_bytes_per_shard else '–'} | {r.shuffle} |")
    lines += ["", "| input format | ingest MB/s of file bytes per core | file bytes per document | text bytes per document | memory per worker MB | source |",
              "|---|---|---|---|---|---|"]
    for name, f in FORMAT_RATES.items():
        lines.append(f"| {name} | {f.file_mb_per_cpu_s:g} | {f.file_bytes_per_doc:,.0f} | {f.text_bytes_per_doc:,.0f} | {f.worker_mb:,.0f} | {f.measured} |")
    return "\n".join(lines)


if __name__ == "__main__":  # regenerate the tables of docs/scale.md
    print(rates_table())
    print()
    print(common_crawl())
