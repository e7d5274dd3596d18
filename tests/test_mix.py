"""The mix stage: budget, weights, repeat draws, tail metrics, tokenizer, shards, reader, held-out set."""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from tailmine.errors import ConfigError
from tailmine.mixtures.budget import TokenBudget, effective_tokens
from tailmine.mixtures.config import MixConfig
from tailmine.mixtures.plan import plan_mixture
from tailmine.mixtures.prepare import WORK_SCHEMA
from tailmine.mixtures.recipe import exposures, tail_metrics
from tailmine.mixtures.passes import draw, trim
from tailmine.mixtures.weights import source_budgets, temperature_weights, uniform_hash, unimax


# --- budget -------------------------------------------------------------------------------------

def test_budget_from_compute_kaplan_and_chinchilla():
    b = TokenBudget.from_compute(6e20, params=1_000_000_000)
    assert b.tokens == 100_000_000_000 and "6 N" in b.formula
    c = TokenBudget.from_compute(1e21)  # the §3.1 example: N ~ 2.9B, D ~ 58B
    assert abs(c.params - 2.89e9) / 2.89e9 < 0.01 and abs(c.tokens - 5.77e10) / 5.77e10 < 0.01
    assert abs(6 * c.params * c.tokens - 1e21) / 1e21 < 1e-6 and c.tokens == pytest.approx(20 * c.params, rel=1e-6)
    assert TokenBudget.from_tokens(1000, params=1000).warnings()  # 1 token/param is flagged
    assert effective_tokens(100, 4) == pytest.approx(100 + 100 * 15.4 * (1 - math.exp(-3 / 15.4)))
    with pytest.raises(ConfigError):
        MixConfig()
    with pytest.raises(ConfigError):
        MixConfig(tokens=10, compute_flops=1e20)


# --- weights ------------------------------------------------------------------------------------

def test_unimax_water_filling_by_hand():
    # caps 4, 8, 400; uniform share: 4 (capped), then min(8, 26/2) = 8, then the remaining 18
    assert unimax(np.array([1.0, 2.0, 100.0]), 30, 4, beta=1.0).tolist() == [4.0, 8.0, 18.0]
    # beta = 0: proportional to size while no cap binds (passive)
    out = unimax(np.array([1.0, 2.0, 100.0]), 30, 4, beta=0.0)
    assert np.allclose(out, 30 * np.array([1, 2, 100]) / 103)
    # never above the cap, total = budget when reachable
    rng = np.random.default_rng(1)
    u = rng.integers(1, 1000, 500).astype(float)
    for beta in (0.0, 0.25, 1.0):
        a = unimax(u, 0.5 * u.sum(), 4, beta)
        assert np.all(a <= 4 * u + 1e-9) and a.sum() == pytest.approx(0.5 * u.sum())
    assert temperature_weights({"a": 100, "b": 1}, 1e9) == pytest.approx({"a": 0.5, "b": 0.5}, rel=1e-6)
    sb = source_budgets({"a": 100.0, "b": 1.0}, 200, "unimax", 4)
    assert sb == {"a": pytest.approx(196.0), "b": pytest.approx(4.0)}
    assert source_budgets({"a": 3.0, "b": 1.0}, 8, "explicit", 4, explicit={"a": 1, "b": 3}) == {"a": 2.0, "b": 6.0}


def test_repeat_draws_are_unbiased_capped_and_trimmed_to_the_document_share():
    rng = np.random.default_rng(2)
    n = 20000
    e = rng.uniform(0, 6, n)
    u = uniform_hash([f"doc{i}" for i in range(n)], seed=7)
    assert np.array_equal(u, uniform_hash([f"doc{i}" for i in range(n)], seed=7))
    assert not np.array_equal(u, uniform_hash([f"doc{i}" for i in range(n)], seed=8))
    k = draw(1.0, e, np.full(n, 4.0), u)
    assert k.max() == 4 and k.min() == 0
    assert abs(k.mean() - np.minimum(e, 4).mean()) < 0.02
    # trim: per document, copies kept in ascending u while they fit; a unit that crosses keeps what fits
    tokens = np.array([10, 10, 10, 5, 7])
    doc = np.array([0, 0, 0, 1, 1])
    kk = np.array([2, 1, 3, 1, 1])
    uu = np.array([0.5, 0.1, 0.9, 0.3, 0.2])
    assert trim(kk, tokens, doc, uu, 35).tolist() == [2, 1, 0, 1, 1]  # 10 (u .1) + 20 (u .5) = 30; the u .9 unit: no room
    assert trim(kk, tokens, doc, uu, 45).tolist() == [2, 1, 1, 1, 1]
    assert trim(kk, tokens, doc, uu, 1000).tolist() == kk.tolist()


