"""The dedup stage: exact and MinHash-LSH near-duplicates, clustered, one survivor per cluster.

Run it::

    tailmine dedup --in out/ingest --out out/dedup [--threshold 0.8] [--num-perm 128] [--ngram 5]
    tailmine dedup --in out/ingest --out out/dedup --plan      # memory/time/shuffle/disk plan, no work

Shape (every step is a Beam ParDo over small tasks; bulky data moves through files in ``OUT/_work``,
the way the ingest stage moves documents, so no shuffle holds the corpus in memory and no worker
holds more than one input shard or one band partition):

0. ``LineKeys`` (per unit) and ``LineCounts`` (per partition of line keys), when the line step is on
   (``line_dedup``: crawl documents by default): lines found in at least ``line_min_docs`` documents
   of one site are boilerplate; ``Sign`` and ``Write`` remove them (see ``tailmine/dedup/lines.py``).
   Each document gets ``dup_lines_removed``; one left without words is dropped as
   ``empty_after_line_removal``; totals go in ``manifest.extra["line_dedup"]``.
1. ``Sign`` (per input shard = unit): signatures, exact-text hashes, survivor keys; band keys written
   split into the planner's band partitions.
2. ``Candidates`` (per band partition): documents sharing a band key (or the exact-text key) become
   star edges (candidate pairs), written by the unit of their second document; ``SendSignatures`` (per
   unit) sends each distinct pair with that document's signature row to the unit of the first;
   ``Verify`` (per unit) keeps a pair when its signature estimate reaches ``threshold - verify_slack``.
   Each signature file is read twice in all, so the step stays linear in the corpus.
3. ``Components``: in one task when the planner's bound on duplicate edges fits the memory budget
   (then the whole stage is ONE pipeline), else per unit by min-label propagation, 4 rounds per
   pipeline, until a round changes nothing.
4. ``Survivors`` (per unit of the cluster label): the best document of each cluster (highest quality
   score, then longest text, then smallest id) is kept; the others are dropped as ``exact_duplicate``
   (same normalised text as the survivor) or ``near_duplicate``.
5. ``Write`` (per unit): ``docs/`` with ``dup_cluster_id`` (the survivor's id) and ``dup_cluster_size``,
   ``removed/`` with ``drop_reason``; ``clusters.parquet`` (``id``, ``cluster_id``) for every document
   that has a duplicate; ``manifest.json``.

Every task leaves ``_work/done/STEP-KEY.json`` (its result and the run's fingerprint): ``--resume``
skips the tasks already done, and local progress counts them.
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import time
from dataclasses import dataclass
from typing import Optional

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tailmine.dedup import components as cc
from tailmine.dedup.config import DedupConfig
from tailmine.dedup.lines import LineSplit, eligible_sites
from tailmine.dedup.lsh import band_keys, bucket_edges, unique_edges
from tailmine.dedup.minhash import EMPTY, MinHasher
from tailmine.dedup.planner import DedupPlan, plan
from tailmine.fileio import exists, join, list_files, open_raw, read_bytes, write_bytes_atomic
from tailmine.pipelines.options import local_workers, pipeline_options
from tailmine.pipelines.stage import (
    DOCS_DIR, REMOVED_DIR, WORK_DIR, ProgressLoop, SelectionWriter, Spread, WriteManifest, finish, fingerprint, prepare_output,
    stage_shards,
)
from tailmine.runtime import ShardTask as Unit, load_done, save_done, shard_tasks
from tailmine.schemas.document import DOCUMENT_SCHEMA, check_schema
from tailmine.schemas.manifest import Manifest, read_manifest

STAGE = "dedup"
CLUSTERS_NAME = "clusters.parquet"
EXACT = "exact_duplicate"
NEAR = "near_duplicate"
EMPTIED = "empty_after_line_removal"
LINES_COLUMN = "dup_lines_removed"
ROUNDS_PER_PIPELINE = 4
CLUSTER_COLUMNS = ("dup_cluster_id", "dup_cluster_size")
ALL_LABELS = (1 << 31) - 1
"""Destination key of the survivor keys when one task chooses every survivor (local components); above
any unit a node id (``unit << 32 | row``, int64) can hold."""
log = logging.getLogger("tailmine.dedup")


@dataclass(frozen=True)
class Layout:
    """Where the work files live, and the fixed parameters every step needs (picklable)."""

    out_dir: str
    cfg: DedupConfig
    bands: int
    rows: int
    partitions: int
    units: int
    quality_column: Optional[str]
    components: str = "local"
    fingerprint: str = ""
    lines_on: bool = True
    """Whether the line step runs (see :func:`line_step_needed`)."""

    def work(self, *parts: str) -> str:
        return join(self.out_dir, WORK_DIR, *parts)


# --- small file helpers (npz/parquet through tailmine.fileio so gs:// works) ---------------------


def _save_npz(path: str, **arrays) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes_atomic(path, buf.getvalue())


def _load_npz(path: str) -> dict:
    with np.load(io.BytesIO(read_bytes(path))) as data:
        return {k: data[k] for k in data.files}


def _save_npy(path: str, array: np.ndarray) -> None:
    np.save(buf := io.BytesIO(), array)
    write_bytes_atomic(path, buf.getvalue())


def _load_npy(path: str) -> np.ndarray:
    return np.load(io.BytesIO(read_bytes(path)))


def _save_table(path: str, table: pa.Table) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    write_bytes_atomic(path, sink.getvalue().to_pybytes())


def _load_table(path: str) -> pa.Table:
    return pq.read_table(io.BytesIO(read_bytes(path)))


def _files(directory: str, pattern: str) -> list[str]:
    """Files in ``directory`` matching ``pattern``. Work files live in one folder per reader (``to{unit}/``,
    ``p{partition}/``): a file system lists a whole folder to match a glob, so one flat folder made every
    task list every other task's files (quadratic in the number of shards)."""
    try:
        return [f.path for f in list_files(directory, pattern)]
    except Exception:
        return []


