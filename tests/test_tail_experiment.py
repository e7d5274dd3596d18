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
    for arm in (tail.Arm(), tail.Arm.parse("l1_b0.5_E4")):
        out = tmp_path / arm.name
        recipe = tail.make_arm(concepts_dir, str(out), arm, budget, seed=0, tokenizer=tokenizer, vocab_size=300)
        tokenizer = tokenizer or str(out / "tokenizer.json")
        assert abs(recipe["budget_error"]) < 0.02
        expo = tail.exposures(str(out), world.n_entities)
        tail_exposure[arm.name] = expo[buckets == 2].mean()
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
        results[arm.name] = ev
    # the mixer really reweighted: the tail gets clearly more exposures under UniMax than passively
    assert tail_exposure["l1_b0.5_E4"] > 1.5 * tail_exposure["passive"]


def test_arm_names_round_trip_and_bad_names_are_refused():
    from tailmine.errors import ConfigError
    from tailmine.experiments.sweep import grid

    for name in ("passive", "l1_b0.5_E4", "l0.25_b0_E4", "l1_b0.5_Einf"):
        assert tail.Arm.parse(name).name == name
    assert tail.Arm.parse("l1_b0.5_Einf").max_epochs == math.inf
    for bad in ("unimax", "l0_b0.5_E4", "l1_b1.5_E4", "l1_b0.5_E0.5"):
        with pytest.raises(ConfigError):
            tail.Arm.parse(bad)
    # beta = 0 is one mixture whatever lambda is: it appears once in a grid
    assert grid([0, 0.5], [0.5, 1], [4]) == ["l1_b0_E4", "l0.5_b0.5_E4", "l1_b0.5_E4"]


TOY = ["--entities", "40", "--relations", "2", "--values", "5", "--pool-docs", "600", "--natural-docs", "30", "--vocab", "300",
       "--context", "32", "--d-model", "32", "--layers", "1", "--heads", "2", "--batch", "4"]


def test_experiment_command_runs_resumes_and_refuses_a_changed_world(tmp_path, capsys):
    """`tailmine experiment tail` end to end at toy size: results written after each run, a rerun with
    one more seed only runs the new seed's arms, the beta = 0 control reproduces passive exactly (the
    mixer's draws are hashed, so the same weights give the same mixture), and a changed world into the
    same folder is refused."""
    import json

    from tailmine.cli import main

    out = str(tmp_path / "exp")
    # the calibration run and the passive seed-0 run share a mix folder: rebuilding it must not lose the
    # shared tokenizer that the first mix trained
    assert main(["experiment", "tail", "--out", out, "--budgets", "20000", "--calibrate", "20000", "--seeds", "0",
                 "--betas", "0", "0.5", *TOY]) == 0
    res = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert res["tokenizer"] == str(tmp_path / "exp" / "work" / "tokenizer.json")
    assert res["calibration"][0]["exposures"] == res["runs"][0]["exposures"]
    assert [(r["arm"], r["seed"]) for r in res["runs"]] == [("passive", 0), ("l1_b0_E4", 0), ("l1_b0.5_E4", 0)]
    control, passive = res["runs"][1], res["runs"][0]
    assert control["exposures"] == passive["exposures"] and control["natural_bpb"] == passive["natural_bpb"]
    assert res["verdict"]["20000"]["l1_b0_E4"]["per_seed"][0]["tail_nll_gain"] == 0.0
    html = (tmp_path / "exp" / "report.html").read_text()
    assert 'id="verdict"' in html and "l1_b0.5_E4" in html and "<script" not in html
    capsys.readouterr()
    assert main(["experiment", "tail", "--out", out, "--budgets", "20000", "--seeds", "0", "1", "--arms", "l1_b0.5_E4", *TOY]) == 0
    log = capsys.readouterr().out
    assert "4 runs planned, 2 already in" in log
    res = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert sorted((r["arm"], r["seed"]) for r in res["runs"]) == [
        ("l1_b0.5_E4", 0), ("l1_b0.5_E4", 1), ("l1_b0_E4", 0), ("passive", 0), ("passive", 1)]
    assert res["verdict"]["20000"]["l1_b0.5_E4"]["seeds_run"] == 2
    # a later, narrower invocation (one seed) must not shrink the verdict to its own seeds
    assert main(["experiment", "tail", "--out", out, "--budgets", "20000", "--seeds", "0", "--arms", "l1_b0.5_E4", *TOY]) == 0
    res = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert res["verdict"]["20000"]["l1_b0.5_E4"]["seeds_run"] == 2 and len(res["runs"]) == 5
    # an arm run in fewer seeds than the budget has is incomplete, hence not a pass
    assert res["verdict"]["20000"]["l1_b0_E4"]["complete"] is False and res["verdict"]["20000"]["l1_b0_E4"]["pass"] is False
    assert main(["experiment", "tail", "--out", out, "--report"]) == 0
    assert "| 20,000 | l1_b0.5_E4 |" in capsys.readouterr().out
    changed = [a if a != "40" else "41" for a in TOY]
    assert main(["experiment", "tail", "--out", out, "--budgets", "20000", "--seeds", "0", *changed]) == 2
    assert "different entities" in capsys.readouterr().err
