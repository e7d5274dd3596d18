"""The global step of the mix stage: gate, weight, draw repeats, measure.

:func:`plan_mixture` works on the per-unit table that :mod:`tailmine.mixtures.prepare` wrote (one
row per training unit), so it is a pure function of that table, the held-out groups, the config and
the budget (testable without Beam). It returns the repeat counts k_u of the mixture and of a passive
mixture of the same budget, the drop reason of every unit that is not in the pool, and the recipe
sections. :func:`sequence_order` gives the shuffled order of the sequences.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pyarrow as pa

from tailmine.fileio import stable_file_key
from tailmine.mixtures.budget import TokenBudget
from tailmine.mixtures.recipe import exposures, repetition_profile, tail_metrics, weighted_quantiles
from tailmine.mixtures.weights import (document_caps, document_epochs, fit_to_budget, refine_to_budget, source_budgets, trim_documents,
                                       uniform_hash)

NO_BUCKET = "_none"


@dataclass
class Plan:
    k: np.ndarray                      # mixture repeat counts per unit (0 outside the pool)
    k_passive: np.ndarray
    reasons: list                      # drop reason per unit, None for pool units
    keys: list                         # stable per-document keys (hash inputs; one per unit row)
    sections: dict = field(default_factory=dict)
    bucket_table: Optional[pa.Table] = None


def document_keys(work: pa.Table) -> list[str]:
    ids = work.column("id").to_pylist()
    files = work.column("source_file").to_pylist()
    recs = work.column("source_record").to_pylist()
    offs = work.column("source_offset").to_pylist()
    # the file by its stable key, not its full path: the mix must not change when the data moves
    return [f"{i}\x1f{stable_file_key(f)}\x1f{r}\x1f{o}" for i, f, r, o in zip(ids, files, recs, offs)]


def unit_keys(keys: list[str], units: np.ndarray) -> list[str]:
    return [f"{k}\x1f{int(u)}" for k, u in zip(keys, units)]


def _draw(e, tokens, u, budget, caps, doc_codes, limit, cap_note):
    """k per unit: scaled to the budget, trimmed to the document share, refined to the budget again."""
    k, scale = fit_to_budget(e, tokens, u, budget, caps, cap_note=cap_note)
    k, frozen = trim_documents(k, tokens, doc_codes, u, limit)
    caps = np.where(frozen, k, caps)
    return refine_to_budget(k, tokens, u, budget, caps), scale


def _spread(k, tokens, doc_codes) -> dict:
    """Distinct documents and units taken, and the largest single document's share of the tokens."""
    taken = np.asarray(k) * np.asarray(tokens)
    per_doc = np.bincount(doc_codes, weights=taken) if len(doc_codes) else np.zeros(0)
    total = float(taken.sum())
    return {"documents": int(np.count_nonzero(per_doc)), "units": int(np.count_nonzero(k)),
            "largest_document_share": float(per_doc.max() / total) if total else 0.0,
            "largest_document_tokens": int(per_doc.max()) if len(per_doc) else 0}


