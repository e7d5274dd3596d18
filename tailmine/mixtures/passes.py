"""Planning a mixture past one worker: passes over the prepared shards, each returning a small summary
that adds up across shards (a Beam combiner merges them), with global steps in between.

No step holds all rows. A pass sees one prepared shard (its training units) plus global tables the
size of the sources, concept buckets or concepts, never of the units; documents never straddle
shards, so per-document caps are local. The passes (P: per shard, G: global on merged summaries):

1. P :func:`candidate_summary` — drop reasons before the gate (empty, held out, contaminated) and a
   sparse histogram of the quality scores; G :func:`quality_rank` — the gate's rank and its bin;
   P :func:`values_in_bin`; G :func:`quality_threshold` — the exact score at that rank.
2. P :func:`pool_summary` — unique tokens per source and per (source, bucket);
   G :func:`plan_weights` — source budgets and each bucket's expected epochs (λ-mix of passive and
   UniMax(β, E_max) over buckets, per source).
3. P :func:`shard_arrays` — per unit: tokens, expected epochs e_u, cap min(E_max, share·B/T_doc),
   u = blake2b(seed, unit), bucket code (written beside the shard, read by the next passes).
4. P :func:`evaluate` / G :func:`next_grid` — the realised tokens Σ k_u(f)·len_u at a grid of scale
   factors f (k drawn by hash, then trimmed to the document share), narrowed round by round to the
   f whose mixture is closest to the budget; the same for the passive mixture (e_u = 1). Then P
   :func:`propose` / G :func:`apply_proposals`: a few single-copy changes close what is left (with
   few, long units one step of f can move a whole unit).
5. P :func:`measure` — tail exposures per concept, bucket / source / repetition statistics, document
   spread and counts, and the sequence references of each output shard (written beside the shard).
6. P (per output shard) :func:`gather_order` — the references of one output shard in the global
   hash order (the shard's writer then copies their tokens).

:func:`plan_local` runs the same passes over in-memory shards (tests, and one-machine planning).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pyarrow as pa

from tailmine.fileio import stable_file_key
from tailmine.mixtures.recipe import tail_metrics
from tailmine.mixtures.weights import document_epochs, source_budgets, uniform_hash

NO_BUCKET = "_none"
KEY_SHIFT = 40          # sparse histograms keep the top 24 bits of a float's order key (12 mantissa bits)
GRID = 64               # scale factors evaluated per round of the budget search
ROUNDS = 6              # rounds: one geometric over 1e-9..1e9, then linear subdivisions of the bracket
REFINE_ROUNDS = 8       # single-copy changes that close the gap one grid step leaves (few, long units)


@dataclass
class ShardView:
    """One prepared shard: its unit rows and each unit's decontamination result (None: clean)."""
    unit: int
    work: pa.Table
    contamination: list


# --- helpers --------------------------------------------------------------------------------------

class KeyedSums:
    """Sorted unique keys with a row of sums each (``max_columns`` take the maximum): per-concept and
    per-bucket totals as two arrays, not a dict of objects; ``a + b`` merges (what the combiner does)."""

    def __init__(self, keys: np.ndarray, values: np.ndarray, max_columns: tuple = ()):
        self.keys, self.values, self.max_columns = keys, values, tuple(max_columns)

    @classmethod
    def empty(cls, width: int, max_columns: tuple = ()) -> "KeyedSums":
        return cls(np.zeros(0, np.int64), np.zeros((0, width)), max_columns)

    @classmethod
    def of(cls, keys: np.ndarray, values: np.ndarray, max_columns: tuple = ()) -> "KeyedSums":
        """Rows with equal keys summed (or maxed)."""
        if not len(keys):
            return cls(np.asarray(keys), np.zeros((0, values.shape[1])), max_columns)
        uniq, inverse = np.unique(keys, return_inverse=True)
        out = np.zeros((len(uniq), values.shape[1]))
        for c in range(values.shape[1]):
            if c in max_columns:
                col = np.full(len(uniq), -np.inf)
                np.maximum.at(col, inverse, values[:, c])
                out[:, c] = col
            else:
                out[:, c] = np.bincount(inverse, weights=values[:, c], minlength=len(uniq))
        return cls(uniq, out, max_columns)

    def __add__(self, other: "KeyedSums") -> "KeyedSums":
        if not len(other.keys):
            return self
        if not len(self.keys):
            return other
        return KeyedSums.of(np.concatenate([self.keys, other.keys]), np.concatenate([self.values, other.values]), self.max_columns)


def document_keys(work: pa.Table) -> list[str]:
    ids = work.column("id").to_pylist()
    files = work.column("source_file").to_pylist()
    recs = work.column("source_record").to_pylist()
    offs = work.column("source_offset").to_pylist()
    # the file by its stable key, not its full path: the mix must not change when the data moves
    return [f"{i}\x1f{stable_file_key(f)}\x1f{r}\x1f{o}" for i, f, r, o in zip(ids, files, recs, offs)]


def unit_keys(keys: list[str], units) -> list[str]:
    return [f"{k}\x1f{int(u)}" for k, u in zip(keys, units)]


def order_keys(values: np.ndarray) -> np.ndarray:
    """uint64 keys that sort like the float64 values (negative values flipped)."""
    bits = np.asarray(values, np.float64).view(np.uint64)
    negative = (bits >> np.uint64(63)).astype(bool)
    return np.where(negative, ~bits, bits | np.uint64(1 << 63))


