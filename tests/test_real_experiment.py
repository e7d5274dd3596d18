"""The tail experiment on real text (issue 21): the pool split, the concept buckets, the mention-token
evaluation, the pre-registered rule, and the command end to end at toy size (resume, β = 0 control)."""
import gzip
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tailmine.experiments import real  # noqa: E402
from tailmine.experiments.tinylm import ModelConfig, TinyLM, deterministic  # noqa: E402


def test_pass_rule_thresholds_are_the_preregistered_ones():
    passive = {"tail": {"token_loss": 10.0}, "head": {"token_loss": 4.0}, "bpb": 2.0}

    def arm(tail, head, bpb):
        return {"tail": {"token_loss": tail}, "head": {"token_loss": head}, "bpb": bpb}

    assert real.passes(arm(9.699, 4.039, 2.0199), passive)["pass"]     # just over 3% better, just under 1% worse
    assert not real.passes(arm(9.71, 4.0, 2.0), passive)["pass"]       # 2.9% better tail: not enough
    assert not real.passes(arm(9.0, 4.0, 2.0201), passive)["pass"]     # bpb 1.005% worse
    assert not real.passes(arm(9.0, 4.041, 2.0), passive)["pass"]      # head 1.025% worse
    r = real.passes(arm(9.0, 3.8, 1.9), passive)
    assert r["pass"] and r["tail_loss_gain"] == pytest.approx(0.1) and r["bpb_cost"] == pytest.approx(-0.05)


def test_concept_buckets_head_tail_torso_once():
    dfs = {f"e:c{i}": 100 - i for i in range(40)}          # 40 frequent concepts: the top 5% (2) are head
    dfs.update({"e:rare a": 2, "e:rare b": 10, "e:mid": 11, "e:typo": 1})
    buckets, info = real.concept_buckets(dfs)
    assert info["head"] == 2 and info["head_min_df"] == 99
    assert buckets["e:c0"] == buckets["e:c1"] == "head" and buckets["e:c2"] == "torso"
    assert buckets["e:rare a"] == buckets["e:rare b"] == "tail" and buckets["e:mid"] == "torso" and buckets["e:typo"] == "once"


def test_book_excerpt_is_still_a_gutenberg_book(corpora):
    from tailmine.ingest.gutenberg import is_gutenberg, parse_book

    raw = gzip.open(corpora / "books/gutenberg/11-0.txt.gz", "rt", encoding="utf-8-sig").read()
    cut = real.book_excerpt(raw, 5000)
    full, part = parse_book(raw), parse_book(cut)
    assert is_gutenberg(cut) and part.title == full.title and part.author == full.author
    assert 2500 <= len(part.text) <= 5000 and full.text.startswith(part.text[:2000])
    assert "PROJECT GUTENBERG" not in part.text.upper()        # the licence is still recognised and stripped


def test_split_keeps_whole_works_and_domains_apart(corpora, tmp_path):
    from tailmine.ingest.gutenberg import parse_book
    from tailmine.mixtures.holdout import domain_key

    info = real.write_split_raw(corpora, tmp_path, books=40, book_chars=3000, holdout=0.1)
    assert 0.08 <= info["share"] <= 0.12 and info["held_groups"]
    keys = {}
    for side in ("raw-train", "raw-heldout"):
        for p in (tmp_path / side).iterdir():
            if p.suffix == ".txt":
                keys.setdefault(domain_key("gutenberg", None, json.dumps(parse_book(p.read_text()).metadata), p.name), set()).add(side)
            elif p.suffix == ".jsonl":
                for line in p.read_text().splitlines():
                    rec = json.loads(line)
                    keys.setdefault(domain_key("jsonl", rec["metadata"].get("url") or rec["id"], None, ""), set()).add(side)
    assert all(len(sides) == 1 for sides in keys.values())     # no work or domain on both sides
    held = {k for k, s in keys.items() if s == {"raw-heldout"}}
    assert held == set(info["held_groups"])
    records = sum(len(p.read_text().splitlines()) for side in ("raw-train", "raw-heldout") for p in (tmp_path / side).glob("*.jsonl"))
    assert records == 20                                       # every CCNet record on exactly one side


def _tiny_tokenizer(tmp_path, texts):
    from tailmine.mixtures.tokenize import Encoder, save_tokenizer, train_bpe

    save_tokenizer(train_bpe(texts, 300, 2, special_tokens=("<|endoftext|>",)), str(tmp_path / "tok.json"))
    return Encoder(str(tmp_path / "tok.json"))


