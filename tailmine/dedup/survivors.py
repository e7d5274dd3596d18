"""Steps 4 and 5 of the dedup stage: choose one survivor per cluster (highest quality score, then
longest text, then smallest id), then write each shard's kept and removed documents and the
``clusters.parquet`` listing."""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tailmine.dedup import components as cc
from tailmine.dedup.line_step import boilerplate, clean_batch
from tailmine.dedup.clustering import final_path, state_path
from tailmine.dedup.work import (
    ALL_LABELS, CLUSTERS_NAME, EMPTIED, EXACT, LINES_COLUMN, NEAR, Layout, load_npz, load_table, save_table, split_by_unit,
    work_files,
)
from tailmine.fileio import exists, join, open_raw
from tailmine.runtime import SelectionWriter
from tailmine.runtime import ShardTask as Unit


def read_ids(path: str) -> np.ndarray:
    with open_raw(path) as handle:
        return np.asarray(pq.ParquetFile(handle).read(columns=["id"]).column("id").to_pylist(), dtype=object)


def rank_send(task: Unit, round_: Optional[int], lay: Layout) -> int:
    """Each duplicate node's survivor key, sent to the unit that owns its cluster label (``round_``:
    the converged round of distributed components; None: the local components' result)."""
    path = final_path(lay, task.unit) if round_ is None else state_path(lay, task.unit, round_)
    if not exists(path):
        return 0
    state = load_npz(path)
    nodes, labels = state["nodes"], state["labels"]
    if not len(nodes):
        return 0
    meta = load_npz(lay.work("meta", f"u{task.unit:05d}.npz"))
    rows = cc.row_of(nodes)
    ids = read_ids(task.path)[rows]
    # one task chooses every survivor after local components: one file per unit, not one per pair of units
    split = [(ALL_LABELS, np.arange(len(nodes)))] if round_ is None else split_by_unit(labels)
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
        save_table(lay.work("rank", f"to{dest:05d}", f"from{task.unit:05d}.parquet"), table)
    return int(len(nodes))


def cluster_decisions(labels: np.ndarray, quality: np.ndarray, length: np.ndarray, ids: np.ndarray, exact: np.ndarray):
    """For members of duplicate clusters (``labels``: their cluster), ``(head, size, reason)`` per row:
    the row of its cluster's survivor (:func:`tailmine.dedup.components.choose_survivors`), the cluster's
    size (int64), and None for the survivor, else ``exact_duplicate`` (same normalised text as the
    survivor: equal ``exact`` hashes) or ``near_duplicate``."""
    survivor = cc.choose_survivors(labels, quality, length, ids)
    uniq, inverse, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    best = np.empty(len(uniq), np.int64)
    best[inverse[survivor]] = np.flatnonzero(survivor)
    head = best[inverse]
    same_text = np.all(exact == exact[head], axis=1)
    reason = np.where(survivor, None, np.where(same_text, EXACT, NEAR))
    return head, sizes[inverse].astype(np.int64), reason


def choose_unit(unit: int, lay: Layout) -> int:
    """Pick the survivor of every cluster whose label this unit owns (every cluster when ``unit`` is
    ``ALL_LABELS``: after local components, which held every duplicate node already); send decisions
    to member units."""
    files = work_files(lay.work("rank", f"to{unit:05d}"), "from*.parquet")
    if not files:
        return 0
    t = pa.concat_tables([load_table(f) for f in files])
    labels = t.column("label").to_numpy()
    ids = np.asarray(t.column("id").to_pylist(), dtype=object)
    exact = np.stack([t.column("exact0").to_numpy(), t.column("exact1").to_numpy()], axis=1)
    head, size, reason = cluster_decisions(labels, t.column("quality").to_numpy(), t.column("length").to_numpy(), ids, exact)
    nodes = t.column("node").to_numpy()
    for dest, idx in split_by_unit(nodes):
        table = pa.table(
            {
                "node": nodes[idx],
                "cluster_id": pa.array(list(ids[head[idx]]), pa.string()),
                "cluster_size": size[idx],
                "reason": pa.array(list(reason[idx]), pa.string()),
            }
        )
        save_table(lay.work("decide", f"to{dest:05d}", f"from{unit:05d}.parquet"), table)
    return int(len(np.unique(labels)))


# --- writing -------------------------------------------------------------------------------------


def write_unit(task: Unit, lay: Layout) -> dict:
    files = work_files(lay.work("decide", f"to{task.unit:05d}"), "from*.parquet")
    decided = pa.concat_tables([load_table(f) for f in files]) if files else None
    rows_with = cc.row_of(decided.column("node").to_numpy()) if decided is not None else np.empty(0, np.int64)
    order = np.argsort(rows_with)
    rows_with = rows_with[order]
    cluster_ids = np.asarray(decided.column("cluster_id").to_pylist(), object)[order] if decided is not None else np.empty(0, object)
    sizes = decided.column("cluster_size").to_numpy()[order] if decided is not None else np.empty(0, np.int64)
    reasons = np.asarray(decided.column("reason").to_pylist(), object)[order] if decided is not None else np.empty(0, object)
    selection = SelectionWriter(task, lay.out_dir, None)  # dedup keeps its own done-markers, not unit summaries
    cluster_parts = []
    start = 0
    boiler = boilerplate(lay)
    lines = {"lines_removed": 0, "documents_changed": 0, "bytes_removed": 0, "documents_emptied": 0}
    with open_raw(task.path) as handle:
        parquet = pq.ParquetFile(handle)
        for batch in parquet.iter_batches(batch_size=lay.cfg.batch_rows):
            table = pa.Table.from_batches([batch])
            n = table.num_rows
            text, lines_removed, emptied = clean_batch(batch, lay, boiler)
            if lines_removed.any():
                before = text_bytes(table)
                i = table.schema.get_field_index("text")
                table = table.set_column(i, table.schema.field(i), text)
                lines["bytes_removed"] += before - text_bytes(table)
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
        save_table(lay.work("clusters", f"u{task.unit:05d}.parquet"), pa.concat_tables(cluster_parts))
    return {**selection.close("dedup"), "line_dedup": lines}


def text_bytes(table: pa.Table) -> int:
    if table.num_rows == 0:
        return 0
    return int(pc.sum(pc.binary_length(table.column("text"))).as_py() or 0)


def write_clusters(lay: Layout) -> int:
    """``clusters.parquet``: (id, cluster_id) of every document with a duplicate, sorted by cluster then id."""
    parts = [load_table(f) for f in work_files(lay.work("clusters"), "u*.parquet")]
    schema = pa.schema([("id", pa.string()), ("cluster_id", pa.string())])
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    table = table.sort_by([("cluster_id", "ascending"), ("id", "ascending")])
    save_table(join(lay.out_dir, CLUSTERS_NAME), table)
    return table.num_rows
