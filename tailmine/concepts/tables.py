"""What the concepts stage writes besides documents: ``concepts.parquet`` and ``fit.json``."""
from __future__ import annotations

import io
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tailmine.concepts.fitting import FitConfig, fit_power_law
from tailmine.concepts.sketches import good_turing_missing_mass

CONCEPTS_FILE = "concepts.parquet"
FIT_FILE = "fit.json"


def concept_table(counts) -> pa.Table:
    """(concept, df, rank): every concept in exact mode, the heavy hitters in sketch mode (df = the
    Count-Min estimate, an upper bound; ``df_lower`` = the Misra-Gries lower bound). Sorted by df
    descending then concept, so ranks are deterministic."""
    if counts.mode == "exact":
        _, df, concepts = counts.arrays()
        table = pa.table({"concept": concepts, "df": pa.array(df, pa.int64())})
        # UTF-8 byte order is code-point order: the same order as sorting Python strings
        table = table.sort_by([("df", "descending"), ("concept", "ascending")])
        return table.append_column("rank", pa.array(np.arange(1, table.num_rows + 1), pa.int64())).combine_chunks()
    else:
        heavy = counts.heavy.counters  # a dict view: build it once
        candidates = sorted(heavy)
        upper = counts.estimate(candidates) if candidates else np.zeros(0, np.int64)
        order = sorted(range(len(candidates)), key=lambda i: (-int(upper[i]), candidates[i]))
        concepts = [candidates[i] for i in order]
        df = [int(upper[i]) for i in order]
        extra = {"df_lower": pa.array([heavy[c] for c in concepts], pa.int64())}
    return pa.table(
        {"concept": pa.array(concepts, pa.string()), "df": pa.array(df, pa.int64()), "rank": pa.array(range(1, len(df) + 1), pa.int64()), **extra}
    )


def table_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def fit_summary(counts, cfg) -> dict:
    """fit.json: the power-law fit of concept dfs plus the counting statistics, no wall-clock."""
    if counts.mode == "exact":
        dfs = counts.arrays()[1]
        counting = {"mode": "exact", "distinct_concepts": int(len(dfs)), "incidences": int(dfs.sum())}
    else:
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
    summary = {
        "documents": counts.documents,
        "counting": counting,
        "good_turing_missing_mass": good_turing_missing_mass(dfs),
        "singleton_concepts": int(np.count_nonzero(dfs == 1)),
        "tail_df_range": list(cfg.tail_df_range(counts.documents)),
    }
    try:
        fit = fit_power_law(dfs, FitConfig(bootstrap=cfg.bootstrap, min_tail=cfg.fit_min_tail, seed=cfg.seed))
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