def _split_by_unit(nodes: np.ndarray):
    """Yield ``(unit, index array)`` for the rows of ``nodes`` grouped by their unit, in unit order."""
    units = cc.unit_of(nodes)
    order = np.argsort(units, kind="stable")
    su = units[order]
    bounds = np.flatnonzero(np.diff(su)) + 1
    for chunk in np.split(order, bounds):
        if len(chunk):
            yield int(units[chunk[0]]), chunk


# --- 0. line-level dedup ----------------------------------------------------------------------------


def _sites(batch: pa.RecordBatch, mode: str) -> list:
    return eligible_sites(mode, batch.column("source").to_pylist(), batch.column("url").to_pylist())


def line_keys_unit(task: Unit, lay: Layout) -> dict:
    """Per (site, line) key: how many documents of this shard contain it; split into partitions."""
    cfg = lay.cfg
    counted = []
    with open_raw(task.path) as handle:
        parquet = pq.ParquetFile(handle)
        for batch in parquet.iter_batches(batch_size=cfg.batch_rows, columns=["source", "url", "text"]):
            sites = _sites(batch, cfg.line_dedup)
            if any(sites):
                counted.append(LineSplit(batch.column("text"), sites).doc_keys())
    keys = np.concatenate(counted) if counted else np.empty(0, np.uint64)
    keys, counts = np.unique(keys, return_counts=True)
    part = (keys % np.uint64(lay.partitions)).astype(np.int64)
    for p in range(lay.partitions):
        mask = part == p
        if mask.any():
            _save_npz(lay.work("lines", f"p{p:05d}", f"u{task.unit:05d}.npz"), keys=keys[mask], counts=counts[mask])
    return {"unit": task.unit, "line_keys": int(len(keys))}