def plan_mixture(work: pa.Table, contamination: list, cfg, budget: TokenBudget, quality_column: Optional[str],
                 held_groups: frozenset = frozenset()) -> Plan:
    n = work.num_rows
    tokens = work.column("tokens").to_numpy().astype(np.int64)
    groups = work.column("group").to_pylist()
    holdout = np.array([g in held_groups for g in groups], bool)
    quality = np.array([np.nan if v is None else v for v in work.column("quality").to_pylist()], np.float64)
    sources = np.array(work.column("source").to_pylist(), dtype=object)
    keys = document_keys(work)
    units = work.column("unit").to_numpy()
    reasons: list[Optional[str]] = [None] * n
    for i in range(n):
        if tokens[i] <= 1:
            reasons[i] = "empty_document"
        elif holdout[i]:
            reasons[i] = "held_out"
        elif contamination[i]:
            reasons[i] = contamination[i]
    candidates = np.array([r is None for r in reasons], bool)
    gate: dict = {"column": quality_column}
    if quality_column and cfg.quality_quantile > 0 and np.isfinite(quality[candidates]).any():
        threshold = float(np.quantile(quality[candidates & np.isfinite(quality)], cfg.quality_quantile))
        below = candidates & np.isfinite(quality) & (quality < threshold)
        for i in np.flatnonzero(below):
            reasons[i] = "below_quality_gate"
        gate.update(quantile=cfg.quality_quantile, threshold=threshold, dropped=int(below.sum()),
                    unscored_kept=int((candidates & ~np.isfinite(quality)).sum()))
    elif quality_column:
        gate["note"] = "quality gate off (quality_quantile 0 or no scores)"
    else:
        gate["note"] = "no quality_* column in the input: quality gate skipped"
    pool = np.array([r is None for r in reasons], bool)
    if not pool.any():
        from tailmine.errors import ConfigError

        raise ConfigError("no unit is left for the mixture after the held-out split, decontamination and the quality gate")

    buckets = np.array([NO_BUCKET if b is None else b for b in work.column("bucket").to_pylist()], dtype=object)
    bucket_names, bucket_codes = np.unique(buckets[pool].astype(str), return_inverse=True)
    pool_idx = np.flatnonzero(pool)
    pool_tokens = tokens[pool]
    # source budgets, then concept-balanced expected epochs inside each source
    unique_by_source = {s: float(pool_tokens[sources[pool] == s].sum()) for s in sorted(set(sources[pool]))}
    per_source = source_budgets(unique_by_source, budget.tokens, cfg.source_weighting, cfg.max_epochs,
                                cfg.temperature, cfg.parsed_source_weights())
    e = np.zeros(n)
    for s, b_s in per_source.items():
        mask = sources[pool] == s
        codes = bucket_codes[mask]
        _, local = np.unique(codes, return_inverse=True)
        e_s, _ = document_epochs(local, pool_tokens[mask], b_s, cfg.tail_lambda, cfg.tail_beta, cfg.max_epochs)
        e[pool_idx[mask]] = e_s
    u = np.zeros(n)
    ukeys = unit_keys(keys, units)
    u[pool_idx] = uniform_hash([ukeys[i] for i in pool_idx], cfg.seed, "repeat")
    _, doc_codes = np.unique(np.array([keys[i] for i in pool_idx], dtype=object).astype(str), return_inverse=True)
    share_limit = cfg.max_document_share * budget.tokens
    caps = document_caps(doc_codes, pool_tokens, budget.tokens, cfg.max_document_share, cfg.max_epochs)
    note = f", and at most {cfg.max_document_share:g} of the budget per document" if cfg.max_document_share < 1 else ""
    k = np.zeros(n, np.int64)
    k_pool, scale = _draw(e[pool], pool_tokens, u[pool], budget.tokens, caps, doc_codes, share_limit, note)
    k[pool] = k_pool
    k_passive = np.zeros(n, np.int64)
    kp_pool, _ = _draw(np.ones(pool.sum()), pool_tokens, u[pool], budget.tokens, caps, doc_codes, share_limit, note)
    k_passive[pool] = kp_pool
    for i in pool_idx[k_pool == 0]:
        reasons[i] = "not_sampled"

    # tail metrics over the concepts of the pool
    sections: dict = {"quality_gate": gate,
                      "spread": {"mixture": _spread(k_pool, pool_tokens, doc_codes), "passive": _spread(kp_pool, pool_tokens, doc_codes),
                                 "pool": {"documents": int(doc_codes.max()) + 1 if len(doc_codes) else 0, "units": int(len(pool_idx))},
                                 "unit_tokens": cfg.unit_tokens, "max_document_share": cfg.max_document_share}}
    concept_lists = work.column("concept_ids")
    pool_lists = concept_lists.take(pa.array(pool_idx))
    flat = pool_lists.combine_chunks().flatten().to_numpy() if len(pool_idx) else np.zeros(0, np.int64)
    have_concepts = flat.size > 0
    if have_concepts:
        offsets = pool_lists.combine_chunks().offsets.to_numpy()
        offsets = offsets - offsets[0]
        uniq, codes = np.unique(flat, return_inverse=True)
        metrics = {}
        for name, kk in (("pool", np.ones(len(pool_idx))), ("passive", kp_pool), ("mixture", k_pool)):
            metrics[name] = tail_metrics(exposures(offsets, codes, kk, len(uniq)))
        metrics["cov_10_ratio_mixture_over_passive"] = (
            metrics["mixture"]["cov_10"] / metrics["passive"]["cov_10"] if metrics["passive"]["cov_10"] else None
        )
        sections["tail_metrics"] = metrics
    else:
        sections["tail_metrics"] = {"note": "no concept annotations (run the concepts stage first): tail metrics not computed"}

    # per-bucket table and per-source tokens
    bucket_df = np.array([-1 if v is None else v for v in work.column("bucket_df").to_pylist()], np.int64)[pool]
    nb = len(bucket_names)
    b_unique = np.bincount(bucket_codes, weights=pool_tokens, minlength=nb)
    b_tokens = np.bincount(bucket_codes, weights=pool_tokens * k_pool, minlength=nb)
    b_passive = np.bincount(bucket_codes, weights=pool_tokens * kp_pool, minlength=nb)
    b_df = np.full(nb, -1, np.int64)
    b_df[bucket_codes] = bucket_df
    b_docs = np.bincount(bucket_codes, minlength=nb)  # units per bucket
    bucket_epochs = np.divide(b_tokens, b_unique, out=np.zeros(nb), where=b_unique > 0)
    bucket_table = pa.table({
        "bucket": pa.array(bucket_names.tolist(), pa.string()), "df": pa.array(b_df), "units": pa.array(b_docs),
        "unique_tokens": pa.array(b_unique.astype(np.int64)), "tokens": pa.array(b_tokens.astype(np.int64)),
        "passive_tokens": pa.array(b_passive.astype(np.int64)), "epochs": pa.array(bucket_epochs),
    })
    sections["buckets"] = _bucket_summary(b_df, b_unique, b_tokens, b_passive, nb)
    src = {}
    for s in sorted(set(sources[pool])):
        m = sources[pool] == s
        src[s] = {
            "units": int(m.sum()), "unique_tokens": int(pool_tokens[m].sum()),
            "target_tokens": per_source[s], "tokens": int((pool_tokens[m] * k_pool[m]).sum()),
            "passive_tokens": int((pool_tokens[m] * kp_pool[m]).sum()),
        }
        src[s]["weight"] = src[s]["tokens"] / max(1, int((pool_tokens * k_pool).sum()))
        src[s]["epochs"] = src[s]["tokens"] / max(1, src[s]["unique_tokens"])
    sections["sources"] = src
    sections["weights"] = {
        "source_weighting": cfg.source_weighting, "tail_lambda": cfg.tail_lambda, "tail_beta": cfg.tail_beta,
        "max_epochs": cfg.max_epochs, "budget_scale": scale,
        "formula": "e_u = min(E_max, share*B/T_doc, f * ((1-lambda) * B_s/U_s + lambda * UniMax_b(beta, E_max)/U_b)); "
                   "k_u = floor(e_u) + [u(unit) < frac(e_u)], u = blake2b(seed, unit)/2^64; f by bisection to hit B; "
                   "copies over share*B per document removed (largest u first), single-copy changes to close the gap",
    }
    prof = repetition_profile(k_pool, pool_tokens)
    sections["repetition_profile"] = prof
    sections["repetition_profile_passive"] = repetition_profile(kp_pool, pool_tokens)
    sections["epochs"] = prof["documents_by_epochs"]
    q_pool = quality[pool]
    if np.isfinite(quality[candidates]).any():
        sections["quality_drift"] = {
            "column": quality_column,
            "candidates": weighted_quantiles(quality[candidates]),
            "passive": weighted_quantiles(q_pool, pool_tokens * kp_pool),
            "mixture": weighted_quantiles(q_pool, pool_tokens * k_pool),
        }
        d = sections["quality_drift"]
        d["median_shift_vs_passive"] = d["mixture"].get("p50", 0.0) - d["passive"].get("p50", 0.0) if d["mixture"] else None
    else:
        sections["quality_drift"] = {"note": "no quality scores: drift not measured"}
    return Plan(k, k_passive, reasons, keys, sections, bucket_table)