def key_value(key: int) -> float:
    """The float64 whose order key is ``key`` (inverse of :func:`order_keys`)."""
    key = np.uint64(key)
    bits = key & np.uint64((1 << 63) - 1) if key >> np.uint64(63) else ~key
    return float(np.array([bits], np.uint64).view(np.float64)[0])


def sparse_histogram(values: np.ndarray, weights: Optional[np.ndarray] = None) -> dict:
    """{bin: weight} over the top 24 bits of the values' order keys (mergeable by adding)."""
    values = np.asarray(values, np.float64)
    if not len(values):
        return {}
    bins, inverse = np.unique(order_keys(values) >> np.uint64(KEY_SHIFT), return_inverse=True)
    w = np.bincount(inverse, weights=None if weights is None else np.asarray(weights, np.float64), minlength=len(bins))
    return {int(b): float(x) for b, x in zip(bins, w)}


def add_dicts(a: dict, b: dict) -> dict:
    """Sum of two summaries: numbers and arrays add, dicts merge recursively, lists concatenate,
    ``max_*`` keys take the maximum and ``same_*`` keys keep the first value."""
    out = dict(a)
    for k, v in b.items():
        if k not in out:
            out[k] = v
        elif isinstance(v, dict):
            out[k] = add_dicts(out[k], v)
        elif isinstance(v, list):
            out[k] = out[k] + v
        elif isinstance(k, str) and k.startswith("max_"):
            out[k] = max(out[k], v)
        elif isinstance(k, str) and k.startswith("best_"):
            out[k] = min(out[k], v)
        elif isinstance(k, str) and k.startswith("same_"):
            pass
        else:
            out[k] = out[k] + v
    return out


def _column(work: pa.Table, name: str, default=None) -> list:
    return work.column(name).to_pylist() if name in work.column_names else [default] * work.num_rows


def _quality(work: pa.Table) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in _column(work, "quality")], np.float64)


# --- pass 1: candidates and the quality gate ----------------------------------------------------

def drop_reasons(view: ShardView, held: frozenset) -> list[Optional[str]]:
    tokens = view.work.column("tokens").to_numpy()
    groups = view.work.column("group").to_pylist()
    out: list[Optional[str]] = []
    for t, g, c in zip(tokens.tolist(), groups, view.contamination):
        out.append("empty_document" if t <= 1 else "held_out" if g in held else c)
    return out


def candidate_summary(view: ShardView, held: frozenset) -> dict:
    cand = np.array([r is None for r in drop_reasons(view, held)], bool)
    q = _quality(view.work)[cand]
    q = q[np.isfinite(q)]
    return {"candidates": int(cand.sum()), "scored": int(len(q)), "quality_hist": sparse_histogram(q)}


def quality_rank(summary: dict, quantile: float) -> Optional[tuple[int, int]]:
    """(bin, rank inside the bin) of the score at rank ⌊q·(n−1)⌋ of the candidates' scores, or None."""
    n = summary["scored"]
    if not n or quantile <= 0:
        return None
    rank = int(math.floor(quantile * (n - 1)))
    below = 0
    for b in sorted(summary["quality_hist"]):
        c = int(summary["quality_hist"][b])
        if below + c > rank:
            return b, rank - below
        below += c
    raise AssertionError("quality histogram smaller than its count")


def values_in_bin(view: ShardView, held: frozenset, b: int) -> dict:
    cand = np.array([r is None for r in drop_reasons(view, held)], bool)
    q = _quality(view.work)[cand]
    q = q[np.isfinite(q)]
    return {"values": q[(order_keys(q) >> np.uint64(KEY_SHIFT)) == np.uint64(b)].tolist()}


def quality_threshold(values: list, rank_in_bin: int) -> float:
    return float(sorted(values)[rank_in_bin])


def unit_reasons(view: ShardView, held: frozenset, threshold: Optional[float]) -> list[Optional[str]]:
    reasons = drop_reasons(view, held)
    if threshold is not None:
        q = _quality(view.work)
        reasons = [r if r is not None or not (np.isfinite(v) and v < threshold) else "below_quality_gate" for r, v in zip(reasons, q)]
    return reasons


# --- pass 2: pool statistics and weights ----------------------------------------------------------

def _buckets(work: pa.Table) -> list[str]:
    return [NO_BUCKET if b is None else b for b in work.column("bucket").to_pylist()]


def bucket_codes(buckets: list[str]) -> np.ndarray:
    """int64 key per unit from blake2b of its bucket name: the per-bucket tables are sorted arrays of
    these (16 bytes a bucket), not dicts of names, because buckets grow with the corpus's concepts."""
    if not buckets:
        return np.zeros(0, np.int64)
    names, inverse = np.unique(np.array(buckets, dtype=object).astype(str), return_inverse=True)
    codes = np.array([int.from_bytes(hashlib.blake2b(n.encode("utf-8", "surrogatepass"), digest_size=8, person=b"bucket").digest(),
                                     "little", signed=True) for n in names.tolist()], np.int64)
    return codes[inverse]