def line_counts_partition(p: int, lay: Layout) -> dict:
    """Keys of partition ``p`` found in at least ``line_min_docs`` documents of their site: boilerplate."""
    parts = [_load_npz(f) for f in _files(lay.work("lines", f"p{p:05d}"), "u*.npz")]
    keys = np.concatenate([x["keys"] for x in parts]) if parts else np.empty(0, np.uint64)
    counts = np.concatenate([x["counts"] for x in parts]) if parts else np.empty(0, np.int64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    total = np.bincount(inverse.ravel(), weights=counts, minlength=len(uniq)) if len(uniq) else np.empty(0)
    boiler = uniq[total >= lay.cfg.line_min_docs]
    _save_npy(lay.work("boiler", f"p{p:05d}.npy"), boiler)
    return {"partition": p, "distinct_lines": int(len(uniq)), "boilerplate_lines": int(len(boiler))}


def _boilerplate(lay: Layout) -> np.ndarray:
    """Every boilerplate key, sorted (only repeated lines: small next to the documents)."""
    if not lay.lines_on:
        return np.empty(0, np.uint64)
    parts = [_load_npy(f) for f in _files(lay.work("boiler"), "p*.npy")]
    return np.sort(np.concatenate(parts)) if parts else np.empty(0, np.uint64)


def _clean(batch: pa.RecordBatch, lay: Layout, boiler: np.ndarray):
    """``(text, lines_removed, emptied)`` of a batch after removing its boilerplate lines."""
    n = batch.num_rows
    text = batch.column("text")
    if not len(boiler):
        return text, np.zeros(n, np.int64), np.zeros(n, bool)
    sites = _sites(batch, lay.cfg.line_dedup)
    if not any(sites):
        return text, np.zeros(n, np.int64), np.zeros(n, bool)
    cleaned, removed, emptied = LineSplit(text, sites).remove(boiler)
    return (text if cleaned is None else cleaned), removed, emptied


# --- 1. signing ---------------------------------------------------------------------------------


def sign_unit(task: Unit, lay: Layout) -> dict:
    """Signatures, exact hashes and survivor keys of one shard; band keys split into partitions."""
    cfg = lay.cfg
    hasher = MinHasher(cfg.num_perm, cfg.ngram, cfg.seed)
    sigs, exacts, quality, length, emptied = [], [], [], [], []
    boiler = _boilerplate(lay)
    columns = ["text"] + (["source", "url"] if len(boiler) else []) + ([lay.quality_column] if lay.quality_column else [])
    with open_raw(task.path) as handle:
        parquet = pq.ParquetFile(handle)
        check_schema(parquet.schema_arrow, task.path, DOCUMENT_SCHEMA)
        for batch in parquet.iter_batches(batch_size=cfg.batch_rows, columns=columns):
            text, _, gone = _clean(batch, lay, boiler)
            emptied.append(gone)
            sig, exact = hasher.sketch(text)
            sigs.append(sig)
            exacts.append(exact)
            length.append(pc.binary_length(text).to_numpy(zero_copy_only=False).astype(np.int64))
            if lay.quality_column:
                q = pc.cast(batch.column(lay.quality_column), pa.float64()).to_numpy(zero_copy_only=False)
                quality.append(np.asarray(q, np.float64))
            else:
                quality.append(np.full(batch.num_rows, np.nan))
    sig = np.concatenate(sigs) if sigs else np.empty((0, cfg.num_perm), np.uint32)
    exact = np.concatenate(exacts) if exacts else np.empty((0, 2), np.uint64)
    n = len(sig)
    _save_npz(lay.work("sig", f"u{task.unit:05d}.npz"), sig=sig)
    _save_npz(
        lay.work("meta", f"u{task.unit:05d}.npz"),
        exact=exact,
        quality=np.concatenate(quality) if quality else np.empty(0),
        length=np.concatenate(length) if length else np.empty(0, np.int64),
    )
    nodes = cc.node_ids(task.unit, np.arange(n))
    live = ~np.concatenate(emptied) if emptied else np.ones(0, bool)  # emptied by line removal: dropped, not clustered
    has_shingles = (~np.all(sig == EMPTY, axis=1) & live) if n else np.zeros(0, bool)
    keys = band_keys(sig[has_shingles], lay.bands, lay.rows)
    with np.errstate(over="ignore"):
        exact_key = (exact[:, 0] * np.uint64(0x9E3779B97F4A7C15)) ^ exact[:, 1]
    all_keys = np.concatenate([keys.ravel(), exact_key[live]])
    all_docs = np.concatenate([np.repeat(nodes[has_shingles], lay.bands), nodes[live]])
    part = (all_keys % np.uint64(lay.partitions)).astype(np.int64)
    for p in range(lay.partitions):
        mask = part == p
        if mask.any():
            _save_npz(lay.work("bands", f"p{p:05d}", f"u{task.unit:05d}.npz"), keys=all_keys[mask], docs=all_docs[mask])
    return {"unit": task.unit, "rows": n, "emptied": int(n - live.sum())}


# --- 2. candidates and verification ---------------------------------------------------------------
#
# Checking a candidate pair needs both documents' signatures, and the pairs of one band partition
# touch every unit: a partition that loads the signatures it needs reads every unit's file, so the
# whole step read units x partitions signature files (quadratic: issue 20). Instead the pairs move to
# the signatures. ``Candidates`` (per band partition) writes its pairs by the unit of their second
# document; ``SendSignatures`` (per unit) reads its own signature file once and sends each pair, with
# that document's signature row, to the unit of the first document; ``Verify`` (per unit) reads its own
# signature file once and keeps the pairs whose estimate reaches ``threshold - verify_slack``. Every
# signature file is read twice, whatever the corpus size; a pair found in several bands is checked once.


def _unit_signatures(lay: Layout, unit: int) -> np.ndarray:
    return _load_npz(lay.work("sig", f"u{unit:05d}.npz"))["sig"]


def partition_candidates(p: int, lay: Layout) -> dict:
    """Candidate pairs (star edges of the LSH buckets) of band partition ``p``, written by the unit of
    their second document."""
    parts = [_load_npz(f) for f in _files(lay.work("bands", f"p{p:05d}"), "u*.npz")]
    if not parts:
        return {"partition": p, "candidates": 0}
    candidates = bucket_edges(np.concatenate([x["keys"] for x in parts]), np.concatenate([x["docs"] for x in parts]))
    for unit, idx in _split_by_unit(candidates[:, 1]) if len(candidates) else []:
        _save_npy(lay.work("cand", f"u{unit:05d}", f"p{p:05d}.npy"), candidates[idx])
    return {"partition": p, "candidates": int(len(candidates))}


def send_signatures(unit: int, lay: Layout) -> dict:
    """The distinct candidate pairs whose second document lives in ``unit``, each with that document's
    signature row, sent to the unit of the first document."""
    parts = [_load_npy(f) for f in _files(lay.work("cand", f"u{unit:05d}"), "p*.npy")]
    pairs = unique_edges(np.concatenate(parts)) if parts else np.empty((0, 2), np.int64)
    if len(pairs):
        second = _unit_signatures(lay, unit)[cc.row_of(pairs[:, 1])]
        for dest, idx in _split_by_unit(pairs[:, 0]):
            _save_npz(lay.work("pairs", f"to{dest:05d}", f"from{unit:05d}.npz"), pairs=pairs[idx], sig=second[idx])
    return {"unit": unit, "candidates": int(len(pairs))}


def verify_unit(unit: int, lay: Layout) -> dict:
    """Duplicate edges of the candidate pairs whose first document lives in ``unit``: the pair's
    signature estimate reaches ``threshold - verify_slack``. Written by the unit of their first end (both
    directions when components run distributed: label propagation sends along both)."""
    received = [_load_npz(f) for f in _files(lay.work("pairs", f"to{unit:05d}"), "from*.npz")]
    if not received:
        return {"unit": unit, "edges": 0}
    own = _unit_signatures(lay, unit)
    edges = []
    for part in received:
        estimate = np.mean(own[cc.row_of(part["pairs"][:, 0])] == part["sig"], axis=1)
        edges.append(part["pairs"][estimate >= lay.cfg.threshold - lay.cfg.verify_slack])
    edges = np.concatenate(edges)
    verified = int(len(edges))
    if lay.components != "local" and verified:
        edges = np.concatenate([edges, edges[:, ::-1]])
    for dest, idx in _split_by_unit(edges[:, 0]) if verified else []:
        _save_npy(lay.work("edges", f"u{dest:05d}", f"from{unit:05d}.npy"), edges[idx])
    return {"unit": unit, "edges": verified}


# --- 3. connected components -------------------------------------------------------------------


def _unit_edges(lay: Layout, unit: int) -> np.ndarray:
    parts = [_load_npy(f) for f in _files(lay.work("edges", f"u{unit:05d}"), "from*.npy")]
    return unique_edges(np.concatenate(parts)) if parts else np.empty((0, 2), np.int64)


def _state_path(lay: Layout, unit: int, round_: int) -> str:
    return lay.work("cc", f"r{round_:04d}-u{unit:05d}.npz")


def cc_init(unit: int, lay: Layout) -> int:
    edges = _unit_edges(lay, unit)
    nodes, labels = cc.initial_labels(edges)
    _save_npz(_state_path(lay, unit, 0), nodes=nodes, labels=labels, edges=edges)
    return int(len(nodes))


def cc_send(unit: int, round_: int, lay: Layout) -> int:
    state = _load_npz(_state_path(lay, unit, round_))
    targets, values = cc.messages(state["nodes"], state["labels"], state["edges"])
    for dest, idx in _split_by_unit(targets) if len(targets) else []:
        _save_npz(lay.work("msg", f"r{round_:04d}", f"to{dest:05d}", f"from{unit:05d}.npz"), targets=targets[idx], values=values[idx])
    return int(len(targets))


def cc_receive(unit: int, round_: int, lay: Layout) -> int:
    state = _load_npz(_state_path(lay, unit, round_))
    msgs = [_load_npz(f) for f in _files(lay.work("msg", f"r{round_:04d}", f"to{unit:05d}"), "from*.npz")]
    targets = np.concatenate([m["targets"] for m in msgs]) if msgs else np.empty(0, np.int64)
    values = np.concatenate([m["values"] for m in msgs]) if msgs else np.empty(0, np.int64)
    labels, changed = cc.apply_messages(state["nodes"], state["labels"], targets, values)
    _save_npz(_state_path(lay, unit, round_ + 1), nodes=state["nodes"], labels=labels, edges=state["edges"])
    return changed


def _final_path(lay: Layout, unit: int) -> str:
    return lay.work("cc", f"final-u{unit:05d}.npz")


def cc_local(_: int, lay: Layout) -> dict:
    """Connected components of every duplicate edge in one task (when the plan says they fit): each
    node's label is the smallest node of its component, exactly what label propagation converges to."""
    files = _files(lay.work("edges"), "u*/from*.npy")
    edges = np.empty((sum(_npy_rows(f) for f in files), 2), np.int64)  # filled in place: no list + concat copy
    at = 0
    for f in files:
        part = _load_npy(f)
        edges[at : at + len(part)] = part
        at += len(part)
    nodes, labels = cc.component_labels(edges)
    del edges
    for unit, idx in _split_by_unit(nodes) if len(nodes) else []:
        _save_npz(_final_path(lay, unit), nodes=nodes[idx], labels=labels[idx])
    return {"nodes": int(len(nodes)), "clusters": int(np.count_nonzero(nodes == labels))}


def _npy_rows(path: str) -> int:
    """Rows of a saved ``.npy`` array, from its header."""
    with open_raw(path) as handle:
        fmt = np.lib.format
        read_header = fmt.read_array_header_1_0 if fmt.read_magic(handle) == (1, 0) else fmt.read_array_header_2_0
        shape, _, _ = read_header(handle)
    return int(shape[0])


# --- 4. survivors ---------------------------------------------------------------------------------


def _read_ids(path: str) -> np.ndarray:
    with open_raw(path) as handle:
        return np.asarray(pq.ParquetFile(handle).read(columns=["id"]).column("id").to_pylist(), dtype=object)


def rank_send(task: Unit, round_: Optional[int], lay: Layout) -> int:
    """Each duplicate node's survivor key, sent to the unit that owns its cluster label (``round_``:
    the converged round of distributed components; None: the local components' result)."""
    path = _final_path(lay, task.unit) if round_ is None else _state_path(lay, task.unit, round_)
    if not exists(path):
        return 0
    state = _load_npz(path)
    nodes, labels = state["nodes"], state["labels"]
    if not len(nodes):
        return 0
    meta = _load_npz(lay.work("meta", f"u{task.unit:05d}.npz"))
    rows = cc.row_of(nodes)
    ids = _read_ids(task.path)[rows]
    # one task chooses every survivor after local components: one file per unit, not one per pair of units
    split = [(ALL_LABELS, np.arange(len(nodes)))] if round_ is None else _split_by_unit(labels)
    for dest, idx in split:
        r = rows[idx]
        table = pa.table(
            {
                "label": labels[idx],
                "node": nodes[idx],
                "quality": meta["quality"][r],
                "length": meta["length"][r],
                "exact0": meta["exact"][r, 0],
                "exact1": meta["exact"][r, 1],
                "id": pa.array(list(ids[idx]), pa.string()),
            }
        )
        _save_table(lay.work("rank", f"to{dest:05d}", f"from{task.unit:05d}.parquet"), table)
    return int(len(nodes))


def choose_unit(unit: int, lay: Layout) -> int:
    """Pick the survivor of every cluster whose label this unit owns (every cluster when ``unit`` is
    ``ALL_LABELS``: after local components, which held every duplicate node already); send decisions
    to member units."""
    files = _files(lay.work("rank", f"to{unit:05d}"), "from*.parquet")
    if not files:
        return 0
    t = pa.concat_tables([_load_table(f) for f in files])
    labels = t.column("label").to_numpy()
    ids = np.asarray(t.column("id").to_pylist(), dtype=object)
    survivor = cc.choose_survivors(labels, t.column("quality").to_numpy(), t.column("length").to_numpy(), ids)
    exact = np.stack([t.column("exact0").to_numpy(), t.column("exact1").to_numpy()], axis=1)
    uniq, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    best = np.empty(len(uniq), np.int64)
    best[inverse[survivor]] = np.flatnonzero(survivor)
    head = best[inverse]
    same_text = np.all(exact == exact[head], axis=1)
    reason = np.where(survivor, None, np.where(same_text, EXACT, NEAR))
    nodes = t.column("node").to_numpy()
    for dest, idx in _split_by_unit(nodes):
        table = pa.table(
            {
                "node": nodes[idx],
                "cluster_id": pa.array(list(ids[head[idx]]), pa.string()),
                "cluster_size": sizes[inverse[idx]].astype(np.int64),
                "reason": pa.array(list(reason[idx]), pa.string()),
            }
        )
        _save_table(lay.work("decide", f"to{dest:05d}", f"from{unit:05d}.parquet"), table)
    return int(len(uniq))


# --- 5. writing -------------------------------------------------------------------------------------


def write_unit(task: Unit, lay: Layout) -> dict:
    files = _files(lay.work("decide", f"to{task.unit:05d}"), "from*.parquet")
    decided = pa.concat_tables([_load_table(f) for f in files]) if files else None
    rows_with = cc.row_of(decided.column("node").to_numpy()) if decided is not None else np.empty(0, np.int64)
    order = np.argsort(rows_with)
    rows_with = rows_with[order]
    cluster_ids = np.asarray(decided.column("cluster_id").to_pylist(), object)[order] if decided is not None else np.empty(0, object)
    sizes = decided.column("cluster_size").to_numpy()[order] if decided is not None else np.empty(0, np.int64)
    reasons = np.asarray(decided.column("reason").to_pylist(), object)[order] if decided is not None else np.empty(0, object)
    selection = SelectionWriter(task, lay.out_dir, None)  # dedup keeps its own done-markers, not unit summaries
    cluster_parts = []
    start = 0
    boiler = _boilerplate(lay)
    lines = {"lines_removed": 0, "documents_changed": 0, "bytes_removed": 0, "documents_emptied": 0}
    with open_raw(task.path) as handle:
        parquet = pq.ParquetFile(handle)
        for batch in parquet.iter_batches(batch_size=lay.cfg.batch_rows):
            table = pa.Table.from_batches([batch])
            n = table.num_rows
            text, lines_removed, emptied = _clean(batch, lay, boiler)
            if lines_removed.any():
                before = _text_bytes(table)
                i = table.schema.get_field_index("text")
                table = table.set_column(i, table.schema.field(i), text)
                lines["bytes_removed"] += before - _text_bytes(table)
                lines["lines_removed"] += int(lines_removed.sum())
                lines["documents_changed"] += int(np.count_nonzero(lines_removed))
                lines["documents_emptied"] += int(emptied.sum())
            lo, hi = np.searchsorted(rows_with, [start, start + n])
            local = rows_with[lo:hi] - start
            ids = table.column("id").to_pylist()
            cid = list(ids)
            size = np.ones(n, np.int64)
            reason = [EMPTIED if e else None for e in emptied.tolist()]
            for j, r in enumerate(local.tolist()):
                cid[r] = cluster_ids[lo + j]
                size[r] = sizes[lo + j]
                reason[r] = reasons[lo + j]
            if hi > lo:
                cluster_parts.append(pa.table({"id": pa.array([ids[r] for r in local.tolist()], pa.string()), "cluster_id": pa.array(list(cluster_ids[lo:hi]), pa.string())}))
            table = (
                table.append_column("dup_cluster_id", pa.array(cid, pa.string()))
                .append_column("dup_cluster_size", pa.array(size, pa.int64()))
                .append_column(LINES_COLUMN, pa.array(lines_removed, pa.int64()))
            )
            selection.add(table, reason)
            start += n
    if cluster_parts:
        _save_table(lay.work("clusters", f"u{task.unit:05d}.parquet"), pa.concat_tables(cluster_parts))
    return {**selection.close("dedup"), "line_dedup": lines}


def _text_bytes(table: pa.Table) -> int:
    if table.num_rows == 0:
        return 0
    return int(pc.sum(pc.binary_length(table.column("text"))).as_py() or 0)


def write_clusters(lay: Layout) -> int:
    """``clusters.parquet``: (id, cluster_id) of every document with a duplicate, sorted by cluster then id."""
    parts = [_load_table(f) for f in _files(lay.work("clusters"), "u*.parquet")]
    schema = pa.schema([("id", pa.string()), ("cluster_id", pa.string())])
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    table = table.sort_by([("cluster_id", "ascending"), ("id", "ascending")])
    _save_table(join(lay.out_dir, CLUSTERS_NAME), table)
    return table.num_rows


# --- Beam wiring ----------------------------------------------------------------------------------


def _done_path(lay: Layout, label: str, key: int) -> str:
    return lay.work("done", f"{label}-{key:05d}.json")


class _Call(beam.DoFn):
    """Runs ``fn(element, *args)`` once per run: the result is saved in ``_work/done/LABEL-KEY.json``
    with the run's fingerprint, and a task whose result is there already (``--resume``) is skipped.
    Extra side inputs only order the steps (barriers)."""

    def __init__(self, label, lay, fn, *args):
        self.label, self.lay, self.fn, self.args = label, lay, fn, args

    def process(self, element, *barriers):
        key = element.unit if isinstance(element, Unit) else int(element)
        path = _done_path(self.lay, self.label, key)
        done = load_done(path, self.lay.fingerprint)
        if done is not None:
            yield done["result"]
            return
        result = self.fn(element, *self.args)
        save_done(path, {"fingerprint": self.lay.fingerprint, "result": result})
        yield result


def _step(pipeline, label: str, elements: list, fn, lay: Layout, *args, after=None):
    """``elements | Spread | ParDo(fn)``, started only once ``after`` (a PCollection) is complete."""
    side = [beam.pvalue.AsList(after)] if after is not None else []
    return (
        pipeline
        | f"List{label}" >> beam.Create(elements, reshuffle=False)
        | f"Spread{label}" >> Spread()
        | label >> beam.ParDo(_Call(label, lay, fn, *(args + (lay,))), *side)
    )


def _rounds(pipeline, lay: Layout, unit_ids: list, first: int, after=None):
    """``ROUNDS_PER_PIPELINE`` rounds of label propagation chained in one pipeline; each round's count
    of changed labels lands in its ``done`` results."""
    for r in range(first, first + ROUNDS_PER_PIPELINE):
        sent = _step(pipeline, f"Send-r{r:04d}", unit_ids, cc_send, lay, r, after=after)
        after = _step(pipeline, f"Receive-r{r:04d}", unit_ids, cc_receive, lay, r, after=sent)
    return after


def _changed(lay: Layout, round_: int, unit_ids: list) -> int:
    return sum(json.loads(read_bytes(_done_path(lay, f"Receive-r{round_:04d}", u)))["result"] for u in unit_ids)


class _Finish(beam.DoFn):
    def __init__(self, lay: Layout, manifest_writer: WriteManifest):
        self.lay, self.manifest_writer = lay, manifest_writer

    def process(self, summaries):
        extra = {**(self.manifest_writer.extra or {}), "clustered_documents": write_clusters(self.lay)}
        if self.lay.lines_on:
            lines = {k: sum(s["line_dedup"][k] for s in summaries) for k in summaries[0]["line_dedup"]} if summaries else {}
            lines["boilerplate_lines"] = int(len(_boilerplate(self.lay)))
            extra["line_dedup"] = {"mode": self.lay.cfg.line_dedup, "min_docs": self.lay.cfg.line_min_docs, **lines}
        elif self.lay.cfg.line_dedup == "auto":
            extra["line_dedup"] = {"mode": "auto", "skipped": "no crawl (warc/wet) document with a URL in the input"}
        self.manifest_writer.extra = extra
        yield from self.manifest_writer.process(summaries)


class DedupProgress(ProgressLoop):
    """Local progress: tasks done per step (from ``_work/done``), documents written, MB/s, every 2 s."""

    def __init__(self, lay: Layout, steps: list[tuple[str, int]], total_bytes: int, stream=None, interval: float = 2.0):
        super().__init__(stream, interval)
        self.lay, self.steps, self.total_bytes = lay, steps, max(1, total_bytes)
        self._last = None
        self._done: dict[str, int] = {}
        self._docs = self._bytes = 0

    def _scan(self) -> None:
        done: dict[str, int] = {}
        docs = read = 0
        for f in _files(self.lay.work("done"), "*.json"):
            name = f.rsplit("/", 1)[-1]
            step = name.rsplit("-", 1)[0].split("-r")[0]
            done[step] = done.get(step, 0) + 1
            if step == "Write":
                result = json.loads(read_bytes(f))["result"]
                docs += result["counts"]["output"]
                read += result["input_bytes"]
        if done:
            self._done, self._docs, self._bytes = done, docs, read

    def line(self) -> str:
        parts = [f"{name} {self._done.get(name, 0)}/{total}" for name, total in self.steps]
        rate = self._bytes / max(time.time() - self._started, 1e-9)
        return f"[{STAGE}] " + "  ".join(parts) + f"  docs kept {self._docs:,}  {self._bytes / 1e6:,.1f}/{self.total_bytes / 1e6:,.1f} MB  {rate / 1e6:,.2f} MB/s"

    def report(self, final: bool = False) -> None:
        try:
            self._scan()
        except Exception:
            pass  # the work folder may not exist yet, or was just removed
        text = self.line()
        if final or (self._done and text.split("  docs")[0] != self._last):
            self._last = text.split("  docs")[0]
            print(text, file=self.stream, flush=True)


def _detect_quality_column(cfg: DedupConfig, in_dir: str, first_shard: Optional[str]) -> Optional[str]:
    if cfg.quality_column == "none" or first_shard is None:
        return None
    with open_raw(first_shard) as handle:
        schema = pq.ParquetFile(handle).schema_arrow
    if cfg.quality_column != "auto":
        from tailmine.errors import ConfigError

        if cfg.quality_column not in schema.names:
            raise ConfigError(f"quality_column: {cfg.quality_column!r} is not a column of {first_shard}")
        return cfg.quality_column
    numeric = [f.name for f in schema if f.name.startswith("quality_") and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))]
    return sorted(numeric)[0] if numeric else None


