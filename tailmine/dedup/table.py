"""The dedup stage on one in-memory table (a notebook's sample): the same decisions, no work folder.

Why the same functions: a sample deduplicated in a notebook must keep the documents the stage would
keep. Every decision is made by the stage's own plain functions: line keys and removal
(:mod:`tailmine.dedup.lines`), signatures (:class:`~tailmine.dedup.minhash.MinHasher`), the keys under
which documents meet and the verification (:mod:`tailmine.dedup.signing`), components and the
survivor of each cluster (:mod:`tailmine.dedup.survivors`). Only the exchanges through files are left
out, so the whole table is held in memory.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tailmine.dedup import components as cc
from tailmine.dedup.config import DedupConfig
from tailmine.dedup.inputs import quality_column_of
from tailmine.dedup.lines import LineSplit, eligible_sites
from tailmine.dedup.lsh import bucket_edges, unique_edges
from tailmine.dedup.minhash import MinHasher
from tailmine.dedup.signing import meeting_keys, verified_pairs
from tailmine.dedup.survivors import cluster_decisions
from tailmine.dedup.work import CLUSTER_COLUMNS, EMPTIED, LINES_COLUMN
from tailmine.errors import InputError


def _column(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist() if name in table.column_names else [None] * table.num_rows


def remove_boilerplate_lines(table: pa.Table, cfg: DedupConfig) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """``(text, lines_removed, emptied)``: the line step over the whole table (lines found in at least
    ``line_min_docs`` documents of one site removed, for the documents ``line_dedup`` selects)."""
    text = table.column("text").combine_chunks()
    n = table.num_rows
    sites = eligible_sites(cfg.line_dedup, _column(table, "source"), _column(table, "url"))
    if not any(sites):
        return text, np.zeros(n, np.int64), np.zeros(n, bool)
    keys, docs = np.unique(LineSplit(text, sites).doc_keys(), return_counts=True)
    boilerplate = np.sort(keys[docs >= cfg.line_min_docs])
    if not len(boilerplate):
        return text, np.zeros(n, np.int64), np.zeros(n, bool)
    cleaned, removed, emptied = LineSplit(text, sites).remove(boilerplate)
    return (text if cleaned is None else cleaned), removed, emptied


def dedup_table(table: pa.Table, cfg: Optional[DedupConfig] = None, quality_column: Optional[str] = None) -> tuple[pa.Table, pa.Table]:
    """``(kept, removed)``: ``table`` without its exact and near duplicates, as the dedup stage decides.

    ``table`` needs ``text`` and ``id`` (the tie-break between equal survivors); ``source`` and ``url``
    select documents for the line step. ``quality_column`` ranks survivors (default: the stage's
    rule, the first ``quality_*`` number column when ``cfg.quality_column`` is ``auto``). Kept rows get
    ``dup_cluster_id``, ``dup_cluster_size`` and ``dup_lines_removed``; removed rows also get
    ``drop_reason`` (``exact_duplicate``, ``near_duplicate`` or ``empty_after_line_removal``)."""
    cfg = cfg or DedupConfig()
    missing = [c for c in ("id", "text") if c not in table.column_names]
    if missing:
        raise InputError(f"dedup_table: the table has no {' or '.join(missing)} column (columns: {', '.join(table.column_names)})")
    quality_column = quality_column or quality_column_of(table.schema, cfg, "the table")
    n = table.num_rows
    text, lines_removed, emptied = remove_boilerplate_lines(table, cfg)
    sig, exact = MinHasher(cfg.num_perm, cfg.ngram, cfg.seed).sketch(text)
    bands, rows = cfg.bands_rows()
    nodes = np.arange(n, dtype=np.int64)
    keys, docs = meeting_keys(sig, exact, nodes, ~emptied, bands, rows)
    pairs = unique_edges(bucket_edges(keys, docs)) if len(keys) else np.empty((0, 2), np.int64)
    edges = verified_pairs(pairs, sig[pairs[:, 0]], sig[pairs[:, 1]], cfg) if len(pairs) else pairs
    members, labels = cc.component_labels(edges)
    ids = np.asarray(table.column("id").to_pylist(), dtype=object)
    cluster_id, size, reason = ids.copy(), np.ones(n, np.int64), np.where(emptied, EMPTIED, None).astype(object)
    if len(members):
        quality = (pc.cast(table.column(quality_column), pa.float64()).to_numpy(zero_copy_only=False)[members]
                   if quality_column else np.full(len(members), np.nan))
        length = pc.binary_length(text).to_numpy(zero_copy_only=False).astype(np.int64)[members]
        head, member_size, member_reason = cluster_decisions(labels, quality, length, ids[members], exact[members])
        cluster_id[members], size[members], reason[members] = ids[members][head], member_size, member_reason
    out = table.set_column(table.schema.get_field_index("text"), table.schema.field("text"), text)
    out = (out.append_column(CLUSTER_COLUMNS[0], pa.array(list(cluster_id), pa.string()))
           .append_column(CLUSTER_COLUMNS[1], pa.array(size, pa.int64()))
           .append_column(LINES_COLUMN, pa.array(lines_removed, pa.int64())))
    keep = pa.array([r is None for r in reason.tolist()])
    removed = out.filter(pc.invert(keep))
    removed = removed.append_column("drop_reason", pa.array([r for r in reason.tolist() if r is not None], pa.string()))
    return out.filter(keep), removed