def pool_summary(view: ShardView, held: frozenset, threshold: Optional[float]) -> dict:
    """Pool tokens per source, and per source a :class:`KeyedSums` of tokens by bucket code."""
    pool = np.flatnonzero([r is None for r in unit_reasons(view, held, threshold)])
    tokens = view.work.column("tokens").to_numpy().astype(np.float64)[pool]
    sources = np.array(view.work.column("source").to_pylist(), dtype=object)[pool]
    codes = bucket_codes(_buckets(view.work))[pool]
    by_source: dict = {}
    by_bucket: dict = {}
    for src in sorted(set(sources.tolist())):
        m = sources == src
        by_source[src] = int(tokens[m].sum())
        by_bucket[src] = KeyedSums.of(codes[m], tokens[m, None])
    return {"pool_units": int(len(pool)), "sources": by_source, "buckets": by_bucket}


def plan_weights(summary: dict, cfg, budget_tokens: int) -> dict:
    """Source budgets, and expected epochs per (source, bucket): (1−λ)·B_s/U_s + λ·UniMax_b(β, E_max)/U_b,
    as {source: KeyedSums(bucket code -> epochs)}."""
    if not summary.get("pool_units"):
        from tailmine.errors import ConfigError

        raise ConfigError("no unit is left for the mixture after the held-out split, decontamination and the quality gate")
    unique = {s: float(t) for s, t in sorted(summary["sources"].items())}
    per_source = source_budgets(unique, budget_tokens, cfg.source_weighting, cfg.max_epochs, cfg.temperature,
                                cfg.parsed_source_weights())
    epochs: dict = {}
    for s, b_s in per_source.items():
        table = summary["buckets"][s]
        _, info = document_epochs(np.arange(len(table.keys)), table.values[:, 0], b_s, cfg.tail_lambda, cfg.tail_beta, cfg.max_epochs)
        epochs[s] = KeyedSums(table.keys, np.asarray(info["epochs"], np.float64)[:, None])
    return {"per_source": per_source, "epochs": epochs}


# --- pass 3: per-unit arrays ----------------------------------------------------------------------

def shard_arrays(view: ShardView, held: frozenset, threshold: Optional[float], weights: dict, cfg, budget_tokens: int) -> dict:
    """Per unit of the pool: tokens, e (mixture), cap, u, local document code; and the pool's rows."""
    reasons = unit_reasons(view, held, threshold)
    pool = np.flatnonzero([r is None for r in reasons])
    keys = document_keys(view.work)
    tokens = view.work.column("tokens").to_numpy().astype(np.int64)[pool]
    sources = np.array(view.work.column("source").to_pylist(), dtype=object)[pool]
    codes = bucket_codes(_buckets(view.work))[pool]
    e = np.zeros(len(pool), np.float64)
    for src in sorted(set(sources.tolist())):
        m = sources == src
        table = weights["epochs"][src]
        e[m] = table.values[np.searchsorted(table.keys, codes[m]), 0]
    units = view.work.column("unit").to_numpy()
    u = uniform_hash(unit_keys([keys[i] for i in pool], units[pool]), cfg.seed, "repeat")
    _, doc = np.unique(np.array([keys[i] for i in pool], dtype=object).astype(str), return_inverse=True) if len(pool) else (None, np.zeros(0, np.int64))
    doc_tokens = np.bincount(doc, weights=tokens.astype(np.float64)) if len(pool) else np.zeros(0)
    # a document's limit: its share of the budget, but at least its longest unit (small budgets)
    longest = np.zeros(len(doc_tokens))
    np.maximum.at(longest, doc, tokens.astype(np.float64))
    limit = np.maximum(cfg.max_document_share * budget_tokens, longest)[doc] if len(pool) else np.zeros(0)
    cap = np.minimum(float(cfg.max_epochs), limit / np.maximum(doc_tokens[doc], 1.0)) if len(pool) else np.zeros(0)
    return {"rows": pool.astype(np.int64), "tokens": tokens, "e": e, "cap": cap, "u": u, "doc": doc.astype(np.int64), "limit": limit,
            "bucket": codes, "shard": np.int64(view.unit)}


# --- pass 4: the scale factor that hits the budget -----------------------------------------------

def draw(f: float, e: np.ndarray, cap: np.ndarray, u: np.ndarray) -> np.ndarray:
    """k_u = ⌊x⌋ + 1[u < x − ⌊x⌋], x = min(f·e_u, cap_u): unbiased, decided by the unit's hash."""
    x = np.minimum(f * e, cap)
    base = np.floor(x)
    return (base + (u < x - base)).astype(np.int64)


def trim(k: np.ndarray, tokens: np.ndarray, doc: np.ndarray, u: np.ndarray, limit, priority=None) -> np.ndarray:
    """No document above its limit (one number, or one per unit, equal within a document): per
    document, copies are kept in ascending ``priority`` (default u; the planner passes u/e_u, the
    scale at which a unit draws its first copy, so rarer units stay) until the next would pass it
    (the draws can overshoot the expected cap)."""
    priority = u if priority is None else priority
    if not len(k):
        return k
    limit = np.broadcast_to(np.asarray(limit, np.float64), k.shape)
    amount = k * tokens
    per_doc = np.bincount(doc, weights=amount)
    doc_limit = np.zeros(len(per_doc))
    doc_limit[doc] = limit
    if not (per_doc > doc_limit).any():
        return k
    order = np.lexsort((u, priority, doc))
    k_o, t_o, d_o = k[order], tokens[order], doc[order]
    limit = limit[order]
    cum = np.cumsum(k_o * t_o)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(d_o)) + 1])
    offset = np.repeat(np.concatenate([[0], cum[starts[1:] - 1]]), np.diff(np.append(starts, len(d_o))))
    cum_doc = cum - offset
    before = cum_doc - k_o * t_o
    room = np.floor(np.maximum(limit - before, 0) / np.maximum(t_o, 1)).astype(np.int64)
    # the unit that crosses the limit keeps what fits; after it ``before`` is past the limit: nothing
    kept = np.where(cum_doc <= limit, k_o, np.minimum(k_o, room))
    out = np.empty_like(k)
    out[order] = kept
    return out


