"""The dedup stage's work folder: where its tasks leave their files, and how they read them back.

Why files: bulky data (signatures, band keys, candidate pairs, component labels) moves between the
stage's tasks through small files in ``OUT/_work`` rather than through a shuffle, so no worker holds the
corpus and every task reads only its own folder (``to{unit}/``, ``p{partition}/``). The helpers go
through :mod:`tailmine.fileio`, so ``gs://`` and ``s3://`` work folders work too.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tailmine.dedup import components as cc
from tailmine.dedup.config import DedupConfig
from tailmine.fileio import join, list_files, open_raw, read_bytes, write_bytes_atomic
from tailmine.runtime import WORK_DIR

STAGE = "dedup"
CLUSTERS_NAME = "clusters.parquet"
EXACT = "exact_duplicate"
NEAR = "near_duplicate"
EMPTIED = "empty_after_line_removal"
LINES_COLUMN = "dup_lines_removed"
CLUSTER_COLUMNS = ("dup_cluster_id", "dup_cluster_size")
ALL_LABELS = (1 << 31) - 1
"""Destination key of the survivor keys when one task chooses every survivor (local components); above
any unit a node id (``unit << 32 | row``, int64) can hold."""


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
    """Whether the line step runs (see :func:`tailmine.dedup.line_step.line_step_needed`)."""

    def work(self, *parts: str) -> str:
        return join(self.out_dir, WORK_DIR, *parts)


# --- small file helpers (npz/parquet through tailmine.fileio so gs:// works) ---------------------


def save_npz(path: str, **arrays) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes_atomic(path, buf.getvalue())


def load_npz(path: str) -> dict:
    with np.load(io.BytesIO(read_bytes(path))) as data:
        return {k: data[k] for k in data.files}


def save_npy(path: str, array: np.ndarray) -> None:
    np.save(buf := io.BytesIO(), array)
    write_bytes_atomic(path, buf.getvalue())


def load_npy(path: str) -> np.ndarray:
    return np.load(io.BytesIO(read_bytes(path)))


def save_table(path: str, table: pa.Table) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    write_bytes_atomic(path, sink.getvalue().to_pybytes())


def load_table(path: str) -> pa.Table:
    return pq.read_table(io.BytesIO(read_bytes(path)))


def work_files(directory: str, pattern: str) -> list[str]:
    """Files in ``directory`` matching ``pattern``. Work files live in one folder per reader (``to{unit}/``,
    ``p{partition}/``): a file system lists a whole folder to match a glob, so one flat folder made every
    task list every other task's files (quadratic in the number of shards)."""
    try:
        return [f.path for f in list_files(directory, pattern)]
    except Exception:
        return []


def split_by_unit(nodes: np.ndarray):
    """Yield ``(unit, index array)`` for the rows of ``nodes`` grouped by their unit, in unit order."""
    units = cc.unit_of(nodes)
    order = np.argsort(units, kind="stable")
    su = units[order]
    bounds = np.flatnonzero(np.diff(su)) + 1
    for chunk in np.split(order, bounds):
        if len(chunk):
            yield int(units[chunk[0]]), chunk


def npy_rows(path: str) -> int:
    """Rows of a saved ``.npy`` array, from its header."""
    with open_raw(path) as handle:
        fmt = np.lib.format
        read_header = fmt.read_array_header_1_0 if fmt.read_magic(handle) == (1, 0) else fmt.read_array_header_2_0
        shape, _, _ = read_header(handle)
    return int(shape[0])