def _bucket_summary(b_df, b_unique, b_tokens, b_passive, nb) -> dict:
    """Per-bucket epochs summarised by df band (the full table is buckets.parquet)."""
    bands = [(1, 1), (2, 2), (3, 5), (6, 10), (11, 100), (101, 1000), (1001, 10**18)]
    out = {"count": int(nb), "by_df": []}
    none = b_df < 0
    for lo, hi in bands:
        m = (b_df >= lo) & (b_df <= hi)
        if m.any():
            out["by_df"].append({"df": [lo, hi if hi < 10**18 else None], "buckets": int(m.sum()), "unique_tokens": int(b_unique[m].sum()),
                                 "tokens": int(b_tokens[m].sum()), "passive_tokens": int(b_passive[m].sum()),
                                 # tail coverage per bucket band: the share of its buckets with any token in the mixture
                                 "covered": float(np.count_nonzero(b_tokens[m]) / m.sum()),
                                 "covered_passive": float(np.count_nonzero(b_passive[m]) / m.sum()),
                                 "epochs": float(b_tokens[m].sum() / max(1, b_unique[m].sum()))})
    if none.any():
        out["no_concept"] = {"buckets": int(none.sum()), "unique_tokens": int(b_unique[none].sum()), "tokens": int(b_tokens[none].sum()),
                             "epochs": float(b_tokens[none].sum() / max(1, b_unique[none].sum()))}
    return out


def sequence_order(keys: list[str], k: np.ndarray, seed: int, units: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
    """(row, copy) of every sequence in a global shuffled order decided by hash of (document key, copy):
    the order depends only on keys, copy numbers and the seed, not on input order. Copy c of a document
    is its units with k_u > c, together and in reading order (``units``: each row's unit number)."""
    k = np.asarray(k, np.int64)
    rows = np.repeat(np.arange(len(k)), k)
    copies = (np.concatenate([np.arange(c) for c in k]) if len(k) else np.zeros(0, np.int64)).astype(np.int64)
    unit_of = np.zeros(len(k), np.int64) if units is None else np.asarray(units, np.int64)
    doc_copy = [f"{keys[r]}\x1f{c}" for r, c in zip(rows, copies)]
    u = uniform_hash(doc_copy, seed, "order")
    names = np.array(doc_copy, dtype=object)
    # u, then the document-copy key itself (ties of u), then the unit's place in its document
    _, name_codes = np.unique(names.astype(str), return_inverse=True) if len(names) else (None, np.zeros(0, np.int64))
    order = np.lexsort((rows, unit_of[rows], name_codes, u))
    return rows[order], copies[order]