def realised(arrays: dict, f: float, passive: bool, overrides: Optional[dict] = None) -> np.ndarray:
    """k per unit of the shard at scale f (trimmed), plus the budget refinement's single-copy changes."""
    e = np.ones_like(arrays["e"]) if passive else arrays["e"]
    k = draw(f, e, arrays["cap"], arrays["u"])
    k = trim(k, arrays["tokens"], arrays["doc"], arrays["u"], arrays["limit"], arrays["u"] / np.maximum(e, 1e-300))
    if overrides:
        shard = int(arrays["shard"])
        rows = arrays["rows"].tolist()
        where = {r: j for j, r in enumerate(rows)}
        for (unit, row), delta in overrides.items():
            if unit == shard:
                k[where[row]] += delta
    return k


def final_counts(arrays: dict, fs: dict, name: str) -> np.ndarray:
    return realised(arrays, fs[name], name == "passive", fs.get("overrides", {}).get(name))


def propose(arrays: dict, fs: dict, budget_tokens: int) -> dict:
    """The shard's best single-copy change toward the budget, per mixture: (|gap after|, u, shard, row,
    step, tokens); merged by taking the smallest (``best_`` keys)."""
    out = {}
    for name in ("mixture", "passive"):
        gap = budget_tokens - fs[name + "_tokens"]
        if gap == 0 or not len(arrays["rows"]):
            continue
        k = final_counts(arrays, fs, name)
        t = arrays["tokens"]
        if gap > 0:
            doc_total = np.bincount(arrays["doc"], weights=k * t)[arrays["doc"]]
            movable = (k < np.floor(arrays["cap"] + 1e-9)) & (doc_total + t <= arrays["limit"])
        else:
            movable = k > 0
        if not movable.any():
            continue
        after = np.where(movable, np.abs(gap - np.sign(gap) * t), np.inf)
        j = int(np.lexsort((arrays["rows"], arrays["u"], after))[0])
        out["best_" + name] = (float(after[j]), float(arrays["u"][j]), int(arrays["shard"]), int(arrays["rows"][j]),
                               1 if gap > 0 else -1, int(t[j]))
    return out


def apply_proposals(fs: dict, best: dict, budget_tokens: int) -> dict:
    """Take each mixture's best proposal when it brings the total closer to the budget."""
    fs = {**fs, "overrides": {n: dict(v) for n, v in fs.get("overrides", {}).items()}}
    for name in ("mixture", "passive"):
        b = best.get("best_" + name)
        if b is None or b[0] >= abs(budget_tokens - fs[name + "_tokens"]):
            continue
        _, _, shard, row, step, tokens = b
        o = fs["overrides"].setdefault(name, {})
        o[(shard, row)] = o.get((shard, row), 0) + step
        fs[name + "_tokens"] = fs[name + "_tokens"] + step * tokens
    return fs


def evaluate(arrays: dict, grid: dict) -> dict:
    """Realised tokens at every scale factor of the grid, for the mixture and the passive mixture."""
    out = {}
    for name, fs in grid.items():
        out[name] = np.array([float((realised(arrays, f, name == "passive") * arrays["tokens"]).sum()) for f in fs])
    ceiling = np.minimum(arrays["cap"], np.inf)
    base = np.floor(ceiling)
    k_max = trim((base + (arrays["u"] < ceiling - base)).astype(np.int64), arrays["tokens"], arrays["doc"], arrays["u"],
                 arrays["limit"])
    out["same_grid"] = grid
    out["ceiling"] = float((k_max * arrays["tokens"]).sum())
    out["unique_tokens"] = float(arrays["tokens"].sum())
    return out


def first_grid() -> dict:
    fs = np.geomspace(1e-9, 1e9, GRID).tolist()
    return {"mixture": fs, "passive": fs}


def next_grid(totals: dict, budget_tokens: int, last: bool = False) -> dict:
    """The next grid inside the bracket where the realised tokens cross the budget; with ``last``,
    the chosen f per mixture (the grid point whose tokens are closest to the budget)."""
    out = {}
    for name in ("mixture", "passive"):
        fs, ts = np.asarray(totals["same_grid"][name]), np.asarray(totals[name])
        if last:
            best = int(np.argmin(np.abs(ts - budget_tokens) + np.arange(len(ts)) * 1e-9))
            out[name] = float(fs[best])
            out[name + "_tokens"] = float(ts[best])
            continue
        above = np.flatnonzero(ts >= budget_tokens)
        hi = int(above[0]) if len(above) else len(fs) - 1
        lo = max(hi - 1, 0)
        a, b = (0.0 if hi == 0 else fs[lo]), fs[hi]
        out[name] = np.linspace(a, b, GRID).tolist()
    return out


