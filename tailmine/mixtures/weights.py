"""Source weights and document repeat counts (longtail-methods.md §3.4).

* :func:`temperature_weights`: π_s ∝ U_s^(1/T).
* :func:`unimax`: capped water-filling (Chung et al. 2023): each group gets at most ``E_max·U_g``
  tokens and the rest is shared in proportion to a target π_g ∝ p_g^(1−β) (β = 1: uniform UniMax,
  β = 0: passive).
* :func:`document_epochs`: concept-balanced expected epochs e_d = (1−λ)·passive + λ·UniMax(β, E_max)
  over concept buckets, capped at E_max.
* :func:`repeat_counts`: k_d = ⌊e_d⌋ + 1[u(d) < frac(e_d)], u(d) from blake2b(seed ‖ doc id), and
  :func:`fit_to_budget`, which scales all e_d by one factor (bisection) so that Σ k_d·len_d hits the
  budget to within one document. Everything is a pure function of ids, lengths and the seed.
"""
from __future__ import annotations

import hashlib
from typing import Mapping, Optional, Sequence

import numpy as np

from tailmine.errors import ConfigError


def uniform_hash(keys: Sequence[str], seed: int, salt: str = "") -> np.ndarray:
    """u ∈ [0, 1) per key from blake2b(seed, salt, key): stable across machines and Python runs."""
    prefix = f"{seed}\x1f{salt}\x1f".encode()
    out = np.empty(len(keys), np.float64)
    for i, key in enumerate(keys):
        h = hashlib.blake2b(prefix + key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        out[i] = int.from_bytes(h, "little") / 2.0**64
    return out


def temperature_weights(unique_tokens: Mapping[str, float], temperature: float) -> dict[str, float]:
    if temperature <= 0:
        raise ConfigError(f"temperature must be positive, got {temperature}")
    raw = {k: float(v) ** (1.0 / temperature) for k, v in unique_tokens.items() if v > 0}
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


def unimax(unique: np.ndarray, budget: float, max_epochs: float, beta: float = 1.0) -> np.ndarray:
    """Tokens allotted to each group by capped water-filling; ``unique`` are the groups' unique tokens.

    Target shares π_g ∝ (U_g/U)^(1−β); a group never gets more than ``max_epochs·U_g``. Groups that
    saturate first (smallest cap/π) are served first and the remainder is re-shared in proportion to π
    among the others. O(G log G).
    """
    unique = np.asarray(unique, np.float64)
    out = np.zeros_like(unique)
    live = unique > 0
    if not live.any() or budget <= 0:
        return out
    if not 0.0 <= beta <= 1.0:
        raise ConfigError(f"beta must be in [0, 1], got {beta}")
    p = np.where(live, unique / unique[live].sum(), 0.0)
    target = np.where(live, np.power(np.where(live, p, 1.0), 1.0 - beta), 0.0)
    cap = max_epochs * unique
    idx = np.flatnonzero(live)
    order = idx[np.argsort(cap[idx] / target[idx], kind="stable")]
    remaining, share_left = float(budget), float(target[order].sum())
    for g in order:
        if share_left <= 0 or remaining <= 0:
            break
        give = min(cap[g], remaining * target[g] / share_left)
        out[g] = give
        remaining -= give
        share_left -= target[g]
    return out


def source_budgets(unique: Mapping[str, float], budget: float, method: str, max_epochs: float,
                   temperature: float = 1.0, explicit: Optional[Mapping[str, float]] = None) -> dict[str, float]:
    """Token budget per source: natural (∝ U_s), explicit weights, temperature, or UniMax with caps."""
    names = sorted(unique)
    u = np.array([unique[n] for n in names], np.float64)
    if method == "natural":
        w = u / u.sum()
        alloc = w * budget
    elif method == "temperature":
        tw = temperature_weights(unique, temperature)
        alloc = np.array([tw.get(n, 0.0) for n in names]) * budget
    elif method == "explicit":
        explicit = dict(explicit or {})
        unknown = sorted(set(explicit) - set(names))
        if unknown:
            raise ConfigError(f"source weights name unknown sources {unknown}; sources are {names}")
        w = np.array([float(explicit.get(n, 0.0)) for n in names])
        if w.sum() <= 0:
            raise ConfigError("explicit source weights must have a positive sum")
        alloc = w / w.sum() * budget
    elif method == "unimax":
        alloc = unimax(u, budget, max_epochs, beta=1.0)
    else:
        raise ConfigError(f"unknown source weighting {method!r}; use natural, explicit, temperature or unimax")
    return {n: float(a) for n, a in zip(names, alloc)}


def document_epochs(bucket: np.ndarray, tokens: np.ndarray, budget: float, lam: float, beta: float,
                    max_epochs: float) -> tuple[np.ndarray, dict]:
    """Expected epochs per document for one source: (1−λ)·passive + λ·UniMax(β, E_max) over buckets.

    ``bucket`` holds integer bucket codes (one per document), ``tokens`` the document lengths.
    Returns (e_d, per-bucket arrays {unique_tokens, target_epochs}).
    """
    tokens = np.asarray(tokens, np.float64)
    total = tokens.sum()
    if total <= 0:
        return np.zeros_like(tokens), {"unique_tokens": np.zeros(0), "epochs": np.zeros(0)}
    passive = budget / total
    n_buckets = int(bucket.max()) + 1 if len(bucket) else 0
    unique = np.bincount(bucket, weights=tokens, minlength=n_buckets)
    alloc = unimax(unique, budget, max_epochs, beta)
    bucket_epochs = np.divide(alloc, unique, out=np.zeros_like(alloc), where=unique > 0)
    e = (1.0 - lam) * passive + lam * bucket_epochs[bucket]
    return np.minimum(e, max_epochs), {"unique_tokens": unique, "epochs": np.minimum((1 - lam) * passive + lam * bucket_epochs, max_epochs)}


def repeat_counts(epochs: np.ndarray, u: np.ndarray, max_epochs) -> np.ndarray:
    """k_d = ⌊e⌋ + 1[u < e − ⌊e⌋], with e capped at E_max (so k_d ≤ ⌈E_max⌉, and ≤ E_max for integer caps).
    ``max_epochs`` is one cap or one per element."""
    e = np.minimum(np.asarray(epochs, np.float64), max_epochs)
    base = np.floor(e)
    return (base + (u < e - base)).astype(np.int64)


def fit_to_budget(epochs: np.ndarray, tokens: np.ndarray, u: np.ndarray, budget: int, max_epochs,
                  iterations: int = 100, cap_note: str = "") -> tuple[np.ndarray, float]:
    """Scale every e_d by one factor so that Σ k_d·len_d is as close to ``budget`` as the hash draws allow.

    Σ k_d·len_d is non-decreasing in the factor (each k_d is), so bisection finds the crossing; the
    result is the closer of the two sides. Raises when even E_max epochs of everything is too little.
    """
    tokens = np.asarray(tokens, np.int64)
    caps = np.broadcast_to(np.asarray(max_epochs, np.float64), tokens.shape)
    ceiling = int((repeat_counts(caps, u, caps) * tokens).sum())
    if ceiling < budget:
        cap = f"{float(caps.max()):g}" if len(caps) and caps.min() == caps.max() else "per-unit"
        raise ConfigError(
            f"the budget of {budget:,} tokens is more than the {ceiling:,} tokens available: {int(tokens.sum()):,} unique "
            f"tokens x the epoch cap ({cap}{cap_note}): add data, lower --tokens or raise --max-epochs"
        )
    base = np.asarray(epochs, np.float64)

    def realised(f):
        k = repeat_counts(base * f, u, max_epochs)
        return k, int((k * tokens).sum())

    lo, hi = 0.0, 1.0
    while realised(hi)[1] < budget:
        hi *= 2.0
        if hi > 1e12:
            break
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if realised(mid)[1] < budget:
            lo = mid
        else:
            hi = mid
    (k_lo, t_lo), (k_hi, t_hi) = realised(lo), realised(hi)
    k, factor = (k_lo, lo) if budget - t_lo <= t_hi - budget else (k_hi, hi)
    return refine_to_budget(k, tokens, u, budget, max_epochs), factor


def refine_to_budget(k: np.ndarray, tokens: np.ndarray, u: np.ndarray, budget: int, max_epochs: float,
                     max_steps: int = 10_000) -> np.ndarray:
    """Close the gap left by the scale factor with single-copy changes.

    One global factor moves whole documents in and out at once, so with few, long documents it can
    stay more than one document's length from the budget. Each step adds (under budget) or removes
    (over) one copy of the document whose length best closes the gap, never past the epoch cap and
    never below zero; ties go to the smaller hash, so the result stays deterministic. Stops when no
    single change brings the total closer.
    """
    k = k.copy()
    tokens = np.asarray(tokens, np.int64)
    cap = np.floor(np.asarray(max_epochs, np.float64) + 1e-9)
    cap = np.broadcast_to(cap, k.shape)
    order = np.argsort(np.asarray(u), kind="stable")  # deterministic tie-break
    tokens_o = tokens[order]
    total = int((k * tokens).sum())
    for _ in range(max_steps):
        gap = budget - total
        if gap == 0:
            break
        k_o = k[order]
        movable = (k_o < cap[order]) if gap > 0 else (k_o > 0)
        new_gap = np.abs(gap - np.sign(gap) * tokens_o)
        new_gap = np.where(movable, new_gap, np.iinfo(np.int64).max)
        best = int(np.argmin(new_gap))
        if new_gap[best] >= abs(gap):
            break
        doc = order[best]
        step = 1 if gap > 0 else -1
        k[doc] += step
        total += step * int(tokens[doc])
    return k


def document_caps(doc_codes: np.ndarray, tokens: np.ndarray, budget: int, share: float, max_epochs: float) -> np.ndarray:
    """Per-unit epoch cap min(E_max, share·B / T_d): all of a document's units at the cap give it ``share``
    of the budget, so no document dominates a small mixture (T_d: the document's tokens in the pool)."""
    doc_tokens = np.bincount(doc_codes, weights=np.asarray(tokens, np.float64))
    return np.minimum(float(max_epochs), share * budget / np.maximum(doc_tokens[doc_codes], 1.0))


def trim_documents(k: np.ndarray, tokens: np.ndarray, doc_codes: np.ndarray, u: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Remove copies from documents whose drawn tokens exceed ``limit`` (the draws can overshoot the
    expected cap), the units with the largest hash first. Returns (k, frozen): frozen units belong to
    documents with no room for one more copy of themselves, so the budget refinement leaves them."""
    k = k.copy()
    tokens = np.asarray(tokens, np.int64)
    doc_total = np.bincount(doc_codes, weights=k * tokens).astype(np.int64)
    for d in np.flatnonzero(doc_total > limit):
        units = np.flatnonzero(doc_codes == d)
        for i in units[np.argsort(-np.asarray(u)[units], kind="stable")]:
            while k[i] > 0 and doc_total[d] > limit:
                k[i] -= 1
                doc_total[d] -= tokens[i]
            if doc_total[d] <= limit:
                break
    frozen = doc_total[doc_codes] + tokens > limit
    return k, frozen
