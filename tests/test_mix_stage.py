"""The mix stage end to end: ingest -> concepts -> mix, with a quality column and a held-out split."""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import TEST_BEAM_ARGS

HOLDOUT = 0.2
N_DOCS = 500


@pytest.fixture(scope="module")
def concepts_dir(tmp_path_factory):
    """Synthetic Zipf documents over 40 web domains, ingested, concept-annotated, with a quality column.
    One held-out page is copied (one sentence added) onto a domain that stays in the mixture."""
    from tailmine.concepts.config import ConceptConfig
    from tailmine.demo.sample import synthetic_documents
    from tailmine.ingest.config import IngestConfig
    from tailmine.mixtures.holdout import group_uniform
    from tailmine.pipelines import concepts, ingest

    root = tmp_path_factory.mktemp("mix")
    docs = synthetic_documents(N_DOCS, seed=5)
    domains = [f"site{j}.org" for j in range(40)]
    # groups are offered to the held-out set in hash order: the first is held out, the last never is
    by_hash = sorted(domains, key=lambda d: group_uniform(f"domain:{d}", 0))
    held, kept = by_hash[0], by_hash[-1]
    rows = [{"id": f"d{i}", "text": t, "url": f"https://www.{domains[i % 40]}/p{i}"} for i, t in enumerate(docs)]
    rows.append({"id": "leak-source", "text": docs[0] + "\n\nA final sentence about the weather.", "url": f"https://{held}/leak"})
    rows.append({"id": "leak-copy", "text": docs[0] + "\n\nA final sentence about the harbour.", "url": f"https://{kept}/copy"})
    rows.append({"id": "empty-ish", "text": "", "url": f"https://{kept}/empty"})
    with open(root / "docs.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    ingest.run([str(root / "docs.jsonl")], str(root / "ingest"), IngestConfig(), TEST_BEAM_ARGS, force=True, progress=False)
    concepts.run(str(root / "ingest"), str(root / "concepts"), ConceptConfig(bootstrap=0), TEST_BEAM_ARGS, force=True, progress=False)
    # a copy of the concepts output with a quality score column (as the classifier stage adds)
    scored = root / "scored"
    shutil.copytree(root / "concepts", scored)
    for shard in (scored / "docs").glob("*.parquet"):
        table = pq.read_table(shard)
        score = [int(hashlib.blake2b(i.encode(), digest_size=4).hexdigest(), 16) / 2**32 for i in table.column("id").to_pylist()]
        pq.write_table(table.append_column("quality_test_v1", pa.array(score, pa.float64())), shard)
    return root


def _mix(src, out, **kw):
    from tailmine.mixtures.config import MixConfig
    from tailmine.pipelines import mix

    cfg = MixConfig(**{"tokens": 60_000, "vocab_size": 1000, "holdout": HOLDOUT, **kw})
    manifest = mix.run(str(src), str(out), cfg, TEST_BEAM_ARGS, force=True, progress=False)
    return manifest, json.loads(open(os.path.join(out, "recipe.json")).read())


@pytest.fixture(scope="module")
def mixed(concepts_dir):
    return _mix(concepts_dir / "scored", concepts_dir / "mix1")


def test_budget_caps_manifest_and_recipe_keys(mixed, concepts_dir):
    manifest, recipe = mixed
    assert abs(recipe["tokens_total"] - recipe["token_budget"]) / recipe["token_budget"] <= 0.005
    for key in ("token_budget", "tokens_total", "shards", "budget", "sources", "weights", "buckets", "epochs", "repetition_profile",
                "tail_metrics", "quality_drift", "tokenizer", "config", "tailmine_version"):
        assert key in recipe, key
    assert set(recipe["tail_metrics"]["mixture"]) >= {"cov_1", "cov_10", "cov_100", "hill_d1", "hill_d2", "zipf_s"}
    assert recipe["repetition_profile"]["max_epochs"] <= 4
    assert recipe["quality_gate"]["column"] == "quality_test_v1" and recipe["quality_gate"]["dropped"] > 0
    c = manifest.counts
    assert c.input == N_DOCS + 2 and c.unbalanced_by == 0  # the empty row never reaches the stage
    assert c.dropped["held_out"] == recipe["holdout"]["documents"] > 0
    assert abs(recipe["holdout"]["share"] - HOLDOUT) <= 0.2 * HOLDOUT and recipe["holdout"]["tokens"] > 0
    assert sum(s["tokens"] for s in recipe["sources"].values()) == recipe["tokens_total"]
    for shard in recipe["shards"]:
        data = open(os.path.join(concepts_dir / "mix1", shard["path"]), "rb").read()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]
    with open(os.path.join(concepts_dir / "mix1", "tokenizer.json"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == recipe["tokenizer"]["sha256"]


def test_read_back_equals_the_tokens_of_the_lineage_documents(mixed, concepts_dir):
    import torch
    from tokenizers import Tokenizer

    from tailmine.mixtures.reader import TokenShardDataset
    from tailmine.schemas import read_documents

    _, recipe = mixed
    out = str(concepts_dir / "mix1")
    tok = Tokenizer.from_file(os.path.join(out, "tokenizer.json"))
    eos = recipe["tokenizer"]["eos_id"]
    docs = read_documents([str(p) for p in sorted((concepts_dir / "scored" / "docs").glob("*.parquet"))], columns=["id", "text"])
    text = dict(zip(docs.column("id").to_pylist(), docs.column("text").to_pylist()))
    lineage = pa.concat_tables([pq.read_table(os.path.join(out, f"{s['name']}.lineage.parquet")) for s in recipe["shards"]])
    sequences = list(TokenShardDataset(out))
    assert len(sequences) == lineage.num_rows == recipe["sequences"]
    copies: dict[str, int] = {}
    cols = [lineage.column(c).to_pylist() for c in ("id", "char_start", "char_end", "copy")]
    for seq, (doc_id, a, b, c) in zip(sequences, zip(*cols)):
        last = b == len(text[doc_id])
        assert seq.tolist() == tok.encode(text[doc_id][a:b], add_special_tokens=False).ids + [eos] * last
        copies[doc_id] = max(copies.get(doc_id, 0), c + 1)
    assert max(copies.values()) <= 4
    flat = torch.cat(sequences)
    assert len(flat) == recipe["tokens_total"]
    blocks = list(TokenShardDataset(out, seq_len=100))
    assert torch.equal(torch.cat(blocks), flat[: len(blocks) * 100])


def test_same_seed_same_bytes_other_seed_other_order(mixed, concepts_dir):
    _, recipe = mixed
    _, again = _mix(concepts_dir / "scored", concepts_dir / "mix2")
    assert open(concepts_dir / "mix1" / "recipe.json", "rb").read() == open(concepts_dir / "mix2" / "recipe.json", "rb").read()
    assert [s["sha256"] for s in again["shards"]] == [s["sha256"] for s in recipe["shards"]]
    _, other = _mix(concepts_dir / "scored", concepts_dir / "mix3", seed=1, tokenizer=str(concepts_dir / "mix1" / "tokenizer.json"))
    assert [s["sha256"] for s in other["shards"]] != [s["sha256"] for s in recipe["shards"]]


def test_holdout_is_disjoint_decontaminated_and_evaluable(mixed, concepts_dir):
    from tailmine.mixtures.holdout import evaluate_bits_per_byte, registered_domain

    manifest, recipe = mixed
    out = str(concepts_dir / "mix1")
    hold = json.loads(open(os.path.join(out, "holdout.json")).read())
    h_lineage = pa.concat_tables([pq.read_table(os.path.join(out, f"{s['name']}.lineage.parquet")) for s in hold["shards"]])
    m_lineage = pa.concat_tables([pq.read_table(os.path.join(out, f"{s['name']}.lineage.parquet")) for s in recipe["shards"]])
    held_ids, mix_ids = set(h_lineage.column("id").to_pylist()), set(m_lineage.column("id").to_pylist())
    assert "leak-source" in held_ids and not held_ids & mix_ids
    assert "leak-copy" not in mix_ids
    assert manifest.counts.dropped.get("contaminated_ngram", 0) + manifest.counts.dropped.get("near_duplicate_of_holdout", 0) >= 1
    v = recipe["tokenizer"]["vocab_size"]
    result = evaluate_bits_per_byte(out, lambda seq: (len(seq) - 1) * math.log(v))
    n_bytes = int(pa.compute.sum(h_lineage.column("utf8_bytes")).as_py())
    predicted = int(pa.compute.sum(h_lineage.column("tokens")).as_py()) - h_lineage.num_rows
    assert result["bits_per_byte"] == pytest.approx(predicted * math.log(v) / (math.log(2) * n_bytes))
    assert result["perplexity"] == pytest.approx(v)
    assert registered_domain("https://a.b.example.co.uk/x") == "example.co.uk"


def test_without_quality_column_or_concepts_the_stage_says_so(concepts_dir, caplog):
    from tailmine.errors import ConfigError

    _, recipe = _mix(concepts_dir / "concepts", concepts_dir / "mix4", holdout=0.0, tokens=20_000)
    assert "skipped" in recipe["quality_gate"]["note"]
    assert any("quality gate skipped" in n for n in recipe["notes"])
    with caplog.at_level("WARNING", logger="tailmine.mix"):
        _, plain = _mix(concepts_dir / "ingest", concepts_dir / "mix5", holdout=0.0, tokens=20_000)
    assert any("source weights alone" in r.getMessage() for r in caplog.records)
    assert "note" in plain["tail_metrics"] and plain["buckets"]["count"] == 1
    assert abs(plain["budget_error"]) <= 0.005 and plain["sources"]
    # both numbers: the budget, and what the data gives at the epoch cap
    with pytest.raises(ConfigError, match=r"budget of 10,000,000 tokens is more than the [\d,]+ tokens available: [\d,]+ unique tokens x the epoch cap \(4 epochs"):
        _mix(concepts_dir / "ingest", concepts_dir / "mix6", holdout=0.0, tokens=10_000_000)


def test_bad_unit_sizes_and_unreachable_holdouts_name_the_key(concepts_dir, tmp_path):
    from tokenizers import Tokenizer

    from tailmine.errors import ConfigError
    from tailmine.mixtures.config import MixConfig

    with pytest.raises(ConfigError, match="unit_tokens"):
        MixConfig(tokens=1000, unit_tokens=63)
    with pytest.raises(ConfigError, match="unit_tokens"):
        MixConfig(tokens=1000, unit_tokens=2**31)
    tok = Tokenizer.from_file(str(concepts_dir / "mix1" / "tokenizer.json"))
    tok.enable_truncation(max_length=512)
    tok.save(str(tmp_path / "short.json"))
    with pytest.raises(ConfigError, match=r"unit_tokens 2,048 is larger than the 512 positions"):
        _mix(concepts_dir / "ingest", tmp_path / "m1", holdout=0.0, tokens=20_000, tokenizer=str(tmp_path / "short.json"))
    # 40 domains cannot hold out 1% of the tokens within ±20%: the stage says so and stops
    with pytest.raises(ConfigError, match=r"holdout.*--holdout 0"):
        _mix(concepts_dir / "ingest", tmp_path / "m2", holdout=0.004, tokens=20_000, tokenizer=str(concepts_dir / "mix1" / "tokenizer.json"))


def test_gutenberg_works_share_a_side_of_the_split():
    from tailmine.mixtures.holdout import domain_key

    a = domain_key("gutenberg", None, json.dumps({"author": "Austen, Jane", "title": "Emma", "ebook_number": 158}), "158.txt")
    b = domain_key("gutenberg", None, json.dumps({"author": "Austen,  JANE", "title": "Emma ", "ebook_number": 19839}), "19839.txt")
    assert a == b == "work:austen, jane|emma"
    assert domain_key("warc", "https://news.example.com/a", None, "x.warc") == domain_key("warc", "http://example.com/b", "{}", "y")


def test_cli_hooks_build_the_config(tmp_path, concepts_dir):
    import argparse

    from tailmine.pipelines import tokenizer
    from tailmine.stages import COMMANDS

    parser = argparse.ArgumentParser()
    COMMANDS["mix"].add_arguments(parser)
    args = parser.parse_args(["--in", "a", "b", "--out", "o", "--compute-flops", "1e18", "--params", "1e6", "--holdout", "0.01", "--no-fast-encoder"])
    assert args.in_dirs == ["a", "b"] and args.params == 1_000_000 and args.fast_encoder is False and args.compute_flops == 1e18
    tparser = argparse.ArgumentParser()
    COMMANDS["tokenizer"].add_arguments(tparser)
    targs = tparser.parse_args(["train", "--in", str(concepts_dir / "concepts"), "--out", str(tmp_path / "t.json"), "--vocab-size", "600"])
    assert tokenizer.main(targs, []) == 0
    assert json.loads((tmp_path / "t.json").read_text())["model"]["type"] == "BPE"


def test_the_report_reads_the_mix_stage(mixed, concepts_dir, tmp_path):
    from tailmine.reports import write_report

    manifest, recipe = mixed
    assert [s["sha256"] for s in manifest.extra["token_shards"]] == [s["sha256"] for s in recipe["shards"]]
    run = tmp_path / "run"
    run.mkdir()
    shutil.copytree(concepts_dir / "scored", run / "concepts")
    shutil.copytree(concepts_dir / "mix1", run / "mix")
    html_path, json_path = write_report(str(run))
    report = json.loads(open(json_path).read())
    assert report["sections"]["mixture"]["tail_metrics"]["mixture"]["cov_10"] == recipe["tail_metrics"]["mixture"]["cov_10"]
    assert "tail-coverage" in open(html_path).read()


def test_each_unit_s_bucket_is_its_rarest_concept_from_the_whole_concept_table(mixed, concepts_dir):
    """The stage joins concept dfs by key (no worker loads the table); the oracle here loads the whole
    table and re-extracts every unit's concepts from the input text."""
    from tailmine.concepts.tables import iter_concept_tables
    from tailmine.mixtures.config import MixConfig
    from tailmine.pipelines.mix import _concept_extractor

    src = concepts_dir / "scored"
    dfs = {c: d for t in iter_concept_tables(str(src), ["concept", "df"]) for c, d in zip(t.column(0).to_pylist(), t.column(1).to_pylist())}
    texts = {i: t for shard in sorted((src / "docs").glob("*.parquet"))
             for i, t in zip(*(pq.read_table(shard, columns=["id", "text"]).column(c).to_pylist() for c in ("id", "text")))}
    extractor = _concept_extractor([str(src)])
    extractor.setup()
    cfg = MixConfig(tokens=1)
    prefixes = tuple(f"{k}:" for k in cfg.salient())
    _, recipe = mixed
    lineage = pa.concat_tables([pq.read_table(concepts_dir / "mix1" / f"{s['name']}.lineage.parquet") for s in recipe["shards"]])
    checked = with_bucket = 0
    for i, a, b, bucket in zip(*(lineage.column(c).to_pylist() for c in ("id", "char_start", "char_end", "bucket"))):
        found = [(dfs[c], c) for c in extractor.extract(texts[i][a:b]) if c.startswith(prefixes) and dfs.get(c, 0) >= cfg.min_concept_df]
        assert bucket == (min(found)[1] if found else None), (i, a, b)
        checked += 1
        with_bucket += bucket is not None
    assert checked > 50 and with_bucket > checked / 2