def check_ceiling(totals: dict, budget_tokens: int, cfg) -> None:
    if totals["ceiling"] < budget_tokens:
        from tailmine.errors import ConfigError

        doc = f" and at most {cfg.max_document_share:g} of the budget per document" if cfg.max_document_share < 1 else ""
        raise ConfigError(
            f"the budget of {budget_tokens:,} tokens is more than the {int(totals['ceiling']):,} tokens available: "
            f"{int(totals['unique_tokens']):,} unique tokens x the epoch cap ({cfg.max_epochs:g} epochs{doc}): "
            f"add data, lower --tokens or raise --max-epochs")


# --- pass 5: measure and lay out ----------------------------------------------------------------

def measure(view: ShardView, arrays: dict, held: frozenset, threshold: Optional[float], fs: dict, seed: int,
            out_shards: dict) -> tuple[dict, dict]:
    """The shard's additive statistics, and its sequence references per output (mixture / held out).

    ``out_shards``: {"mixture": S, "holdout": S_h}: a document copy goes to output shard ⌊u·S⌋ of its
    order hash u, so concatenating the output shards is one global order by hash."""
    work = view.work
    rows, tokens = arrays["rows"], arrays["tokens"]
    k = {"mixture": final_counts(arrays, fs, "mixture"), "passive": final_counts(arrays, fs, "passive"),
         "pool": np.ones(len(rows), np.int64)}
    reasons = unit_reasons(view, held, threshold)
    n = work.num_rows
    k_full = np.zeros(n, np.int64)
    k_full[rows] = k["mixture"]
    for i in rows[k["mixture"] == 0].tolist():
        reasons[i] = "not_sampled"
    keys = document_keys(work)
    summary: dict = {"unit_reasons": {}, "doc_reasons": {}}
    for r in reasons:
        summary["unit_reasons"][r or "_output"] = summary["unit_reasons"].get(r or "_output", 0) + 1
    summary["doc_reasons"] = _document_outcomes(keys, k_full, reasons)
    # exposures per concept hash (tail metrics) and per-bucket totals, as compact keyed arrays
    kk = np.stack([k["pool"], k["passive"], k["mixture"]], axis=1).astype(np.float64)
    lists = work.column("concept_ids").take(pa.array(rows)).combine_chunks() if len(rows) else None
    if lists is not None and len(lists.values):
        per_unit = np.diff(lists.offsets.to_numpy())
        summary["exposures"] = KeyedSums.of(lists.values.to_numpy(), np.repeat(kk, per_unit, axis=0))
    else:
        summary["exposures"] = KeyedSums.empty(3)
    sources = work.column("source").to_pylist()
    dfs = np.array([-1 if d is None else d for d in _column(work, "bucket_df", -1)], np.float64)
    t = tokens.astype(np.float64)
    summary["bucket_stats"] = KeyedSums.of(arrays["bucket"],
                                          np.stack([dfs[rows], np.ones(len(rows)), t, t * k["mixture"], t * k["passive"]], axis=1)
                                          if len(rows) else np.zeros((0, 5)), max_columns=(0,))
    s_stats: dict = {}
    for j, i in enumerate(rows.tolist()):
        tj = int(tokens[j])
        st = s_stats.setdefault(sources[i], {"units": 0, "unique_tokens": 0, "tokens": 0, "passive_tokens": 0})
        st["units"] += 1
        st["unique_tokens"] += tj
        st["tokens"] += tj * int(k["mixture"][j])
        st["passive_tokens"] += tj * int(k["passive"][j])
    if len(rows):  # documents in the mixture per source (documents never straddle shards)
        taken = np.bincount(arrays["doc"], weights=k["mixture"]) > 0
        first = np.zeros(len(taken), np.int64)
        first[arrays["doc"][::-1]] = rows[::-1]
        for d in np.flatnonzero(taken).tolist():
            s_stats[sources[int(first[d])]]["documents"] = s_stats[sources[int(first[d])]].get("documents", 0) + 1
    summary["source_stats"] = s_stats
    summary["repetition"] = {name: _repetition_parts(k[name], tokens) for name in ("mixture", "passive")}
    summary["spread"] = {name: _spread_parts(k[name], tokens, arrays["doc"]) for name in ("mixture", "passive")}
    summary["spread"]["pool"] = {"documents": int(arrays["doc"].max()) + 1 if len(rows) else 0, "units": int(len(rows))}
    q = _quality(work)
    cand = np.array([r is None or r in ("below_quality_gate", "not_sampled") for r in reasons], bool)
    qp = q[rows]
    summary["quality"] = {
        "candidates": sparse_histogram(q[cand & np.isfinite(q)]),
        "passive": sparse_histogram(qp[np.isfinite(qp)], (tokens * k["passive"])[np.isfinite(qp)]),
        "mixture": sparse_histogram(qp[np.isfinite(qp)], (tokens * k["mixture"])[np.isfinite(qp)]),
    }
    # sequence references: the mixture's unit copies, and the held-out units (one copy each)
    held_rows = np.flatnonzero([r == "held_out" for r in reasons])
    refs = {"mixture": _references(view, keys, rows, k["mixture"], seed, out_shards["mixture"]),
            "holdout": _references(view, keys, held_rows, np.ones(len(held_rows), np.int64), seed, out_shards["holdout"])}
    summary["held_units"] = int(len(held_rows))
    summary["held_tokens"] = int(view.work.column("tokens").to_numpy()[held_rows].sum()) if len(held_rows) else 0
    return summary, refs