def line_step_needed(cfg: DedupConfig, shard_paths: list[str]) -> bool:
    """``line_dedup=auto`` removes lines only from crawl documents (source warc/wet) that have a URL. The
    shards' Parquet statistics tell, from their footers alone, when no document can qualify (every
    ``source`` outside the crawl sources, or every ``url`` null): the step, a full pass over the text,
    is then skipped. When a footer lacks statistics the step runs."""
    from tailmine.dedup.lines import CRAWL_SOURCES

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


def observed_dup_fraction(out_dir: Optional[str], in_dir: str) -> Optional[float]:
    """Share of documents that had a duplicate in the finished dedup run in ``out_dir`` over the same
    input (``clustered_documents / input``), or None when there is no such run to learn from."""
    if not out_dir or not exists(join(out_dir, "manifest.json")):
        return None
    try:
        earlier = read_manifest(out_dir)
    except Exception as exc:  # an unreadable earlier output only means the rate is unknown
        log.warning("%s: no duplicate rate learnt from the earlier run (%s)", out_dir, exc)
        return None
    _, shards = stage_shards(in_dir)
    shape = lambda path, rows, size: (str(path).rsplit("/", 1)[-1], int(rows), int(size))
    same_input = [shape(i.get("path", ""), i.get("rows", -1), i.get("bytes", -1)) for i in earlier.inputs] == [shape(s.path, s.rows, s.bytes) for s in shards]
    if earlier.stage != STAGE or not same_input or not earlier.counts.input:
        return None
    return int(earlier.extra.get("clustered_documents", 0)) / earlier.counts.input


