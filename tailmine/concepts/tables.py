"""What the concepts stage writes besides documents: the concept table and ``fit.json``.

The concept table (concept, df, rank) is sharded: ``concepts-NNNNN.parquet``, one per bucket of
concept ids, each written by the worker that counted that bucket and sorted by rank (see
:mod:`tailmine.concepts.partitioned`). Read it only through :func:`concept_table_paths` /
:func:`iter_concept_tables`, which also read the single ``concepts.parquet`` of earlier versions.
"""
from __future__ import annotations

import io
import json
import math
from typing import Iterator, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tailmine.concepts.fitting import FitConfig, Spectrum, fit_power_law
from tailmine.concepts.sketches import spectrum_missing_mass
from tailmine.fileio import exists, join, list_files, open_raw

CONCEPTS_FILE = "concepts.parquet"  # the single table of earlier versions (still read)
CONCEPT_SHARD_PATTERN = "concepts-*.parquet"
FIT_FILE = "fit.json"


def concept_shard_name(bucket: int) -> str:
    return f"concepts-{bucket:05d}.parquet"


def concept_table_paths(folder: str) -> list[str]:
    """The concept table's files in a concepts stage's output folder, in bucket order: the shards,
    else the single ``concepts.parquet`` of an earlier version, else none."""
    shards = [f.path for f in list_files(folder, CONCEPT_SHARD_PATTERN)]
    if shards:
        return shards
    single = join(folder, CONCEPTS_FILE)
    return [single] if exists(single) else []


def iter_concept_tables(folder: str, columns: Optional[Sequence[str]] = None) -> Iterator[pa.Table]:
    """The concept table one shard at a time (``columns``: e.g. ``["concept", "df"]``), so a reader
    never needs every concept at once. Rows within a shard are in rank order."""
    for path in concept_table_paths(folder):
        yield read_concept_file(path, columns)


def read_concept_file(path: str, columns: Optional[Sequence[str]] = None) -> pa.Table:
    """One file of the concept table (a path from :func:`concept_table_paths`)."""
    with open_raw(path) as handle:
        return pq.read_table(handle, columns=list(columns) if columns is not None else None)


def concept_table(counts) -> pa.Table:
    """(concept, df, rank) of in-memory counts, sorted by df descending then concept so ranks are
    deterministic: every concept of exact counts (the Python API's tables; the stage writes exact mode's
    table shard by shard, :mod:`tailmine.concepts.partitioned`), or sketch mode's heavy hitters (df = the
    Count-Min estimate, an upper bound; ``df_lower`` = the Misra-Gries lower bound)."""
    if counts.mode == "exact":
        _, df, concepts = counts.arrays()
        table = pa.table({"concept": pa.array(concepts, pa.string()), "df": pa.array(df, pa.int64())})
        table = table.sort_by([("df", "descending"), ("concept", "ascending")])  # UTF-8 order = code-point order
        return table.append_column("rank", pa.array(np.arange(1, table.num_rows + 1), pa.int64())).combine_chunks()
    heavy = counts.heavy.counters  # a dict view: build it once
    candidates = sorted(heavy)
    upper = counts.estimate(candidates) if candidates else np.zeros(0, np.int64)
    order = sorted(range(len(candidates)), key=lambda i: (-int(upper[i]), candidates[i]))
    concepts = [candidates[i] for i in order]
    df = [int(upper[i]) for i in order]
    return pa.table(
        {"concept": pa.array(concepts, pa.string()), "df": pa.array(df, pa.int64()), "rank": pa.array(range(1, len(df) + 1), pa.int64()),
         "df_lower": pa.array([heavy[c] for c in concepts], pa.int64())}
    )


def table_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def exact_counting(values, counts) -> dict:
    """fit.json's ``counting`` block for exact mode, from the summed spectrum."""
    values, counts = np.asarray(values, np.int64), np.asarray(counts, np.int64)
    return {"mode": "exact", "distinct_concepts": int(counts.sum()), "incidences": int(np.dot(values, counts)) if len(values) else 0}


def sketch_counting(counts) -> tuple[dict, np.ndarray]:
    """fit.json's ``counting`` block for sketch mode and the dfs of the exact-df sample (for the fit)."""
    dfs = counts.sample.dfs()
    counting = {
        "mode": "sketch",
        "distinct_concepts_estimate": counts.hll.estimate(),
        "distinct_concepts_relative_error": counts.hll.relative_error,
        "incidences": counts.cms.total,
        "count_min": counts.cms.error_bound(),
        "heavy_hitters": {"k": counts.heavy.k, "listed": len(counts.heavy.counters), "max_undercount": counts.heavy.error_bound()},
        "fit_sample": {"concepts": int(len(dfs)), "fraction_of_concepts": counts.sample.fraction()},
    }
    return counting, dfs


def fit_summary(documents: int, counting: dict, values, counts, cfg) -> dict:
    """fit.json: the power-law fit of concept dfs plus the counting statistics, no wall-clock. The
    dfs come as their spectrum (``values`` ascending, ``counts`` concepts each): the fit and the
    Good-Turing estimate need nothing else."""
    values, counts = np.asarray(values, np.int64), np.asarray(counts, np.int64)
    summary = {
        "documents": documents,
        "counting": counting,
        "good_turing_missing_mass": spectrum_missing_mass(values, counts),
        "singleton_concepts": int(counts[values == 1].sum()),
        "tail_df_range": list(cfg.tail_df_range(documents)),
    }
    try:
        fit = fit_power_law(Spectrum.of_frequencies(values, counts), FitConfig(bootstrap=cfg.bootstrap, min_tail=cfg.fit_min_tail, seed=cfg.seed))
        summary["power_law"] = _finite(fit.to_dict())
    except ValueError as exc:
        summary["power_law"] = None
        summary["power_law_error"] = str(exc)
    return summary


def _finite(value):
    """JSON has no NaN/inf: write them as null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return _finite(value.item())
    return value


def fit_json(summary: dict) -> bytes:
    return (json.dumps(summary, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