def _document_outcomes(keys: list, k: np.ndarray, reasons: list) -> dict:
    """Per document: output when any unit is in the mixture, else the first reason of its units in
    ``DOC_REASON_ORDER``; counted by outcome."""
    rank = {r: i for i, r in enumerate(DOC_REASON_ORDER)}
    best: dict = {}
    for key, kk, r in zip(keys, k.tolist(), reasons):
        here = -1 if kk > 0 else rank.get(r, len(rank))
        if key not in best or here < best[key][0]:
            best[key] = (here, r)
    out: dict = {}
    for here, r in best.values():
        name = "_output" if here < 0 else (r or "not_sampled")
        out[name] = out.get(name, 0) + 1
    return out


DOC_REASON_ORDER = ("held_out", "empty_document", "below_quality_gate", "contaminated_ngram", "near_duplicate_of_holdout", "not_sampled")


def _repetition_parts(k: np.ndarray, tokens: np.ndarray) -> dict:
    from tailmine.mixtures.budget import effective_tokens

    sampled = k > 0
    return {"units_by_k": {int(a): int(b) for a, b in zip(*np.unique(k, return_counts=True))},
            "unique_tokens_by_k": {int(a): int(tokens[k == a].sum()) for a in np.unique(k)},
            "effective_tokens": float(sum(effective_tokens(float(t), float(e)) for t, e in zip(tokens[sampled], k[sampled]))),
            "max_k": int(k.max()) if len(k) else 0}


def _spread_parts(k: np.ndarray, tokens: np.ndarray, doc: np.ndarray) -> dict:
    per_doc = np.bincount(doc, weights=k * tokens) if len(doc) else np.zeros(0)
    return {"documents": int(np.count_nonzero(per_doc)), "units": int(np.count_nonzero(k)),
            "max_document_tokens": int(per_doc.max()) if len(per_doc) else 0}


REFERENCE_COLUMNS = ("shard", "order", "name", "unit", "copy", "row")
ORDER_COLUMNS = ("order", "name", "unit")  # the global sequence order: hash, document copy, unit in reading order


def _references(view: ShardView, keys: list, rows: np.ndarray, k: np.ndarray, seed: int, n_out: int) -> dict:
    """Columns of one reference per unit copy: output shard, order hash, document-copy name, unit, copy, row."""
    sel = np.flatnonzero(k > 0)
    r = np.repeat(rows[sel], k[sel])
    c = np.concatenate([np.arange(x) for x in k[sel]]).astype(np.int64) if len(sel) else np.zeros(0, np.int64)
    names = [f"{keys[i]}\x1f{j}" for i, j in zip(r.tolist(), c.tolist())]
    u = uniform_hash(names, seed, "order")
    units = view.work.column("unit").to_numpy()
    return {"shard": np.minimum((u * max(n_out, 1)).astype(np.int64), max(n_out, 1) - 1), "order": u, "name": names,
            "unit": units[r].astype(np.int64) if len(r) else np.zeros(0, np.int64), "copy": c, "row": r.astype(np.int64)}


def gather_order(parts: list[tuple[int, dict]], shard: int) -> list[tuple[int, int, int]]:
    """(input unit, row, copy) of output shard ``shard`` in the global order: hash u, then the
    document-copy name (ties), then the unit's place in its document."""
    picked = []
    for input_unit, refs in parts:
        m = np.flatnonzero(np.asarray(refs["shard"]) == shard)
        for j in m.tolist():
            picked.append(tuple(refs[c][j] for c in ORDER_COLUMNS) + (input_unit, int(refs["row"][j]), int(refs["copy"][j])))
    picked.sort()
    return [(p[3], p[4], p[5]) for p in picked]


# --- the recipe sections from the merged summaries ------------------------------------------------

def bucket_name_index(columns) -> tuple[np.ndarray, pa.Array]:
    """(sorted bucket codes, their names) from the prepared shards' ``bucket`` columns, one shard's
    distinct names at a time, as Arrow strings: names are needed only to label buckets.parquet."""
    import pyarrow.compute as pc

    parts = [pc.unique(pc.fill_null(col, NO_BUCKET)) for col in columns]
    names = pc.unique(pa.chunked_array(parts, pa.string()).combine_chunks()) if parts else pa.array([], pa.string())
    codes = bucket_codes(names.to_pylist())
    order = np.argsort(codes, kind="stable")
    return codes[order], names.take(pa.array(order))


