"""Step 0 of the dedup stage, line-level dedup: count (site, line) keys per shard, then per partition
keep the keys found in at least ``line_min_docs`` documents of their site (the algorithm is in
:mod:`tailmine.dedup.lines`); signing and writing remove those lines with :func:`clean_batch`."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tailmine.dedup.config import DedupConfig
from tailmine.dedup.lines import CRAWL_SOURCES, LineSplit, eligible_sites
from tailmine.dedup.work import Layout, load_npy, load_npz, save_npy, save_npz, work_files
from tailmine.fileio import open_raw
from tailmine.runtime import ShardTask as Unit


def line_sites(batch: pa.RecordBatch, mode: str) -> list:
    return eligible_sites(mode, batch.column("source").to_pylist(), batch.column("url").to_pylist())


def line_keys_unit(task: Unit, lay: Layout) -> dict:
    """Per (site, line) key: how many documents of this shard contain it; split into partitions."""
    cfg = lay.cfg
    counted = []
    with open_raw(task.path) as handle:
        parquet = pq.ParquetFile(handle)
        for batch in parquet.iter_batches(batch_size=cfg.batch_rows, columns=["source", "url", "text"]):
            sites = line_sites(batch, cfg.line_dedup)
            if any(sites):
                counted.append(LineSplit(batch.column("text"), sites).doc_keys())
    keys = np.concatenate(counted) if counted else np.empty(0, np.uint64)
    keys, counts = np.unique(keys, return_counts=True)
    part = (keys % np.uint64(lay.partitions)).astype(np.int64)
    for p in range(lay.partitions):
        mask = part == p
        if mask.any():
            save_npz(lay.work("lines", f"p{p:05d}", f"u{task.unit:05d}.npz"), keys=keys[mask], counts=counts[mask])
    return {"unit": task.unit, "line_keys": int(len(keys))}


def line_counts_partition(p: int, lay: Layout) -> dict:
    """Keys of partition ``p`` found in at least ``line_min_docs`` documents of their site: boilerplate."""
    parts = [load_npz(f) for f in work_files(lay.work("lines", f"p{p:05d}"), "u*.npz")]
    keys = np.concatenate([x["keys"] for x in parts]) if parts else np.empty(0, np.uint64)
    counts = np.concatenate([x["counts"] for x in parts]) if parts else np.empty(0, np.int64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    total = np.bincount(inverse.ravel(), weights=counts, minlength=len(uniq)) if len(uniq) else np.empty(0)
    boiler = uniq[total >= lay.cfg.line_min_docs]
    save_npy(lay.work("boiler", f"p{p:05d}.npy"), boiler)
    return {"partition": p, "distinct_lines": int(len(uniq)), "boilerplate_lines": int(len(boiler))}


def boilerplate(lay: Layout) -> np.ndarray:
    """Every boilerplate key, sorted (only repeated lines: small next to the documents)."""
    if not lay.lines_on:
        return np.empty(0, np.uint64)
    parts = [load_npy(f) for f in work_files(lay.work("boiler"), "p*.npy")]
    return np.sort(np.concatenate(parts)) if parts else np.empty(0, np.uint64)


def clean_batch(batch: pa.RecordBatch, lay: Layout, boiler: np.ndarray):
    """``(text, lines_removed, emptied)`` of a batch after removing its boilerplate lines."""
    n = batch.num_rows
    text = batch.column("text")
    if not len(boiler):
        return text, np.zeros(n, np.int64), np.zeros(n, bool)
    sites = line_sites(batch, lay.cfg.line_dedup)
    if not any(sites):
        return text, np.zeros(n, np.int64), np.zeros(n, bool)
    cleaned, removed, emptied = LineSplit(text, sites).remove(boiler)
    return (text if cleaned is None else cleaned), removed, emptied


def line_step_needed(cfg: DedupConfig, shard_paths: list[str]) -> bool:
    """``line_dedup=auto`` removes lines only from crawl documents (source warc/wet) that have a URL. The
    shards' Parquet statistics tell, from their footers alone, when no document can qualify (every
    ``source`` outside the crawl sources, or every ``url`` null): the step, a full pass over the text,
    is then skipped. When a footer lacks statistics the step runs."""
    if cfg.line_dedup != "auto":
        return cfg.line_dedup == "on"
    for path in shard_paths:
        with open_raw(path) as handle:
            meta = pq.ParquetFile(handle).metadata
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        if "source" not in names or "url" not in names:
            return True
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            src, url = group.column(names.index("source")).statistics, group.column(names.index("url")).statistics
            if src is None or url is None or not src.has_min_max:
                return True
            crawl_possible = any(src.min <= c <= src.max for c in CRAWL_SOURCES)
            urls_present = url.null_count is None or url.null_count < group.num_rows
            if crawl_possible and urls_present:
                return True
    return False
