"""Smoke test of the tail experiment's code path (issue 9): world → ingest → concepts → mix (two arms)
→ a few training steps on the token shards → evaluation. Toy size; checks plumbing, not results."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tailmine.experiments import tail  # noqa: E402
from tailmine.experiments.tinylm import ModelConfig, TinyLM, deterministic, load_blocks, train  # noqa: E402
from tailmine.experiments.world import heldout_documents, make_world, pool_documents, rank_buckets  # noqa: E402
from tailmine.mixtures.tokenize import Encoder  # noqa: E402


def test_world_is_reproducible_and_heldout_is_fresh():
    w1, w2 = make_world(40, seed=3), make_world(40, seed=3)
    assert w1.entities == w2.entities and (w1.facts == w2.facts).all()
    pool = pool_documents(w1, 300, seed=0)
    assert [d["text"] for d in pool] == [d["text"] for d in pool_documents(w2, 300, seed=0)]
    counts = np.bincount([d["entity"] for d in pool], minlength=40)
    assert counts.min() >= 2 and counts[0] > counts[-1]
    texts = {d["text"] for d in pool}
    held = heldout_documents(w1, range(40), seed=9, exclude=texts)
    assert all(t not in texts for _e, t, _s in held)
    e, text, spans = held[0]
    assert len(spans) == len(w1.relations)
    for r, a, b in spans:
        assert text[a:b] == w1.value(e, r)
    assert list(np.bincount(rank_buckets(40))) == [2, 10, 28]


def test_tail_experiment_end_to_end(tmp_path):
    world = make_world(40, n_relations=2, n_values=5, seed=0)
    concepts_dir, pool = tail.build_pool(tmp_path, world, 600, seed=0)
    texts = {d["text"] for d in pool}
    held = heldout_documents(world, range(world.n_entities), seed=1, exclude=texts)
    natural = heldout_documents(world, world.sample_entities(30, np.random.default_rng(0)), seed=2, exclude=texts)
    budget = 30_000
    buckets = rank_buckets(world.n_entities)
    tokenizer, tail_exposure, results = "", {}, {}
    for arm in ("passive", "unimax_b0.5_E4"):
        out = tmp_path / arm
        recipe = tail.make_arm(concepts_dir, str(out), arm, budget, seed=0, tokenizer=tokenizer, vocab_size=300)
        tokenizer = tokenizer or str(out / "tokenizer.json")
        assert abs(recipe["budget_error"]) < 0.02
        expo = tail.exposures(str(out), world.n_entities)
        tail_exposure[arm] = expo[buckets == 2].mean()
        enc = Encoder(str(out / "tokenizer.json"))
        assert tail.check_value_tokenization(enc, world, held[:10]) == 1.0
        deterministic(0)
        model = TinyLM(ModelConfig(vocab_size=enc.vocab_size, d_model=32, n_layers=1, n_heads=2, context=32))
        tr = train(model, load_blocks(str(out), 32), steps=5, batch=4)
        assert math.isfinite(tr["final_train_loss"])
        ev = tail.evaluate(model, enc, world, held, natural)
        for b in tail.BUCKETS:
            assert math.isfinite(ev[b]["fact_nll"]) and 0.0 <= ev[b]["fact_acc"] <= 1.0 and math.isfinite(ev[b]["doc_bpb"])
        assert math.isfinite(ev["natural_bpb"]) and ev["natural_bpb"] > 0
        results[arm] = ev
    # the mixer really reweighted: the tail gets clearly more exposures under UniMax than passively
    assert tail_exposure["unimax_b0.5_E4"] > 1.5 * tail_exposure["passive"]