def sections(summary: dict, weights: dict, gate: dict, cfg, fs: dict, budget_tokens: int,
             bucket_names: tuple[np.ndarray, pa.Array]) -> tuple[dict, pa.Table]:
    """The recipe's plan sections and the per-bucket table (sorted by bucket name), from the merged
    :func:`measure` summaries and :func:`bucket_name_index`."""
    out: dict = {"quality_gate": gate}
    exp = summary["exposures"]
    if len(exp.keys):
        metrics = {name: tail_metrics(exp.values[:, i]) for i, name in enumerate(("pool", "passive", "mixture"))}
        metrics["cov_10_ratio_mixture_over_passive"] = (
            metrics["mixture"]["cov_10"] / metrics["passive"]["cov_10"] if metrics["passive"]["cov_10"] else None)
        out["tail_metrics"] = metrics
    else:
        out["tail_metrics"] = {"note": "no concept annotations (run the concepts stage first): tail metrics not computed"}
    st = summary["bucket_stats"]
    codes, all_names = bucket_names
    names = all_names.take(pa.array(np.searchsorted(codes, st.keys), pa.int64())) if len(st.keys) else pa.array([], pa.string())
    b_df = st.values[:, 0].astype(np.int64)
    b_unique, b_tokens, b_passive = st.values[:, 2], st.values[:, 3], st.values[:, 4]
    table = pa.table({
        "bucket": names.cast(pa.string()), "df": pa.array(b_df), "units": pa.array(st.values[:, 1].astype(np.int64)),
        "unique_tokens": pa.array(b_unique.astype(np.int64)), "tokens": pa.array(b_tokens.astype(np.int64)),
        "passive_tokens": pa.array(b_passive.astype(np.int64)),
        "epochs": pa.array(np.divide(b_tokens, b_unique, out=np.zeros(len(names)), where=b_unique > 0)),
    }).sort_by("bucket")
    out["buckets"] = bucket_summary(b_df, b_unique, b_tokens, b_passive, len(names))
    total = sum(s["tokens"] for s in summary["source_stats"].values())
    src = {}
    for s in sorted(summary["source_stats"]):
        x = {"documents": 0, **summary["source_stats"][s]}
        x["target_tokens"] = weights["per_source"][s]
        x["weight"] = x["tokens"] / max(1, total)
        x["epochs"] = x["tokens"] / max(1, x["unique_tokens"])
        src[s] = x
    out["sources"] = src
    out["weights"] = {
        "source_weighting": cfg.source_weighting, "tail_lambda": cfg.tail_lambda, "tail_beta": cfg.tail_beta,
        "max_epochs": cfg.max_epochs, "budget_scale": fs["mixture"], "passive_scale": fs["passive"],
        "formula": "e_u = min(E_max, share*B/T_doc, f * ((1-lambda) * B_s/U_s + lambda * UniMax_b(beta, E_max)/U_b)); "
                   "k_u = floor(e_u) + [u(unit) < frac(e_u)], u = blake2b(seed, unit)/2^64; copies past share*B per document "
                   "dropped (largest u first); f: the grid point (narrowed in rounds) whose total is closest to B",
    }
    prof = repetition_profile(summary["repetition"]["mixture"])
    out["repetition_profile"] = prof
    out["repetition_profile_passive"] = repetition_profile(summary["repetition"]["passive"])
    out["epochs"] = prof["units_by_epochs"]
    spread = {}
    for name in ("mixture", "passive"):
        p = summary["spread"][name]
        t = sum(s["tokens" if name == "mixture" else "passive_tokens"] for s in summary["source_stats"].values())
        spread[name] = {"documents": p["documents"], "units": p["units"], "largest_document_tokens": p["max_document_tokens"],
                        "largest_document_share": p["max_document_tokens"] / t if t else 0.0}
    spread["pool"] = summary["spread"]["pool"]
    spread["unit_tokens"], spread["max_document_share"] = cfg.unit_tokens, cfg.max_document_share
    out["spread"] = spread
    qh = summary["quality"]
    if qh["candidates"]:
        drift = {"column": gate.get("column"), **{n: histogram_quantiles(qh[n]) for n in ("candidates", "passive", "mixture")},
                 "resolution": "quantiles read from 24-bit float histograms (about 4 significant digits)"}
        drift["median_shift_vs_passive"] = drift["mixture"].get("p50", 0.0) - drift["passive"].get("p50", 0.0) if drift["mixture"] else None
        out["quality_drift"] = drift
    else:
        out["quality_drift"] = {"note": "no quality scores: drift not measured"}
    return out, table


def histogram_quantiles(hist: dict) -> dict:
    from tailmine.mixtures.recipe import QUANTILES

    if not hist:
        return {}
    bins = sorted(hist)
    w = np.array([hist[b] for b in bins], np.float64)
    if w.sum() <= 0:
        return {}
    cum = np.cumsum(w) / w.sum()
    return {f"p{int(q * 100)}": key_value(bins[min(int(np.searchsorted(cum, q)), len(bins) - 1)] << KEY_SHIFT) for q in QUANTILES}


def repetition_profile(parts: dict) -> dict:
    from tailmine.mixtures.recipe import QUANTILES

    ks = sorted(parts["units_by_k"])
    tok = {kk: parts["unique_tokens_by_k"].get(kk, 0) for kk in ks}
    weights = np.array([kk * tok[kk] for kk in ks], np.float64)
    qs = {}
    if weights.sum() > 0:  # epochs seen by a random token of the mixture
        cum = np.cumsum(weights) / weights.sum()
        for q in QUANTILES:
            qs[f"p{int(q * 100)}"] = int(ks[min(int(np.searchsorted(cum, q)), len(ks) - 1)])
    sampled_unique = sum(tok[kk] for kk in ks if kk > 0)
    return {
        "units_by_epochs": {str(kk): int(parts["units_by_k"][kk]) for kk in ks if parts["units_by_k"][kk]},
        "unique_tokens_by_epochs": {str(kk): int(tok[kk]) for kk in ks if tok[kk]},
        "token_weighted_epoch_quantiles": qs,
        "max_epochs": int(max(ks)) if ks else 0,
        "mean_epochs_sampled": float(weights.sum() / sampled_unique) if sampled_unique else 0.0,
        "unique_tokens": int(sampled_unique),
        "effective_tokens": float(parts["effective_tokens"]),
    }


