"""Exact concept counts sharded by concept id, so no process ever holds the whole vocabulary.

Exact document frequencies grow with the number of distinct concepts (10.4M at 1.6M short documents):
merging them on one worker, or handing them to every annotation worker, does not scale. Instead the
counts go through a shuffle written as files, the same shape the dedup stage uses:

1. :func:`write_unit_parts` (per input shard ``u``): the shard's partial counts (distinct concept ids,
   their df in the shard, their strings) split into ``P`` buckets by the top bits of the id, one
   file ``parts/b{b}/u{u}.arrow`` per bucket (every file written, empty or not).
2. :func:`merge_bucket` (per bucket ``b``): reads ``parts/b{b}/u*.arrow`` (each file read once),
   sums the dfs, writes the bucket's concepts sorted by (df descending, concept) to
   ``merged/b{b}.arrow``, and for every shard ``u`` the global df of the concepts that shard holds
   (``lookup/u{u}/b{b}.npz``). Returns the bucket's frequency spectrum (df -> number of concepts).
3. :func:`rank_bucket` (per bucket ``b``): given every bucket's spectrum (a few thousand numbers
   each), gives its concepts their global rank and writes ``concepts-{b}.parquet``.
4. :func:`unit_lookup` (per input shard ``u``, in the annotation pass): concatenates
   ``lookup/u{u}/b*.npz``: the df of every concept of that shard and nothing else.

Memory per task is one shard's distinct concepts or one bucket of them; the power-law fit needs only
the summed spectrum (:func:`merge_spectra`). Ranks are ordinal and deterministic: by df descending,
ties by bucket then concept (with one bucket that is exactly "ties by concept").
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tailmine.concepts.sketches import _sum_by_key, sorted_lookup
from tailmine.concepts.tables import concept_shard_name, table_bytes
from tailmine.errors import ManifestError
from tailmine.fileio import exists, join, read_bytes, write_bytes_atomic

MAX_PARTITION_BITS = 12  # 4,096 buckets: shards x buckets files; beyond that use a runner's shuffle


def partition_bits(units: int) -> int:
    """log2 of the bucket count: the first power of two >= the number of input shards, so a bucket
    holds about as many concepts as one shard does, whatever the corpus size."""
    return min(max(int(units) - 1, 0).bit_length(), MAX_PARTITION_BITS)


@dataclass(frozen=True)
class ConceptShuffle:
    """Where the shuffle's files live: ``work`` (a folder under the stage's ``_work``), the output
    folder for ``concepts-NNNNN.parquet``, the number of input shards and of bucket bits."""

    work: str
    out_dir: str
    units: int
    bits: int

    @property
    def buckets(self) -> int:
        return 1 << self.bits

    def part(self, bucket: int, unit: int) -> str:
        return join(self.work, "parts", f"b{bucket:05d}", f"u{unit:05d}.arrow")

    def merged(self, bucket: int) -> str:
        return join(self.work, "merged", f"b{bucket:05d}.arrow")

    def lookup(self, unit: int, bucket: int) -> str:
        return join(self.work, "lookup", f"u{unit:05d}", f"b{bucket:05d}.npz")

    def bucket_of(self, hashes: np.ndarray) -> np.ndarray:
        if self.bits == 0:
            return np.zeros(len(hashes), np.int64)
        return (np.asarray(hashes, np.uint64) >> np.uint64(64 - self.bits)).astype(np.int64)

    def bounds(self, sorted_hashes: np.ndarray) -> np.ndarray:
        """Start offsets of each bucket (and the end) in ids sorted ascending: buckets are id ranges."""
        if self.bits == 0:
            return np.array([0, len(sorted_hashes)], np.int64)
        edges = np.arange(1, self.buckets, dtype=np.uint64) << np.uint64(64 - self.bits)
        return np.concatenate(([0], np.searchsorted(sorted_hashes, edges), [len(sorted_hashes)])).astype(np.int64)


PART_SCHEMA = pa.schema([("hash", pa.uint64()), ("df", pa.int64()), ("concept", pa.string())])


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _read_ipc(path: str) -> pa.Table:
    if not exists(path):
        raise ManifestError(f"concepts: shuffle file {path} is missing (an earlier step did not finish)")
    return pa.ipc.open_file(pa.BufferReader(read_bytes(path))).read_all()


def write_unit_parts(shuffle: ConceptShuffle, unit: int, counts) -> int:
    """Step 1: write shard ``unit``'s partial :class:`~tailmine.concepts.sketches.ExactCounts`, one
    file per bucket; returns the number of distinct concepts written."""
    hashes, dfs, concepts = counts.arrays()
    edges = shuffle.bounds(hashes)
    for b in range(shuffle.buckets):
        a, z = int(edges[b]), int(edges[b + 1])
        part = pa.table({"hash": pa.array(hashes[a:z], pa.uint64()), "df": pa.array(dfs[a:z], pa.int64()), "concept": concepts.slice(a, z - a)}, schema=PART_SCHEMA)
        write_bytes_atomic(shuffle.part(b, unit), _ipc_bytes(part))
    return int(len(hashes))


def spectrum_of(dfs: np.ndarray) -> tuple[list[int], list[int]]:
    """(distinct df values ascending, how many concepts have each): the frequency of frequencies."""
    values, counts = np.unique(np.asarray(dfs, np.int64), return_counts=True)
    return values.tolist(), counts.tolist()


def merge_spectra(spectra) -> tuple[np.ndarray, np.ndarray]:
    """Sum of several (values, counts) spectra, as arrays (values ascending)."""
    values = np.concatenate([np.asarray(s[0], np.int64) for s in spectra]) if spectra else np.zeros(0, np.int64)
    counts = np.concatenate([np.asarray(s[1], np.int64) for s in spectra]) if spectra else np.zeros(0, np.int64)
    keys, inverse = np.unique(values, return_inverse=True)
    return keys, np.bincount(inverse, weights=counts, minlength=len(keys)).astype(np.int64)


def merge_bucket(shuffle: ConceptShuffle, bucket: int) -> dict:
    """Step 2: sum bucket ``bucket`` over every shard; write its sorted table and every shard's
    lookup slice; return its spectrum and totals."""
    parts = [_read_ipc(shuffle.part(bucket, u)) for u in range(shuffle.units)]
    table = pa.concat_tables(parts) if parts else PART_SCHEMA.empty_table()
    keys, total, first = _sum_by_key(table.column("hash").to_numpy(), table.column("df").to_numpy())
    for u, part in enumerate(parts):
        mine = part.column("hash").to_numpy()  # sorted, a subset of keys
        dfs = total[np.searchsorted(keys, mine)] if len(mine) else np.zeros(0, np.int64)
        sink = io.BytesIO()
        np.savez(sink, hashes=mine.astype(np.uint64), dfs=dfs.astype(np.int64))
        write_bytes_atomic(shuffle.lookup(u, bucket), sink.getvalue())
    merged = pa.table({"concept": table.column("concept").take(pa.array(first)), "df": pa.array(total, pa.int64())})
    merged = merged.sort_by([("df", "descending"), ("concept", "ascending")])  # UTF-8 byte order = code-point order
    write_bytes_atomic(shuffle.merged(bucket), _ipc_bytes(merged))
    values, counts = spectrum_of(total)
    return {"bucket": bucket, "values": values, "counts": counts, "distinct": int(len(keys)), "incidences": int(total.sum())}


def rank_offsets(spectra: list[dict], bucket: int, dfs: np.ndarray) -> np.ndarray:
    """For each df in ``dfs`` (one bucket's, sorted descending): how many concepts rank before the
    first concept of that df in this bucket: every concept with a larger df, plus those with the same
    df in lower buckets."""
    values, counts = merge_spectra([(s["values"], s["counts"]) for s in spectra])
    larger = np.concatenate((np.cumsum(counts[::-1])[::-1][1:], [0]))  # concepts with df > values[i]
    before = larger[np.searchsorted(values, dfs)] if len(values) else np.zeros(len(dfs), np.int64)
    for s in spectra:
        if s["bucket"] < bucket and len(s["values"]):
            v, c = np.asarray(s["values"], np.int64), np.asarray(s["counts"], np.int64)
            pos = np.minimum(np.searchsorted(v, dfs), len(v) - 1)
            before = before + np.where(v[pos] == dfs, c[pos], 0)
    return before


def rank_bucket(shuffle: ConceptShuffle, bucket: int, spectra: list[dict]) -> int:
    """Step 3: write ``concepts-{bucket}.parquet`` (concept, df, rank), sorted by rank; returns rows."""
    merged = _read_ipc(shuffle.merged(bucket))
    dfs = merged.column("df").to_numpy()
    n = len(dfs)
    if n:
        starts = np.flatnonzero(np.concatenate(([True], dfs[1:] != dfs[:-1])))
        within = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
        ranks = rank_offsets(spectra, bucket, dfs) + within + 1
    else:
        ranks = np.zeros(0, np.int64)
    table = merged.append_column("rank", pa.array(ranks, pa.int64())).combine_chunks()
    write_bytes_atomic(join(shuffle.out_dir, concept_shard_name(bucket)), table_bytes(table))
    return n


class UnitLookup:
    """df of the concepts of one input shard (sorted ids), read from the shuffle: what the annotation
    of that shard needs and nothing more. Quacks like ``ExactCounts`` for ``ConceptRarityStep``."""

    mode = "exact"

    def __init__(self, hashes: np.ndarray, dfs: np.ndarray):
        self.hashes, self.dfs = hashes, dfs

    def lookup(self, hashes: np.ndarray, default: int = 1) -> np.ndarray:
        return sorted_lookup(self.hashes, self.dfs, hashes, default)


def unit_lookup(shuffle: ConceptShuffle, unit: int) -> UnitLookup:
    """Step 4: the lookup for shard ``unit`` (buckets are id ranges, so concatenating them in order
    keeps the ids sorted)."""
    hashes, dfs = [], []
    for b in range(shuffle.buckets):
        path = shuffle.lookup(unit, b)
        if not exists(path):
            raise ManifestError(f"concepts: shuffle file {path} is missing (bucket {b} was not merged)")
        with np.load(io.BytesIO(read_bytes(path))) as data:
            hashes.append(data["hashes"])
            dfs.append(data["dfs"])
    return UnitLookup(np.concatenate(hashes).astype(np.uint64), np.concatenate(dfs).astype(np.int64))
