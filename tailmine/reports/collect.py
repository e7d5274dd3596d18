"""Gather what a run did into one JSON-able dict: the input to ``report.json`` and ``report.html``.

The report reads only what the stages wrote (manifests, shards, side files), so it works on any run
folder, partial runs included: a section whose stage did not run says so instead of failing. Large
runs are sampled (at most ``max_rows`` documents per stage are read for histograms and samples),
and the report says when a figure is an estimate.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tailmine.concepts.tables import concept_table_paths, iter_concept_tables
from tailmine.errors import ManifestError
from tailmine.fileio import exists, join, list_files, open_raw, read_bytes
from tailmine.reports.text import estimate_tokens, visible_text
from tailmine.reports.warnings import WarningThresholds
from tailmine.schemas.manifest import Manifest, read_manifest

#: The pipeline's stage folders, in order. Unknown folders with a manifest are reported after these.
STAGE_ORDER = ("ingest", "filter", "dedup", "decontaminate", "classify", "concepts", "mix")
SAMPLES_PER_REASON = 3
SAMPLE_CHARS = 400


@dataclass(frozen=True)
class ReportConfig:
    max_rows: int = 200_000
    """At most this many documents per stage are read for histograms (the rest is extrapolated)."""
    histogram_bins: int = 30
    warnings: WarningThresholds = field(default_factory=WarningThresholds)
    """The thresholds of the warning rules (see :mod:`tailmine.reports.warnings`)."""


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
    log = log and max(hi, 1) >= 100 * max(lo, 1)  # a log axis only where the data spans two decades or more
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


UNATTRIBUTED = "(unattributed)"
"""Source key for drops a stage counted without saying which documents (e.g. ingest's non-document records)."""


def _stable_key(doc_id: Any) -> bytes:
    """A seed-free hash of an id: the deterministic sample order (same run, same examples)."""
    return hashlib.blake2b(str(doc_id).encode("utf-8", "surrogatepass"), digest_size=8).digest()


def _sources_of_files(tables: list[Optional[pa.Table]]) -> dict[str, str]:
    """source_file -> source kind, from document tables that carry both (to place quarantined records)."""
    mapping: dict[str, str] = {}
    for table in tables:
        if table is None or "source_file" not in table.column_names:
            continue
        for f, s in zip(table.column("source_file").to_pylist(), table.column("source").to_pylist()):
            mapping.setdefault(f, s)
    return mapping


def _chars_by(table: pa.Table, key: str) -> dict[str, tuple[int, int]]:
    """{key value: (documents, characters of text)} of a document table."""
    lengths = pc.utf8_length(table.column("text")) if "text" in table.column_names else pa.array([0] * table.num_rows)
    grouped = pa.table({"k": table.column(key), "n": lengths}).group_by("k").aggregate([("n", "count"), ("n", "sum")])
    return {k: (int(c), int(n or 0)) for k, c, n in zip(grouped.column("k").to_pylist(), grouped.column("n_count").to_pylist(), grouped.column("n_sum").to_pylist())}


def _read_removed(folder: str, manifest: Manifest, max_rows: int) -> Optional[pa.Table]:
    """The removed rows of a stage (every dropped document with its ``drop_reason``), up to ``max_rows``."""
    if not manifest.removed:
        return None
    table, _ = _read_columns(folder, manifest.removed, ["id", "source", "source_file", "url", "title", "text", "lang", "drop_reason"], max_rows)
    return table


def _quarantined_by_source(folder: str, manifest: Manifest, file_sources: dict[str, str]) -> tuple[dict, dict]:
    """({source: {reason: records}}, {source_file: {reason: records}}) of a stage's quarantine shards."""
    by_source: dict[str, dict[str, int]] = {}
    by_file: dict[str, dict[str, int]] = {}
    for shard in manifest.quarantine:
        table = pq.read_table(open_raw(join(folder, shard.path)), columns=["source_file", "reason"])
        for f, reason in zip(table.column("source_file").to_pylist(), table.column("reason").to_pylist()):
            source = file_sources.get(f, UNATTRIBUTED)
            by_source.setdefault(source, {}).setdefault(reason, 0)
            by_source[source][reason] += 1
            by_file.setdefault(f, {}).setdefault(reason, 0)
            by_file[f][reason] += 1
    return by_source, by_file


def attribute_drops(dropped: dict[str, int], known: dict[str, dict[str, int]], lost_by_source: Optional[dict[str, int]]) -> dict[str, dict[str, int]]:
    """{source: {reason: documents}} that sums, per reason, to the manifest's ``dropped``.

    ``known`` holds the drops a stage wrote down per document (its removed rows); the rest of a
    reason is placed by source only where that is certain: when a single reason is left and the
    documents each source lost (``lost_by_source``, input minus output) account for it exactly.
    Anything else is put under :data:`UNATTRIBUTED` rather than guessed.
    """
    result = {s: dict(r) for s, r in known.items()}
    remainder = {r: n - sum(known.get(s, {}).get(r, 0) for s in known) for r, n in dropped.items()}
    remainder = {r: n for r, n in remainder.items() if n > 0}
    if not remainder:
        return result
    if lost_by_source is not None and len(remainder) == 1:
        (reason, n), = remainder.items()
        unexplained = {s: lost - sum(known.get(s, {}).values()) for s, lost in lost_by_source.items()}
        if all(v >= 0 for v in unexplained.values()) and sum(unexplained.values()) == n:
            for s, v in unexplained.items():
                if v:
                    result.setdefault(s, {})[reason] = result.get(s, {}).get(reason, 0) + v
            return result
    for reason, n in remainder.items():
        result.setdefault(UNATTRIBUTED, {})[reason] = n
    return result


def _funnel_row(name: str, manifest: Manifest, out: dict, removed: Optional[pa.Table], previous: Optional[dict], quarantined_by_source: dict) -> dict:
    """One stage of the funnel, in documents and (estimated) tokens, in total and per source."""
    c = manifest.counts
    chars = manifest.extra.get("output_chars", out["chars"])
    known_drops: dict[str, dict[str, int]] = {}
    dropped_tokens: dict[str, dict[str, int]] = {}
    if removed is not None and removed.num_rows:
        table = removed.append_column("_key", pc.binary_join_element_wise(removed.column("source"), removed.column("drop_reason"), "\x00"))
        for key, (docs, n_chars) in _chars_by(table, "_key").items():
            source, reason = key.split("\x00", 1)
            known_drops.setdefault(source, {})[reason] = docs
            dropped_tokens.setdefault(source, {})[reason] = estimate_tokens(n_chars)
    input_by_source = previous["output_by_source"] if previous else None
    lost = None
    if input_by_source is not None and out["exact"] and previous.get("exact_by_source"):
        lost = {s: n - out["by_source"].get(s, 0) - sum(quarantined_by_source.get(s, {}).values()) for s, n in input_by_source.items()}
    return {
        "stage": name,
        "input": c.input,
        "output": c.output,
        "dropped": dict(sorted(c.dropped.items(), key=lambda kv: -kv[1])),
        "quarantined": dict(sorted(c.quarantined.items(), key=lambda kv: -kv[1])),
        "output_chars": chars,
        "output_tokens_estimate": estimate_tokens(chars),
        "input_by_source": input_by_source,
        "input_tokens_by_source": previous["output_tokens_by_source"] if previous else None,
        "output_by_source": out["by_source"],
        "output_tokens_by_source": out["tokens_by_source"],
        "dropped_by_source": attribute_drops(c.dropped, known_drops, lost),
        "dropped_tokens_by_source": dropped_tokens,
        "quarantined_by_source": quarantined_by_source,
        "exact_by_source": out["exact"],
    }


def _output_summary(table: Optional[pa.Table], total: int) -> dict:
    """Documents, characters and estimated tokens per source of a stage's output (scaled up when sampled)."""
    if table is None or not table.num_rows:
        return {"chars": 0 if total == 0 else None, "by_source": {}, "tokens_by_source": {}, "exact": total == 0}
    scale = total / table.num_rows
    grouped = _chars_by(table, "source")
    return {
        "chars": round(sum(n for _, n in grouped.values()) * scale),
        "by_source": {s: round(d * scale) for s, (d, _) in sorted(grouped.items())},
        "tokens_by_source": {s: estimate_tokens(n * scale) for s, (_, n) in sorted(grouped.items())},
        "exact": table.num_rows == total,
    }


def _languages(out_table: Optional[pa.Table], removed: Optional[pa.Table]) -> Optional[dict]:
    """{lang: {"kept": documents, "dropped": documents}} for a stage whose rows carry ``lang``."""
    if removed is None or out_table is None or "lang" not in removed.column_names or "lang" not in out_table.column_names:
        return None
    result: dict[str, dict[str, int]] = {}
    for kind, table in (("kept", out_table), ("dropped", removed)):
        for c in pc.value_counts(table.column("lang")).to_pylist():
            result.setdefault(c["values"] or "unknown", {"kept": 0, "dropped": 0})[kind] += c["counts"]
    return dict(sorted(result.items()))


def _sample_rows(table: pa.Table, n: int) -> list[dict]:
    """``n`` rows of ``table`` in stable-hash order of their ids: deterministic, spread over the files."""
    ids = table.column("id").to_pylist() if "id" in table.column_names else list(range(table.num_rows))
    chosen = sorted(range(len(ids)), key=lambda i: _stable_key(ids[i]))[:n]
    return table.take(pa.array(chosen, pa.int64())).to_pylist()


def _document_example(row: dict, kind: str) -> dict:
    where = row.get("url") or row.get("id") or ""
    return {"kind": kind, "id": row.get("id"), "source": row.get("source"), "where": visible_text(where), "title": visible_text(row.get("title") or ""),
            "detail": "", "text": visible_text((row.get("text") or "")[:SAMPLE_CHARS])}


def _record_example(row: dict, kind: str) -> dict:
    return {"kind": kind, "where": visible_text(f"{row['source_file']} record {row['source_record']}"), "detail": visible_text(row["detail"] or ""),
            "text": visible_text((row["snippet"] or b"")[:SAMPLE_CHARS])}


def _samples(folder: str, manifest: Manifest, removed: Optional[pa.Table]) -> dict[str, list[dict]]:
    """Up to SAMPLES_PER_REASON examples of every drop and quarantine reason of a stage."""
    samples: dict[str, list[dict]] = {}
    record_shards = [(s.path, "quarantined") for s in manifest.quarantine] + [(s["path"], "dropped") for s in manifest.extra.get("drop_samples", [])]
    for path, kind in record_shards:
        table = pq.read_table(open_raw(join(folder, path)), columns=["source_file", "source_record", "reason", "detail", "snippet"])
        for row in table.to_pylist():
            bucket = samples.setdefault(row["reason"], [])
            if len(bucket) < SAMPLES_PER_REASON:
                bucket.append(_record_example(row, kind))
    if removed is not None and removed.num_rows:
        for reason in sorted(set(removed.column("drop_reason").to_pylist())):
            rows = _sample_rows(removed.filter(pc.equal(removed.column("drop_reason"), reason)), SAMPLES_PER_REASON)
            samples.setdefault(reason, []).extend(_document_example(r, "dropped") for r in rows)
    return samples


def _kept_samples(out_table: Optional[pa.Table], samples: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Per drop reason, kept documents from the same sources as its dropped examples (stable-hash
    order), so a reviewer sees both sides of the threshold on like material."""
    if out_table is None or not out_table.num_rows or "id" not in out_table.column_names:
        return {}
    kept = {}
    for reason, examples in sorted(samples.items()):
        sources = sorted({x["source"] for x in examples if x.get("source")})
        if not sources:
            continue
        pool = out_table.filter(pc.is_in(out_table.column("source"), pa.array(sources)))
        if pool.num_rows:
            kept[reason] = [_document_example(r, "kept") for r in _sample_rows(pool, SAMPLES_PER_REASON)]
    return kept


def collect(run_dir: str, cfg: ReportConfig = ReportConfig()) -> dict[str, Any]:
    """Everything the report shows, as plain data (see ``report.json``)."""
    stages = find_stages(run_dir)
    if not stages:
        raise ManifestError(f"{run_dir}: no stage folder with a manifest.json (run a stage first)")
    report: dict[str, Any] = {"run_dir": run_dir, "stages": [], "funnel": [], "samples": {}, "kept_samples": {}, "languages": {},
                              "quarantine_by_file": {}, "histograms": {}, "sections": {}}
    last_docs, previous = None, None
    for name, folder in stages:
        manifest = read_manifest(folder)
        report["stages"].append({"stage": name, "folder": folder, "parameters": manifest.parameters, "tailmine_version": manifest.tailmine_version, "extra": manifest.extra})
        table, total = _read_columns(folder, manifest.outputs, ["id", "source", "source_file", "url", "title", "text", "lang"], cfg.max_rows)
        removed = _read_removed(folder, manifest, cfg.max_rows)
        if table is not None and table.num_rows:
            last_docs = (name, folder, manifest)
        quarantined_by_source, quarantined_by_file = ({}, {})
        if manifest.quarantine:
            quarantined_by_source, quarantined_by_file = _quarantined_by_source(folder, manifest, _sources_of_files([table, removed]))
        row = _funnel_row(name, manifest, _output_summary(table, total), removed, previous, quarantined_by_source)
        if "tokens_total" in manifest.extra:  # the mix stage counts real tokens: use them, not estimates
            _mix_funnel(row, folder, manifest, previous)
        report["funnel"].append(row)
        if quarantined_by_file:
            report["quarantine_by_file"][name] = _quarantine_rates(quarantined_by_file, table, total)
        languages = _languages(table, removed)
        if languages:
            report["languages"][name] = languages
        stage_samples = _samples(folder, manifest, removed)
        if stage_samples:
            report["samples"][name] = stage_samples
            kept = _kept_samples(table, stage_samples)
            if kept:
                report["kept_samples"][name] = kept
        if name == "decontaminate":
            report["sections"]["contamination"] = _contamination_section(folder, manifest, removed)
        previous = row
    if last_docs:
        report["histograms"] = _document_histograms(*last_docs, cfg)
    for name, folder in stages:
        if name == "concepts":
            report["sections"]["concepts"] = _concepts_section(folder)
        if name == "mix":
            section = _mixture_section(folder)
            if section:
                section["largest_document"] = _largest_document(folder, section)
            report["sections"]["mixture"] = section
    from tailmine.reports.warnings import find_warnings

    report["warnings"] = find_warnings(report, cfg.warnings)
    return report


def _quarantine_rates(by_file: dict[str, dict[str, int]], table: Optional[pa.Table], total: int) -> dict[str, dict]:
    """Per input file: records quarantined and content records seen (documents out + quarantined).

    Records a stage drops by kind without keeping them (WARC request records, empty pages) are not
    counted per file, so the rate is of the records that could have become documents.
    """
    out_per_file: dict[str, int] = {}
    if table is not None and "source_file" in table.column_names and table.num_rows:
        scale = total / table.num_rows  # 1 unless the stage was sampled (then an estimate)
        out_per_file = {c["values"]: round(c["counts"] * scale) for c in pc.value_counts(table.column("source_file")).to_pylist()}
    rates = {}
    for f, reasons in sorted(by_file.items()):
        q = sum(reasons.values())
        rates[f] = {"quarantined": q, "records": q + out_per_file.get(f, 0), "reasons": dict(sorted(reasons.items()))}
    return rates


def _lineage_totals(folder: str, bin_paths: list[str]) -> dict[str, list]:
    """{document id: [source, tokens over all its copies]} from the ``.lineage.parquet`` beside token shards."""
    totals: dict[str, list] = {}
    for path in bin_paths:
        lineage = join(folder, path[: -len(".bin")] + ".lineage.parquet")
        if not exists(lineage):
            continue
        t = pq.read_table(open_raw(lineage), columns=["id", "source", "tokens"])
        for doc_id, source, n in zip(t.column("id").to_pylist(), t.column("source").to_pylist(), t.column("tokens").to_pylist()):
            entry = totals.setdefault(doc_id, [source, 0])
            entry[1] += n
    return totals


def _per_source(totals: dict[str, list]) -> tuple[dict[str, int], dict[str, int]]:
    """(documents, tokens) per source of lineage totals."""
    docs: dict[str, int] = {}
    tokens: dict[str, int] = {}
    for source, n in totals.values():
        docs[source] = docs.get(source, 0) + 1
        tokens[source] = tokens.get(source, 0) + n
    return dict(sorted(docs.items())), dict(sorted(tokens.items()))


def _mix_funnel(row: dict, folder: str, manifest: Manifest, previous: Optional[dict]) -> None:
    """The mix stage writes token shards, not documents: documents and real tokens per source come
    from the shards' lineage (every sequence names its document), held-out documents from the
    holdout's lineage; the other reasons (not sampled, quality gate) are placed by source only
    where :func:`attribute_drops` can be certain."""
    row["output_tokens"] = manifest.extra["tokens_total"]
    row["output_tokens_estimate"] = None
    row["output_by_source"], row["output_tokens_by_source"] = _per_source(_lineage_totals(folder, [s["path"] for s in manifest.extra.get("token_shards", [])]))
    held, _ = _per_source(_lineage_totals(folder, manifest.extra.get("holdout_shards", [])))
    known = {s: {"held_out": n} for s, n in held.items()}
    exact = bool(previous and previous.get("exact_by_source"))
    lost = {s: n - row["output_by_source"].get(s, 0) for s, n in previous["output_by_source"].items()} if exact else None
    row["dropped_by_source"] = attribute_drops(manifest.counts.dropped, known, lost)
    row["exact_by_source"] = exact


def _contamination_section(folder: str, manifest: Manifest, removed: Optional[pa.Table]) -> dict[str, Any]:
    """Per evaluation set: items, items found, documents affected, tokens removed, and the per-item list.

    Reads the manifest's summary defensively (fields differ between versions) and the audit file
    ``contamination.parquet`` for the items; tokens removed are the manifest's when it counts them,
    else estimated from the removed documents that matched the set.
    """
    extra = manifest.extra or {}
    summary = extra.get("decontamination") or {}
    audit = None
    audit_name = extra.get("contamination_file", "contamination.parquet")
    if exists(join(folder, audit_name)):
        audit = pq.read_table(open_raw(join(folder, audit_name))).to_pylist()
    removed_chars: dict[str, int] = {}
    if removed is not None and removed.num_rows:
        removed_chars = dict(zip(removed.column("id").to_pylist(), pc.utf8_length(removed.column("text")).to_pylist()))
    sets: dict[str, dict] = {}
    for eval_set in sorted(set(summary) | {r["eval_file"] for r in audit or []}):
        given = summary.get(eval_set) if isinstance(summary.get(eval_set), dict) else {}
        matches = [r for r in audit or [] if r["eval_file"] == eval_set]
        items: dict[Any, dict] = {}
        for m in matches:
            item = items.setdefault(m["item_index"], {"item": m["item_id"], "index": m["item_index"], "documents": set(), "removed": set(), "max_overlap": 0.0})
            item["documents"].add(m["id"])
            if not m["kept"]:
                item["removed"].add(m["id"])
            item["max_overlap"] = max(item["max_overlap"], m["overlap"] or 0.0)
        documents = {m["id"] for m in matches}
        removed_ids = {m["id"] for m in matches if not m["kept"]}
        tokens_removed = given.get("tokens_removed")
        sets[eval_set] = {
            "items": given.get("items"),
            "items_too_short": given.get("items_too_short"),
            "items_found": given.get("items_found", len(items)),
            "documents_affected": given.get("documents_affected", given.get("documents_touched", len(documents))),
            "documents_removed": len(removed_ids),
            "tokens_removed": tokens_removed if tokens_removed is not None else estimate_tokens(sum(removed_chars.get(i, 0) for i in removed_ids)),
            "tokens_removed_estimated": tokens_removed is None,
            "found": [
                {"item": visible_text(v["item"]), "index": v["index"], "documents": len(v["documents"]), "removed": len(v["removed"]), "max_overlap": v["max_overlap"]}
                for _, v in sorted(items.items())
            ],
        }
    return {"eval_sets": sets, "documents_affected": extra.get("documents_affected"), "documents_in": manifest.counts.input}


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
    if concept_table_paths(folder):
        # shard by shard: only (rank, df) of every concept and the 20 first rows are ever held
        top, ranks, dfs = [], [], []
        for table in iter_concept_tables(folder, ["concept", "df", "rank"]):
            ranks.append(table.column("rank").to_numpy())
            dfs.append(table.column("df").to_numpy())
            top.append(table.sort_by("rank").slice(0, 20))
        ranks, dfs = np.concatenate(ranks), np.concatenate(dfs)
        order = np.lexsort((dfs, ranks))
        ranks, dfs = ranks[order], dfs[order]
        # log-spaced points of the rank-frequency curve: enough to draw it, small enough to embed
        keep, i = [], int(np.searchsorted(ranks, 1.0))
        while i < len(ranks):
            keep.append([int(ranks[i]), int(dfs[i])])
            i = int(np.searchsorted(ranks, ranks[i] * 1.05))
        section["rank_frequency"] = keep
        section["top_concepts"] = pa.concat_tables(top).sort_by("rank").slice(0, 20).to_pylist()
        section["line"] = _rank_line(section.get("fit", {}).get("power_law", {}), ranks, dfs)
    return section


def _rank_line(power_law: dict, ranks: list, dfs: list) -> Optional[dict]:
    """The fitted law drawn on the rank curve: df ∝ rank^-s with s = 1/(α-1), the band from α's CI,
    the intercept by least squares in log space over the fitted tail (df ≥ x_min)."""
    alpha, ci, xmin = power_law.get("alpha"), power_law.get("alpha_ci"), power_law.get("xmin") or 1
    if not alpha or alpha <= 1:
        return None
    slope = 1.0 / (alpha - 1.0)
    ranks, dfs = np.asarray(ranks, np.float64), np.asarray(dfs, np.float64)
    tail = (dfs >= xmin) & (ranks > 0) & (dfs > 0)
    if not tail.any():
        return None
    log_c = float(np.mean(np.log10(dfs[tail]) + slope * np.log10(ranks[tail])))
    line = {"s": slope, "c": 10**log_c, "rank_max": int(ranks[tail].max())}
    if ci and ci[0] > 1 and ci[1] > 1:
        line.update(s_low=1.0 / (ci[1] - 1.0), s_high=1.0 / (ci[0] - 1.0))
    return line


def _mixture_section(folder: str) -> dict[str, Any]:
    if not exists(join(folder, "recipe.json")):
        return {}
    return json.loads(read_bytes(join(folder, "recipe.json")))


def _largest_document(folder: str, recipe: dict) -> Optional[dict]:
    """The document with the most tokens in the mixture (all its copies), from the shards' lineage.

    When the recipe states the share itself (``spread.mixture.largest_document_share``) that figure is
    kept; the lineage still names the document."""
    totals = _lineage_totals(folder, [shard["path"] for shard in recipe.get("shards") or []])
    total = recipe.get("tokens_total") or sum(n for _, n in totals.values())
    if not totals or not total:
        return None
    doc_id, (source, tokens) = min(totals.items(), key=lambda kv: (-kv[1][1], kv[0]))
    stated = ((recipe.get("spread") or {}).get("mixture") or {}).get("largest_document_share")
    return {"id": visible_text(doc_id), "source": source, "tokens": tokens, "share": stated if stated is not None else tokens / total,
            "documents": len(totals)}
