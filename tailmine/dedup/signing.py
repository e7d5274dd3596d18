"""Steps 1 and 2 of the dedup stage: sign each shard (MinHash signatures, exact-text keys, band keys split
into partitions), find candidate pairs per band partition, and verify them where the signatures live."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tailmine.dedup import components as cc
from tailmine.dedup.line_step import boilerplate, clean_batch
from tailmine.dedup.lsh import band_keys, bucket_edges, unique_edges
from tailmine.dedup.minhash import EMPTY, MinHasher
from tailmine.dedup.work import Layout, load_npy, load_npz, save_npy, save_npz, split_by_unit, work_files
from tailmine.fileio import open_raw
from tailmine.runtime import ShardTask as Unit
from tailmine.schemas.document import DOCUMENT_SCHEMA, check_schema


def meeting_keys(sig: np.ndarray, exact: np.ndarray, nodes: np.ndarray, live: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``(keys, nodes)``: the keys under which documents meet as candidates: the LSH band keys of each
    live document with shingles, and the exact-text key of every live document (so two empty or
    shingle-less texts that are equal still meet). Documents emptied by line removal (not ``live``)
    meet nobody."""
    has_shingles = (~np.all(sig == EMPTY, axis=1) & live) if len(sig) else np.zeros(0, bool)
    keys = band_keys(sig[has_shingles], bands, rows)
    with np.errstate(over="ignore"):
        exact_key = (exact[:, 0] * np.uint64(0x9E3779B97F4A7C15)) ^ exact[:, 1]
    return np.concatenate([keys.ravel(), exact_key[live]]), np.concatenate([np.repeat(nodes[has_shingles], bands), nodes[live]])


def verified_pairs(pairs: np.ndarray, first: np.ndarray, second: np.ndarray, cfg) -> np.ndarray:
    """The ``pairs`` whose signature rows ``first``/``second`` agree on at least ``threshold - verify_slack``
    of the permutations (the MinHash estimate of their Jaccard similarity)."""
    return pairs[np.mean(first == second, axis=1) >= cfg.threshold - cfg.verify_slack]


def sign_unit(task: Unit, lay: Layout) -> dict:
    """Signatures, exact hashes and survivor keys of one shard; band keys split into partitions."""
    cfg = lay.cfg
    hasher = MinHasher(cfg.num_perm, cfg.ngram, cfg.seed)
    sigs, exacts, quality, length, emptied = [], [], [], [], []
    boiler = boilerplate(lay)
    columns = ["text"] + (["source", "url"] if len(boiler) else []) + ([lay.quality_column] if lay.quality_column else [])
    with open_raw(task.path) as handle:
        parquet = pq.ParquetFile(handle)
        check_schema(parquet.schema_arrow, task.path, DOCUMENT_SCHEMA)
        for batch in parquet.iter_batches(batch_size=cfg.batch_rows, columns=columns):
            text, _, gone = clean_batch(batch, lay, boiler)
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
    save_npz(lay.work("sig", f"u{task.unit:05d}.npz"), sig=sig)
    save_npz(
        lay.work("meta", f"u{task.unit:05d}.npz"),
        exact=exact,
        quality=np.concatenate(quality) if quality else np.empty(0),
        length=np.concatenate(length) if length else np.empty(0, np.int64),
    )
    nodes = cc.node_ids(task.unit, np.arange(n))
    live = ~np.concatenate(emptied) if emptied else np.ones(0, bool)  # emptied by line removal: dropped, not clustered
    all_keys, all_docs = meeting_keys(sig, exact, nodes, live, lay.bands, lay.rows)
    part = (all_keys % np.uint64(lay.partitions)).astype(np.int64)
    for p in range(lay.partitions):
        mask = part == p
        if mask.any():
            save_npz(lay.work("bands", f"p{p:05d}", f"u{task.unit:05d}.npz"), keys=all_keys[mask], docs=all_docs[mask])
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


def unit_signatures(lay: Layout, unit: int) -> np.ndarray:
    return load_npz(lay.work("sig", f"u{unit:05d}.npz"))["sig"]


def partition_candidates(p: int, lay: Layout) -> dict:
    """Candidate pairs (star edges of the LSH buckets) of band partition ``p``, written by the unit of
    their second document."""
    parts = [load_npz(f) for f in work_files(lay.work("bands", f"p{p:05d}"), "u*.npz")]
    if not parts:
        return {"partition": p, "candidates": 0}
    candidates = bucket_edges(np.concatenate([x["keys"] for x in parts]), np.concatenate([x["docs"] for x in parts]))
    for unit, idx in split_by_unit(candidates[:, 1]) if len(candidates) else []:
        save_npy(lay.work("cand", f"u{unit:05d}", f"p{p:05d}.npy"), candidates[idx])
    return {"partition": p, "candidates": int(len(candidates))}


def send_signatures(unit: int, lay: Layout) -> dict:
    """The distinct candidate pairs whose second document lives in ``unit``, each with that document's
    signature row, sent to the unit of the first document."""
    parts = [load_npy(f) for f in work_files(lay.work("cand", f"u{unit:05d}"), "p*.npy")]
    pairs = unique_edges(np.concatenate(parts)) if parts else np.empty((0, 2), np.int64)
    if len(pairs):
        second = unit_signatures(lay, unit)[cc.row_of(pairs[:, 1])]
        for dest, idx in split_by_unit(pairs[:, 0]):
            save_npz(lay.work("pairs", f"to{dest:05d}", f"from{unit:05d}.npz"), pairs=pairs[idx], sig=second[idx])
    return {"unit": unit, "candidates": int(len(pairs))}


def verify_unit(unit: int, lay: Layout) -> dict:
    """Duplicate edges of the candidate pairs whose first document lives in ``unit``: the pair's
    signature estimate reaches ``threshold - verify_slack``. Written by the unit of their first end (both
    directions when components run distributed: label propagation sends along both)."""
    received = [load_npz(f) for f in work_files(lay.work("pairs", f"to{unit:05d}"), "from*.npz")]
    if not received:
        return {"unit": unit, "edges": 0}
    own = unit_signatures(lay, unit)
    edges = []
    for part in received:
        edges.append(verified_pairs(part["pairs"], own[cc.row_of(part["pairs"][:, 0])], part["sig"], lay.cfg))
    edges = np.concatenate(edges)
    verified = int(len(edges))
    if lay.components != "local" and verified:
        edges = np.concatenate([edges, edges[:, ::-1]])
    for dest, idx in split_by_unit(edges[:, 0]) if verified else []:
        save_npy(lay.work("edges", f"u{dest:05d}", f"from{unit:05d}.npy"), edges[idx])
    return {"unit": unit, "edges": verified}
