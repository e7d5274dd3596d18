"""Offline tail metrics of a mixture (longtail-methods.md §5.1) and the ``recipe.json`` writer.

For a mixture given as repeat counts k_d over documents whose concept sets are known, the exposure
count of concept c is n_c = Σ_{d∋c} k_d. From it: tail coverage Cov_k = |{c : n_c ≥ k}| / |C|
(k = 1, 10, 100), Hill numbers D₁ = exp(H) and D₂ = 1/Σπ² of the exposure shares π_c, the fitted
Zipf rank exponent s of the n_c curve (and α = 1 + 1/s), Good–Turing missing mass. The repetition
profile is the distribution of k_d with D′ = U + U·R*(1 − e^(−R/R*)) summed over documents.
"""
from __future__ import annotations

import json
import math
from typing import Optional

import numpy as np

from tailmine.mixtures.budget import effective_tokens

COVERAGE_KS = (1, 10, 100)
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def exposures(indptr: np.ndarray, codes: np.ndarray, k: np.ndarray, n_concepts: int) -> np.ndarray:
    """n_c for every concept code: Σ of k_d over the documents that contain c."""
    per_incidence = np.repeat(np.asarray(k, np.float64), np.diff(indptr))
    return np.bincount(codes, weights=per_incidence, minlength=n_concepts)


def tail_metrics(n_c: np.ndarray) -> dict:
    n_c = np.asarray(n_c, np.float64)
    total_concepts = len(n_c)
    out: dict = {"concepts": int(total_concepts)}
    for kk in COVERAGE_KS:
        out[f"cov_{kk}"] = float(np.count_nonzero(n_c >= kk) / total_concepts) if total_concepts else 0.0
    seen = n_c[n_c > 0]
    if seen.size:
        pi = seen / seen.sum()
        out["hill_d1"] = float(math.exp(-float(np.sum(pi * np.log(pi)))))
        out["hill_d2"] = float(1.0 / float(np.sum(pi * pi)))
        out["exposures"] = float(seen.sum())
        from tailmine.concepts.fitting import zipf_rank_exponent
        from tailmine.concepts.sketches import good_turing_missing_mass

        s = zipf_rank_exponent(seen)
        out["zipf_s"] = None if not math.isfinite(s) else float(s)
        out["alpha_from_s"] = None if not out["zipf_s"] else 1.0 + 1.0 / out["zipf_s"]
        out["good_turing_missing_mass"] = good_turing_missing_mass(np.rint(seen).astype(np.int64))
    else:
        out.update(hill_d1=0.0, hill_d2=0.0, exposures=0.0, zipf_s=None, alpha_from_s=None, good_turing_missing_mass=1.0)
    return out


def repetition_profile(k: np.ndarray, tokens: np.ndarray) -> dict:
    k = np.asarray(k, np.int64)
    tokens = np.asarray(tokens, np.int64)
    sampled = k > 0
    hist = np.bincount(k) if len(k) else np.zeros(1, np.int64)
    tok_hist = np.bincount(k, weights=tokens) if len(k) else np.zeros(1)
    eff = float(sum(effective_tokens(float(t), float(e)) for t, e in zip(tokens[sampled], k[sampled]))) if sampled.any() else 0.0
    weights = (k * tokens).astype(np.float64)
    qs = {}
    if weights.sum() > 0:  # epochs seen by a random token of the mixture
        order = np.argsort(k, kind="stable")
        cum = np.cumsum(weights[order]) / weights.sum()
        for q in QUANTILES:
            qs[f"p{int(q * 100)}"] = int(k[order][min(int(np.searchsorted(cum, q)), len(order) - 1)])
    return {
        "documents_by_epochs": {str(e): int(n) for e, n in enumerate(hist) if n},
        "unique_tokens_by_epochs": {str(e): int(t) for e, t in enumerate(tok_hist) if t},
        "token_weighted_epoch_quantiles": qs,
        "max_epochs": int(k.max()) if len(k) else 0,
        "mean_epochs_sampled": float(weights.sum() / tokens[sampled].sum()) if sampled.any() else 0.0,
        "unique_tokens": int(tokens[sampled].sum()),
        "effective_tokens": eff,
    }


def weighted_quantiles(values: np.ndarray, weights: Optional[np.ndarray] = None) -> dict:
    values = np.asarray(values, np.float64)
    weights = np.ones_like(values) if weights is None else np.asarray(weights, np.float64)
    ok = np.isfinite(values) & (weights > 0)
    values, weights = values[ok], weights[ok]
    if not len(values):
        return {}
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order]) / weights.sum()
    return {f"p{int(q * 100)}": float(values[order][min(int(np.searchsorted(cum, q)), len(order) - 1)]) for q in QUANTILES}


def recipe_bytes(recipe: dict) -> bytes:
    return (json.dumps(recipe, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