def bucket_summary(b_df, b_unique, b_tokens, b_passive, nb) -> dict:
    """Per-bucket epochs and tail coverage (share of buckets with any token) by df band (the full
    table is buckets.parquet)."""
    bands = [(1, 1), (2, 2), (3, 5), (6, 10), (11, 100), (101, 1000), (1001, 10**18)]
    out = {"count": int(nb), "by_df": []}
    none = b_df < 0
    for lo, hi in bands:
        m = (b_df >= lo) & (b_df <= hi)
        if m.any():
            out["by_df"].append({"df": [lo, hi if hi < 10**18 else None], "buckets": int(m.sum()), "unique_tokens": int(b_unique[m].sum()),
                                 "tokens": int(b_tokens[m].sum()), "passive_tokens": int(b_passive[m].sum()),
                                 "covered": float(np.count_nonzero(b_tokens[m]) / m.sum()),
                                 "covered_passive": float(np.count_nonzero(b_passive[m]) / m.sum()),
                                 "epochs": float(b_tokens[m].sum() / max(1, b_unique[m].sum()))})
    if none.any():
        out["no_concept"] = {"buckets": int(none.sum()), "unique_tokens": int(b_unique[none].sum()), "tokens": int(b_tokens[none].sum()),
                             "epochs": float(b_tokens[none].sum() / max(1, b_unique[none].sum()))}
    return out


# --- all passes in one process --------------------------------------------------------------------

@dataclass
class LocalPlan:
    threshold: Optional[float]
    gate: dict
    weights: dict
    fs: dict
    arrays: list
    summary: dict
    references: list           # per shard: {"mixture": refs, "holdout": refs}
    sections: dict
    bucket_table: pa.Table


def quality_gate(views_summaries: Callable, values: Callable, cfg, quality_column) -> tuple[Optional[float], dict]:
    """The gate's threshold from the candidates' summary (and, if needed, the values in one bin)."""
    summary = views_summaries()
    gate: dict = {"column": quality_column}
    if not quality_column:
        gate["note"] = "no quality_* column in the input: quality gate skipped"
        return None, gate
    at = quality_rank(summary, cfg.quality_quantile)
    if at is None:
        gate["note"] = "quality gate off (quality_quantile 0 or no scores)"
        return None, gate
    threshold = quality_threshold(values(at[0]), at[1])
    gate.update(quantile=cfg.quality_quantile, threshold=threshold)
    return threshold, gate


def plan_local(views: list[ShardView], held: frozenset, cfg, budget_tokens: int, quality_column: Optional[str]) -> LocalPlan:
    """Every pass over in-memory shards, merged as the Beam combiners merge them."""
    def merged(fn):
        out: dict = {}
        for v in views:
            out = add_dicts(out, fn(v))
        return out

    threshold, gate = quality_gate(lambda: merged(lambda v: candidate_summary(v, held)),
                                   lambda b: merged(lambda v: values_in_bin(v, held, b))["values"], cfg, quality_column)
    weights = plan_weights(merged(lambda v: pool_summary(v, held, threshold)), cfg, budget_tokens)
    arrays = [shard_arrays(v, held, threshold, weights, cfg, budget_tokens) for v in views]
    fs = search_scale(lambda grid: _merge_all([evaluate(a, grid) for a in arrays]), budget_tokens, cfg)
    for _ in range(REFINE_ROUNDS):
        fs = apply_proposals(fs, _merge_all([propose(a, fs, budget_tokens) for a in arrays]), budget_tokens)
    held_tokens = sum(int(v.work.column("tokens").to_numpy()[np.array([g in held for g in v.work.column("group").to_pylist()], bool)].sum())
                      for v in views)
    n_out = out_shard_counts(fs, held_tokens, cfg)
    summary, references = {}, []
    for v, a in zip(views, arrays):
        s, refs = measure(v, a, held, threshold, fs, cfg.seed, n_out)
        summary = add_dicts(summary, s)
        references.append(refs)
    if threshold is not None:
        gate["dropped"] = summary["unit_reasons"].get("below_quality_gate", 0)
    secs, table = sections(summary, weights, gate, cfg, fs, budget_tokens, bucket_name_index(v.work.column("bucket") for v in views))
    return LocalPlan(threshold, gate, weights, fs, arrays, summary, references, secs, table)


def _merge_all(parts: list[dict]) -> dict:
    out: dict = {}
    for p in parts:
        out = add_dicts(out, p)
    return out


def search_scale(evaluate_all: Callable[[dict], dict], budget_tokens: int, cfg) -> dict:
    """ROUNDS rounds of :func:`evaluate` over all shards; the chosen f per mixture and its tokens."""
    grid = first_grid()
    for r in range(ROUNDS):
        totals = evaluate_all(grid)
        if r == 0:
            check_ceiling(totals, budget_tokens, cfg)
        grid = next_grid(totals, budget_tokens, last=r == ROUNDS - 1)
    return grid


def out_shard_counts(fs: dict, held_tokens: int, cfg) -> dict:
    return {"mixture": max(1, -(-int(fs["mixture_tokens"]) // cfg.shard_tokens)),
            "holdout": max(1, -(-int(held_tokens) // cfg.shard_tokens))}