def test_mention_tokens_cover_the_mention_and_losses_match_a_direct_pass(tmp_path):
    texts = ["In the spring Elizabeth Bennet walked to Netherfield Park with Mr. Darcy, who said nothing.\n\n"
             "Later, Netherfield Park was let at last, and Elizabeth laughed. " * 6,
             "The Bank of England raised its rate; the Bank of England is old."]
    enc = _tiny_tokenizer(tmp_path, texts * 5)
    buckets = {"e:elizabeth bennet": "tail", "e:netherfield park": "head"}
    held = real.HeldOut.build(texts, enc, buckets)
    found = {}
    for text, ids, doc in zip(texts, held.ids, held.mention_tokens):
        for toks, concept, bucket in doc:
            span = enc.tokenizer.decode([ids[t] for t in toks])
            found.setdefault(concept, (bucket, span))
            assert concept.split(":", 1)[1] in span.casefold()  # the mention's tokens spell the mention
    assert found["e:elizabeth bennet"][0] == "tail" and found["e:netherfield park"][0] == "head"
    assert found["e:bank of england"][0] == "unseen"
    deterministic(0)
    model = TinyLM(ModelConfig(vocab_size=enc.vocab_size, d_model=16, n_layers=1, n_heads=2, context=16)).eval()
    seqs = [[enc.eos_id] + ids + [enc.eos_id] for ids in held.ids]
    losses = real.token_losses(model, seqs)
    assert [len(x) for x in losses] == [len(s) - 1 for s in seqs] and all((x > 0).all() for x in losses)
    # a window of the context: the first 16 targets equal one direct pass over the first 17 tokens
    with torch.no_grad():
        x = torch.tensor([seqs[0][:17]])
        direct = -torch.log_softmax(model(x[:, :-1]), -1).gather(-1, x[:, 1:, None])[0, :, 0].numpy()
    np.testing.assert_allclose(losses[0][:16], direct, rtol=1e-5)
    ev = real.evaluate_heldout(model, enc, held)
    assert ev["bpb"] == pytest.approx(sum(float(x.sum()) for x in losses) / math.log(2) / held.utf8_bytes)
    assert ev["tail"]["mentions"] >= 2 and ev["head"]["mentions"] >= 2 and math.isnan(ev["torso"]["token_loss"])


def test_loss_vs_exposures_bins_tail_concepts_only():
    buckets = {"e:a": "tail", "e:b": "tail", "e:h": "head"}
    rows = [("passive", {"e:a": [6.0, 2], "e:b": [3.0, 1], "e:h": [1.0, 1]}, {"e:a": 1, "e:b": 5, "e:h": 1}, buckets),
            ("passive", {"e:a": [2.0, 2]}, {"e:a": 1}, buckets)]
    curve = {r["exposures"]: r["passive"] for r in real.loss_vs_exposures(rows)}
    assert curve["[1,2)"] == (2.0, 4) and curve["[4,8)"] == (3.0, 1) and curve["[0,1)"] == (None, 0)


TOY = ["--books", "6", "--book-chars", "2000", "--web-docs", "3", "--holdout", "0.15", "--vocab", "300", "--unit-tokens", "64", "--context", "32",
       "--d-model", "32", "--layers", "1", "--heads", "2", "--batch", "4"]


def test_real_experiment_command_runs_resumes_and_the_beta0_control_is_passive(corpora, tmp_path, capsys):
    """`tailmine experiment real` at toy size: the β = 0 control (λ = 1) builds the same mixture as passive
    (UniMax with β = 0 is the natural bucket distribution; the mixer's draws are hashed), so its losses
    are identical; a rerun with one more arm runs only that arm (the pool is built once); a changed pool
    is refused."""
    from tailmine.cli import main

    out = str(tmp_path / "exp")
    args = ["experiment", "real", "--out", out, "--corpora", str(corpora), "--epochs", "0.5", *TOY]
    assert main([*args, "--seeds", "0", "--arms", "passive", "l1_b0_E4"]) == 0
    capsys.readouterr()
    assert main([*args, "--seeds", "0", "--arms", "l1_b0.5_E4"]) == 0
    log = capsys.readouterr().out
    assert "2 runs planned, 1 already in" in log and not log.startswith("pool:")   # passive is always planned; the pool is kept
    res = json.loads((tmp_path / "exp" / "results.json").read_text())
    runs = {r["arm"]: r for r in res["runs"]}
    assert set(runs) == {"passive", "l1_b0_E4", "l1_b0.5_E4"}
    work = tmp_path / "exp" / "work"
    b = runs["passive"]["tokens"]
    assert (work / f"mix-passive-{b}-s0" / "recipe.json").exists()
    bins = lambda arm: b"".join(p.read_bytes() for p in sorted((work / f"mix-{arm}-{b}-s0").rglob("*.bin")))  # noqa: E731
    assert bins("l1_b0_E4") == bins("passive") and bins("l1_b0.5_E4") != bins("passive")
    assert runs["l1_b0_E4"]["bpb"] == runs["passive"]["bpb"] and runs["l1_b0_E4"]["per_concept"] == runs["passive"]["per_concept"]
    assert res["verdict"][str(b)]["l1_b0_E4"]["per_seed"][0]["bpb_cost"] == 0.0
    assert res["pool"]["heldout_documents"] >= 1 and res["bucket_info"]["seen_twice"] > 0
    assert 0.5 * res["pool"]["pool_tokens"] == pytest.approx(b, abs=1)
    for r in res["runs"]:
        assert 0 < r["bpb"] < 20 and r["heldout_tokens"] > 0 and r["unseen"]["mentions"] > 0
        # a bucket without held-out mentions (the toy pool's book openings share few names) is NaN, never 0
        assert all(math.isfinite(r[k]["token_loss"]) == (r[k]["tokens"] > 0) for k in real.BUCKETS)
    html = (tmp_path / "exp" / "report.html").read_text()
    assert 'id="verdict"' in html and 'data-plot="tail-loss-vs-exposures"' in html and "<script" not in html
    capsys.readouterr()
    assert main(["experiment", "real", "--out", out, "--report"]) == 0
    assert "| l1_b0.5_E4 |" in capsys.readouterr().out
    changed = [a if a != "2000" else "2100" for a in TOY]
    assert main(["experiment", "real", "--out", out, "--corpora", str(corpora), "--seeds", "0", *changed]) == 2
    assert "different book_chars" in capsys.readouterr().err