# --- planning on a synthetic Zipf corpus --------------------------------------------------------

def zipf_work(n_docs=20000, n_concepts=400, s=1.0, seed=0, quality=False):
    """A prepared-documents table whose concepts follow Zipf(s); bucket = rarest concept."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_concepts + 1) ** s
    p /= p.sum()
    sets = [sorted(set(rng.choice(n_concepts, size=rng.integers(1, 4), p=p).tolist())) for _ in range(n_docs)]
    df = np.zeros(n_concepts, np.int64)
    for cs in sets:
        df[cs] += 1
    bucket = [min(cs, key=lambda c: (df[c], c)) for cs in sets]
    tokens = rng.integers(100, 1000, n_docs)
    q = rng.normal(size=n_docs).tolist() if quality else [None] * n_docs
    return pa.Table.from_pydict({
        "id": [f"d{i}" for i in range(n_docs)], "unit": [0] * n_docs, "last_unit": [True] * n_docs, "doc_row": list(range(n_docs)),
        "char_start": [0] * n_docs, "char_end": (tokens * 4).tolist(), "token_start": [0] * n_docs,
        "group": [f"site{i % 50}.org" for i in range(n_docs)], "source": [("web", "books")[i % 5 == 0] for i in range(n_docs)],
        "bucket": [f"c{b}" for b in bucket], "bucket_df": [int(df[b]) for b in bucket], "concept_ids": sets,
        "tokens": tokens.tolist(), "utf8_bytes": (tokens * 4).tolist(), "quality": q,
        "input_shard": ["x"] * n_docs, "source_file": ["f"] * n_docs, "source_record": list(range(n_docs)),
        "source_offset": [None] * n_docs,
    }, schema=WORK_SCHEMA)


def test_reweighting_doubles_cov10_on_a_zipf_corpus_within_caps_and_budget():
    work = zipf_work()
    tokens = work.column("tokens").to_numpy()
    budget = int(tokens.sum() / 6)
    none = [None] * work.num_rows
    unimax_plan = plan_mixture(work, none, MixConfig(tokens=budget, tail_lambda=1.0, tail_beta=1.0), TokenBudget.from_tokens(budget), None)
    m = unimax_plan.sections["tail_metrics"]
    assert m["mixture"]["cov_10"] >= 2 * m["passive"]["cov_10"] > 0
    assert m["mixture"]["hill_d1"] > m["passive"]["hill_d1"] and m["mixture"]["zipf_s"] < m["passive"]["zipf_s"]
    for plan in (unimax_plan,):
        assert plan.k.max() <= 4 and plan.k_passive.max() <= 4
        for k in (plan.k, plan.k_passive):
            assert abs(int((k * tokens).sum()) - budget) / budget < 0.005
    cautious = plan_mixture(work, none, MixConfig(tokens=budget), TokenBudget.from_tokens(budget), None)
    cm = cautious.sections["tail_metrics"]
    # the cautious default moves toward the tail, but less than full UniMax
    assert m["mixture"]["cov_1"] >= cm["mixture"]["cov_1"] >= cm["passive"]["cov_1"]
    again = plan_mixture(work, none, MixConfig(tokens=budget), TokenBudget.from_tokens(budget), None)
    assert np.array_equal(again.k, cautious.k) and again.sections == cautious.sections
    n_c = exposures(np.array([0, 2, 3]), np.array([0, 1, 1]), np.array([3, 10]), 2)
    assert n_c.tolist() == [3.0, 13.0]
    t = tail_metrics(np.array([0.0, 5, 10, 100]))
    assert (t["cov_1"], t["cov_10"], t["cov_100"]) == (0.75, 0.5, 0.25)
    assert t["hill_d2"] <= t["hill_d1"] <= 3


def test_quality_gate_drops_the_bottom_quantile_and_reports_drift():
    work = zipf_work(n_docs=4000, quality=True)
    budget = int(work.column("tokens").to_numpy().sum() / 4)
    plan = plan_mixture(work, [None] * work.num_rows, MixConfig(tokens=budget, quality_quantile=0.2), TokenBudget.from_tokens(budget), "quality_x")
    gate = plan.sections["quality_gate"]
    assert abs(gate["dropped"] - 800) <= 2 and plan.reasons.count("below_quality_gate") == gate["dropped"]
    q = np.array(work.column("quality").to_pylist())
    assert np.all(plan.k[q < gate["threshold"]] == 0)
    assert plan.sections["quality_drift"]["mixture"]["p50"] > plan.sections["quality_drift"]["candidates"]["p50"]
    off = plan_mixture(zipf_work(n_docs=500), [None] * 500, MixConfig(tokens=10000), TokenBudget.from_tokens(10000), None)
    assert "skipped" in off.sections["quality_gate"]["note"] and "note" in off.sections["quality_drift"]


def test_plan_hits_the_budget_within_half_a_percent_with_few_long_units_and_caps_every_document():
    work = zipf_work(n_docs=300)
    tokens = work.column("tokens").to_numpy()
    for budget in (20_000, 60_000, int(2.5 * tokens.sum())):
        cfg = MixConfig(tokens=budget, max_document_share=0.02)
        plan = plan_mixture(work, [None] * 300, cfg, TokenBudget.from_tokens(budget), None)
        for k in (plan.k, plan.k_passive):
            assert abs(int((k * tokens).sum()) - budget) <= 0.005 * budget
            assert (k * tokens).max() <= max(0.02 * budget, tokens.max()) and k.max() <= 4
        again = plan_mixture(work, [None] * 300, cfg, TokenBudget.from_tokens(budget), None)
        assert np.array_equal(again.k, plan.k)
    with pytest.raises(ConfigError, match=r"budget of [\d,]+ tokens is more than the [\d,]+ tokens available"):
        plan_mixture(work, [None] * 300, MixConfig(tokens=int(4.1 * tokens.sum())), TokenBudget.from_tokens(int(4.1 * tokens.sum())), None)
    # 2% per document: fewer than 50 documents cannot fill a budget they could fill 4 times over
    few = zipf_work(n_docs=30)
    budget = 2 * int(few.column("tokens").to_numpy().sum())
    with pytest.raises(ConfigError, match="0.02 of the budget per document"):
        plan_mixture(few, [None] * 30, MixConfig(tokens=budget), TokenBudget.from_tokens(budget), None)


def test_references_are_a_seeded_order_independent_of_input_order():
    from tailmine.mixtures.passes import gather_order

    work = zipf_work(n_docs=400)
    budget = int(work.column("tokens").to_numpy().sum() / 3)
    cfg = MixConfig(tokens=budget)

    def order(table, seed):
        plan = plan_mixture(table, [None] * table.num_rows, MixConfig(tokens=budget, seed=seed), TokenBudget.from_tokens(budget), None)
        ids = table.column("id").to_pylist()
        return [(ids[row], copy) for _, row, copy in gather_order([(0, plan.references["mixture"])], 0)], plan

    seq, plan = order(work, 0)
    assert len(seq) == plan.k.sum() and sorted(seq) == sorted((i, c) for i, kk in zip(work.column("id").to_pylist(), plan.k) for c in range(kk))
    rev, _ = order(work.take(pa.array(np.arange(work.num_rows)[::-1])), 0)
    assert rev == seq
    other, _ = order(work, 1)
    assert other != seq
    assert cfg.unit_tokens == 2048


def test_mixture_keys_do_not_depend_on_where_the_data_lives():
    """Hash keys decide repeat counts and order: moving a dump to another folder must not change the mix."""
    import pyarrow as pa

    from tailmine.mixtures.holdout import domain_key
    from tailmine.mixtures.passes import document_keys

    def table(prefix):
        return pa.table({"id": ["a", "b"], "source_file": [f"{prefix}/crawl/x.jsonl", f"{prefix}/crawl/y.jsonl"],
                         "source_record": [0, 1], "source_offset": [0, 10]})

    assert document_keys(table("/tmp/run-1/in")) == document_keys(table("/data/elsewhere"))
    assert domain_key("jsonl", None, None, "/tmp/run-1/in/crawl/x.jsonl") == domain_key("jsonl", None, None, "/mnt/d/crawl/x.jsonl")


def test_holdout_groups_reach_the_share_or_say_why():
    from tailmine.mixtures.holdout import choose_holdout_groups, offered_groups

    rng = np.random.default_rng(4)
    groups = {f"domain:site{i}.org": int(t) for i, t in enumerate(rng.integers(100, 5000, 3000))}
    total = sum(groups.values())
    offered = offered_groups(groups, total, 0.05, 3)
    assert 0 < len(offered) < len(groups) / 4  # a prefix of the groups is all the choice needs
    held, info = choose_holdout_groups(groups, total, 0.05, 3)
    assert abs(info["share"] - 0.05) <= 0.01 and held <= {g for _, g, _ in offered} and info["tokens"] == sum(groups[g] for g in held)
    assert choose_holdout_groups(offered, total, 0.05, 3)[0] == held == choose_holdout_groups(groups, total, 0.05, 3)[0]
    assert choose_holdout_groups(groups, total, 0.0, 3)[0] == set()
    # one book of 40% and small pages: 1% cannot come from the book; the pages make it
    mixed = {"work:a|big book": 4000, **{f"domain:p{i}.org": 10 for i in range(600)}}
    held, info = choose_holdout_groups(mixed, 10_000, 0.01, 0)
    assert "work:a|big book" not in held and abs(info["share"] - 0.01) <= 0.002
    with pytest.raises(ConfigError, match=r"0\.0000% of the 10,000 input tokens.*--holdout 0"):
        choose_holdout_groups({"work:a|big book": 4000}, 10_000, 0.01, 0)


def test_holdout_reaches_past_large_groups_first_in_hash_order():
    """Lumpy input (books first in hash order, small sites after): the choice goes as far down the
    hash order as it must, where a fixed range of 3x the fraction found too little (a real run on the
    shared books and pages with --holdout 0.01 held out 0.34%)."""
    from tailmine.mixtures.holdout import choose_holdout_groups, group_uniform, tokenizer_bound

    names = [f"domain:s{i}.net" for i in range(4000)]
    early = [g for g in names if group_uniform(g, 0) < tokenizer_bound(0.005)]
    groups = {g: (20_000 if g in early else 60) for g in names}
    total = sum(groups.values())
    held, info = choose_holdout_groups(groups, total, 0.005, 0)
    assert early and not held & set(early)
    assert abs(info["share"] - 0.005) <= 0.001 and info["groups_seen_by_tokenizer"] == len(held)


def test_offered_groups_combiner_merges_parts_like_the_whole():
    """Beam's combiner sees groups in any partition: the merged prefix equals the prefix of all."""
    from tailmine.mixtures.holdout import group_uniform, offer_limit, offered_groups
    from tailmine.pipelines.mix import OfferedGroups

    rng = np.random.default_rng(7)
    groups = {f"domain:g{i}.org": int(t) for i, t in enumerate(rng.integers(1, 3000, 20_000))}
    total = sum(groups.values())
    largest, target = offer_limit(total, 0.02)
    items = [(group_uniform(g, 5), g, t, target) for g, t in groups.items() if t <= largest]
    fn = OfferedGroups()
    parts = []
    for k in range(5):
        acc = fn.create_accumulator()
        for item in items[k::5]:
            acc = fn.add_input(acc, item)
        parts.append(acc)
    merged = fn.extract_output(fn.merge_accumulators(parts))
    assert merged == offered_groups(groups, total, 0.02, 5)
    assert sum(t for _, _, t in merged) >= target and len(merged) < len(items) / 5
