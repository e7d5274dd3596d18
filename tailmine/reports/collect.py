"""Gather what a run did into one JSON-able dict: the input to ``report.json`` and ``report.html``.

The report reads only what the stages wrote (manifests, shards, side files), so it works on any run
folder, partial runs included: a section whose stage did not run says so instead of failing. Large
runs are sampled (at most ``max_rows`` documents per stage are read for histograms and samples),
and the report says when a figure is an estimate.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Optional

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tailmine.errors import ManifestError
from tailmine.fileio import exists, join, list_files, open_raw, read_bytes
from tailmine.schemas.manifest import Manifest, read_manifest

#: The pipeline's stage folders, in order. Unknown folders with a manifest are reported after these.
STAGE_ORDER = ("ingest", "filter", "dedup", "decontaminate", "classify", "concepts", "mix")
SAMPLES_PER_REASON = 3
SAMPLE_CHARS = 400
BYTES_PER_TOKEN = 4.0  # rough English average, used only until the mix stage counts real tokens


@dataclass(frozen=True)
class ReportConfig:
    max_rows: int = 200_000
    """At most this many documents per stage are read for histograms (the rest is extrapolated)."""
    histogram_bins: int = 30


def find_stages(run_dir: str) -> list[tuple[str, str]]:
    """(stage name, folder) for every subfolder of ``run_dir`` holding a manifest, in pipeline order."""
    found = {}
    for name in STAGE_ORDER:
        if exists(join(run_dir, name, "manifest.json")):
            found[name] = join(run_dir, name)
    try:
        for f in list_files(run_dir, "*/manifest.json"):
            folder = f.path.rsplit("/", 2)[-2]
            found.setdefault(folder, join(run_dir, folder))
    except Exception:
        pass
    order = {name: i for i, name in enumerate(STAGE_ORDER)}
    return sorted(found.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))


def _read_columns(folder: str, shards, columns: list[str], max_rows: int) -> tuple[Optional[pa.Table], int]:
    """Read ``columns`` (those present) from ``shards`` up to ``max_rows`` rows; returns (table, total rows)."""
    total = sum(s.rows for s in shards)
    tables, read = [], 0
    for shard in shards:
        if read >= max_rows:
            break
        with open_raw(join(folder, shard.path)) as handle:
            parquet = pq.ParquetFile(handle)
            present = [c for c in columns if c in parquet.schema_arrow.names]
            table = parquet.read(columns=present)
        tables.append(table.slice(0, max_rows - read))
        read += min(table.num_rows, max_rows - read)
    if not tables:
        return None, total
    return pa.concat_tables(tables, promote_options="default"), total


def _histogram(values: list[float], bins: int, log: bool = False) -> dict[str, Any]:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return {"edges": [], "counts": [], "log": log, "n": 0}
    lo, hi = min(values), max(values)
    if log:
        lo, hi = math.log10(max(lo, 1)), math.log10(max(hi, 1))
        values = [math.log10(max(v, 1)) for v in values]
    if hi == lo:
        hi = lo + 1
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    edges = [lo + i * width for i in range(bins + 1)]
    if log:
        edges = [10**e for e in edges]
    return {"edges": [round(e, 6) for e in edges], "counts": counts, "log": log, "n": len(values)}


def _funnel_row(name: str, manifest: Manifest, text_bytes: Optional[float], by_source: dict) -> dict:
    c = manifest.counts
    return {
        "stage": name,
        "input": c.input,
        "output": c.output,
        "dropped": dict(sorted(c.dropped.items(), key=lambda kv: -kv[1])),
        "quarantined": dict(sorted(c.quarantined.items(), key=lambda kv: -kv[1])),
        "output_text_bytes": text_bytes,
        "output_tokens_estimate": None if text_bytes is None else round(text_bytes / BYTES_PER_TOKEN),
        "output_by_source": by_source,
    }


def _samples(folder: str, manifest: Manifest) -> dict[str, list[dict]]:
    """Up to SAMPLES_PER_REASON examples of every drop and quarantine reason of a stage."""
    samples: dict[str, list[dict]] = {}
    for shard in manifest.quarantine:
        table = pq.read_table(open_raw(join(folder, shard.path)), columns=["source_file", "source_record", "reason", "detail", "snippet"])
        for row in table.to_pylist():
            bucket = samples.setdefault(row["reason"], [])
            if len(bucket) < SAMPLES_PER_REASON:
                snippet = (row["snippet"] or b"")[:SAMPLE_CHARS].decode("utf-8", "replace")
                bucket.append({"kind": "quarantined", "where": f"{row['source_file']} record {row['source_record']}", "detail": row["detail"], "text": snippet})
        if all(len(v) >= SAMPLES_PER_REASON for v in samples.values()) and len(samples) >= len(manifest.counts.quarantined):
            break
    for shard in manifest.extra.get("drop_samples", []):
        table = pq.read_table(open_raw(join(folder, shard["path"])), columns=["source_file", "source_record", "reason", "detail", "snippet"])
        for row in table.to_pylist():
            bucket = samples.setdefault(row["reason"], [])
            if len(bucket) < SAMPLES_PER_REASON:
                snippet = (row["snippet"] or b"")[:SAMPLE_CHARS].decode("utf-8", "replace")
                bucket.append({"kind": "dropped", "where": f"{row['source_file']} record {row['source_record']}", "detail": row["detail"], "text": snippet})
    for shard in manifest.removed:
        with open_raw(join(folder, shard.path)) as handle:
            parquet = pq.ParquetFile(handle)
            wanted = [c for c in ("id", "url", "text", "drop_reason") if c in parquet.schema_arrow.names]
            table = parquet.read(columns=wanted)
        for row in table.to_pylist():
            bucket = samples.setdefault(row["drop_reason"], [])
            if len(bucket) < SAMPLES_PER_REASON:
                bucket.append({"kind": "dropped", "where": row.get("url") or row.get("id"), "detail": "", "text": (row.get("text") or "")[:SAMPLE_CHARS]})
    return samples


def collect(run_dir: str, cfg: ReportConfig = ReportConfig()) -> dict[str, Any]:
    """Everything the report shows, as plain data (see ``report.json``)."""
    stages = find_stages(run_dir)
    if not stages:
        raise ManifestError(f"{run_dir}: no stage folder with a manifest.json (run a stage first)")
    report: dict[str, Any] = {"run_dir": run_dir, "stages": [], "funnel": [], "samples": {}, "histograms": {}, "sections": {}}
    last_docs = None
    for name, folder in stages:
        manifest = read_manifest(folder)
        report["stages"].append({"stage": name, "folder": folder, "parameters": manifest.parameters, "tailmine_version": manifest.tailmine_version, "extra": manifest.extra})
        table, total = _read_columns(folder, manifest.outputs, ["source", "text"], cfg.max_rows)
        text_bytes, by_source = None, {}
        if table is not None and table.num_rows:
            lengths = pc.binary_length(table.column("text"))
            sampled_bytes = pc.sum(lengths).as_py() or 0
            text_bytes = sampled_bytes * (total / table.num_rows)
            counts = pc.value_counts(table.column("source")).to_pylist()
            scale = total / table.num_rows
            by_source = {c["values"]: round(c["counts"] * scale) for c in sorted(counts, key=lambda c: c["values"])}
            last_docs = (name, folder, manifest)
        elif manifest.outputs == []:
            text_bytes = 0
        row = _funnel_row(name, manifest, text_bytes, by_source)
        if "tokens_total" in manifest.extra:  # the mix stage counts real tokens: use them, not estimates
            row["output_tokens"] = manifest.extra["tokens_total"]
            row["output_tokens_estimate"] = None
            recipe_sources = _mixture_section(folder).get("sources") or {}
            row["output_by_source"] = {k: v.get("documents", 0) for k, v in sorted(recipe_sources.items()) if isinstance(v, dict)}
        report["funnel"].append(row)
        stage_samples = _samples(folder, manifest)
        if stage_samples:
            report["samples"][name] = stage_samples
        if name == "decontaminate" and manifest.extra:
            report["sections"]["contamination"] = manifest.extra
    if last_docs:
        report["histograms"] = _document_histograms(*last_docs, cfg)
    for name, folder in stages:
        if name == "concepts":
            report["sections"]["concepts"] = _concepts_section(folder)
        if name == "mix":
            report["sections"]["mixture"] = _mixture_section(folder)
    return report


def _document_histograms(name: str, folder: str, manifest: Manifest, cfg: ReportConfig) -> dict[str, Any]:
    with open_raw(join(folder, manifest.outputs[0].path)) as handle:
        names = pq.ParquetFile(handle).schema_arrow.names
    score_columns = [c for c in names if c.startswith("quality_") or c.endswith("_score")]
    wanted = ["text"] + [c for c in ("lang", "dup_cluster_size") if c in names] + score_columns
    table, total = _read_columns(folder, manifest.outputs, wanted, cfg.max_rows)
    out: dict[str, Any] = {"stage": name, "documents_read": table.num_rows, "documents_total": total}
    out["length_chars"] = _histogram(pc.utf8_length(table.column("text")).to_pylist(), cfg.histogram_bins, log=True)
    if "lang" in table.column_names:
        out["language"] = {c["values"]: c["counts"] for c in pc.value_counts(table.column("lang")).to_pylist()}
    if "dup_cluster_size" in table.column_names:
        sizes = [s for s in table.column("dup_cluster_size").to_pylist() if s and s > 1]
        out["dup_cluster_size"] = _histogram(sizes, cfg.histogram_bins, log=True)
    for column in score_columns:
        out[f"score:{column}"] = _histogram(table.column(column).to_pylist(), cfg.histogram_bins)
    return out


def _concepts_section(folder: str) -> dict[str, Any]:
    section: dict[str, Any] = {}
    if exists(join(folder, "fit.json")):
        section["fit"] = json.loads(read_bytes(join(folder, "fit.json")))
    if exists(join(folder, "concepts.parquet")):
        table = pq.read_table(open_raw(join(folder, "concepts.parquet")), columns=["concept", "df", "rank"])
        ranks = table.column("rank").to_pylist()
        dfs = table.column("df").to_pylist()
        # log-spaced points of the rank-frequency curve: enough to draw it, small enough to embed
        keep, next_rank = [], 1.0
        for r, d in sorted(zip(ranks, dfs)):
            if r >= next_rank:
                keep.append([r, d])
                next_rank = r * 1.05
        section["rank_frequency"] = keep
        section["top_concepts"] = table.sort_by("rank").slice(0, 20).to_pylist()
        section["line"] = _rank_line(section.get("fit", {}).get("power_law", {}), ranks, dfs)
    return section


def _rank_line(power_law: dict, ranks: list, dfs: list) -> Optional[dict]:
    """The fitted law drawn on the rank curve: df ∝ rank^-s with s = 1/(α-1), the band from α's CI,
    the intercept by least squares in log space over the fitted tail (df ≥ x_min)."""
    alpha, ci, xmin = power_law.get("alpha"), power_law.get("alpha_ci"), power_law.get("xmin") or 1
    if not alpha or alpha <= 1:
        return None
    slope = 1.0 / (alpha - 1.0)
    tail = [(r, d) for r, d in zip(ranks, dfs) if d >= xmin and r > 0 and d > 0]
    if not tail:
        return None
    log_c = sum(math.log10(d) + slope * math.log10(r) for r, d in tail) / len(tail)
    line = {"s": slope, "c": 10**log_c, "rank_max": max(r for r, _ in tail)}
    if ci and ci[0] > 1 and ci[1] > 1:
        line.update(s_low=1.0 / (ci[1] - 1.0), s_high=1.0 / (ci[0] - 1.0))
    return line


def _mixture_section(folder: str) -> dict[str, Any]:
    if not exists(join(folder, "recipe.json")):
        return {}
    return json.loads(read_bytes(join(folder, "recipe.json")))