def make_plan(in_dir: str, cfg: DedupConfig, out_dir: Optional[str] = None) -> tuple[DedupPlan, list[Unit]]:
    """The plan and the units; with ``out_dir``, the memory figures use the duplicate rate an earlier
    run there observed (see :func:`observed_dup_fraction`)."""
    manifest, shards = stage_shards(in_dir)
    units = shard_tasks(in_dir, shards)
    text_bytes = int(manifest.extra.get("text_bytes", 0)) if manifest.extra else 0
    if not text_bytes:
        text_bytes = sum(s.bytes for s in shards) * 3  # Parquet shards are zstd text: about 1/3 of the raw size
    observed = observed_dup_fraction(out_dir, in_dir)
    return plan(sum(u.rows for u in units), text_bytes, [u.rows for u in units], cfg, sum(s.bytes for s in shards), observed), units


def run(
    in_dir: str,
    out_dir: str,
    cfg: DedupConfig | None = None,
    beam_args: Optional[list[str]] = None,
    force: bool = False,
    progress: bool = True,
    resume: bool = False,
) -> Manifest:
    """Run the dedup stage over the finished stage in ``in_dir``; return the manifest written to ``out_dir``.

    ``resume``: keep the tasks an interrupted run with the same parameters and inputs finished (any
    other earlier output in ``out_dir`` is replaced)."""
    from tailmine.pipelines.options import is_local_runner

    cfg = cfg or DedupConfig()
    the_plan, units = make_plan(in_dir, cfg)
    inputs = [{"path": u.path, "bytes": u.bytes, "rows": u.rows} for u in units]
    quality_column = _detect_quality_column(cfg, in_dir, units[0].path if units else None)
    run_fp = fingerprint({"stage": STAGE, "config": cfg.to_dict(), "inputs": inputs, "plan": the_plan.to_dict(), "quality": quality_column})
    fp_path = join(out_dir, WORK_DIR, "fingerprint.json")
    kept = resume and load_done(fp_path, run_fp) is not None
    if not kept:
        prepare_output(out_dir, force or resume, resume=False, subdirs=(DOCS_DIR, REMOVED_DIR, WORK_DIR, CLUSTERS_NAME))
        save_done(fp_path, {"fingerprint": run_fp})
    lay = Layout(
        out_dir, cfg, the_plan.bands, the_plan.rows, the_plan.band_partitions, len(units), quality_column,
        the_plan.components, run_fp, line_step_needed(cfg, [u.path for u in units]),
    )
    log.info("%s", the_plan.describe())
    unit_ids = [u.unit for u in units]
    partitions = list(range(lay.partitions))
    options = pipeline_options(beam_args)
    local = lay.components == "local"
    parameters = {**cfg.to_dict(), "bands": lay.bands, "rows": lay.rows, "band_partitions": lay.partitions, "quality_column": lay.quality_column}
    total_bytes = sum(u.bytes for u in units)
    steps = ([("LineKeys", len(units)), ("LineCounts", len(partitions))] if lay.lines_on else [])
    steps += [("Sign", len(units)), ("Candidates", len(partitions)), ("SendSignatures", len(units)), ("Verify", len(units))]
    steps += [("Components", 1)] if local else [("InitComponents", len(units))]
    steps += [("RankSend", len(units)), ("ChooseSurvivors", 1 if local else len(units)), ("Write", len(units))]
    show = DedupProgress(lay, steps, total_bytes) if progress and is_local_runner(options) and units else None

    def front(p):
        """Line step, signing, candidates and component state: everything before the survivors."""
        after = None
        if lay.lines_on:
            keyed = _step(p, "LineKeys", units, line_keys_unit, lay)
            after = _step(p, "LineCounts", partitions, line_counts_partition, lay, after=keyed)
        signed = _step(p, "Sign", units, sign_unit, lay, after=after)
        candidates = _step(p, "Candidates", partitions, partition_candidates, lay, after=signed)
        sent = _step(p, "SendSignatures", unit_ids, send_signatures, lay, after=candidates)
        edges = _step(p, "Verify", unit_ids, verify_unit, lay, after=sent)
        if local:
            return _step(p, "Components", [0], cc_local, lay, after=edges)
        return _step(p, "InitComponents", unit_ids, cc_init, lay, after=edges)

    def back(p, round_, after):
        extra = {"components": lay.components, "component_rounds": round_ or 0, "plan": the_plan.to_dict()}
        ranked = _step(p, "RankSend", units, rank_send, lay, round_, after=after)
        chosen = _step(p, "ChooseSurvivors", [ALL_LABELS] if round_ is None else unit_ids, choose_unit, lay, after=ranked)
        (
            _step(p, "Write", units, write_unit, lay, after=chosen)
            | "CollectSummaries" >> beam.combiners.ToList()
            | "WriteManifest" >> beam.ParDo(_Finish(lay, WriteManifest(STAGE, out_dir, parameters, inputs, extra)))
        )

    def go(p):
        return finish(p, out_dir, STAGE, len(units), total_bytes, progress=False)

    if show:
        show.__enter__()
    try:
        if local:  # the whole stage is one pipeline
            p = beam.Pipeline(options=options)
            back(p, None, front(p))
            return go(p)
        # distributed components: front + rounds, more rounds while labels change, then survivors
        first, round_ = 0, None
        while round_ is None:
            with local_workers(options), beam.Pipeline(options=options) as p:
                _rounds(p, lay, unit_ids, first, after=front(p) if first == 0 else None)
            for r in range(first, first + ROUNDS_PER_PIPELINE):
                if not units or _changed(lay, r, unit_ids) == 0:
                    round_ = r + 1  # the state written by the first round that changed nothing
                    break
            first += ROUNDS_PER_PIPELINE
        p = beam.Pipeline(options=options)
        back(p, round_, None)
        return go(p)
    finally:
        if show:
            show.__exit__(None, None, None)


# --- command line: `tailmine dedup` -------------------------------------------------------------


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from tailmine.cli import summarize
    from tailmine.stages import config_from_args

    cfg = config_from_args(DedupConfig, args)
    if args.plan:
        print(make_plan(args.in_dir, cfg, args.out)[0].describe())
        return 0
    manifest = run(args.in_dir, args.out, cfg, beam_args, force=args.force, progress=args.progress, resume=args.resume)
    print(summarize(manifest, args.out))
    return 0
