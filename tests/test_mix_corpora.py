"""The mix stage on the shared books and CCNet pages (real text): units, document share, held-out
share, tail metrics beside passive. The books are cut to their first 60,000 characters so the test
takes seconds; BENCHMARKS.md has the same numbers on the whole books at 2M tokens."""
from __future__ import annotations

import gzip
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import TEST_BEAM_ARGS

BOOKS, BOOK_CHARS, BUDGET, HOLDOUT = 80, 60_000, 200_000, 0.05


@pytest.fixture(scope="module")
def concepts_dir(corpora, tmp_path_factory):
    from tailmine.concepts.config import ConceptConfig
    from tailmine.ingest.config import IngestConfig
    from tailmine.pipelines import concepts, ingest

    root = tmp_path_factory.mktemp("mixcorpora")
    raw = root / "raw"
    raw.mkdir()
    for path in sorted((corpora / "books" / "gutenberg").glob("*.txt.gz"))[:BOOKS]:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            text = f.read(BOOK_CHARS)
        with gzip.open(raw / path.name, "wt", encoding="utf-8") as f:
            f.write(text)
    for path in sorted((corpora / "web" / "ccnet").glob("*.jsonl.gz")):
        shutil.copy(path, raw / path.name)
    ingest.run([str(raw)], str(root / "ingest"), IngestConfig(), TEST_BEAM_ARGS, force=True, progress=False)
    concepts.run(str(root / "ingest"), str(root / "concepts"), ConceptConfig(bootstrap=0), TEST_BEAM_ARGS, force=True, progress=False)
    return root


def _mix(root, name, **kw):
    from tailmine.mixtures.config import MixConfig
    from tailmine.pipelines import mix

    cfg = MixConfig(**{"tokens": BUDGET, "vocab_size": 4000, "holdout": HOLDOUT, **kw})
    manifest = mix.run(str(root / "concepts"), str(root / name), cfg, TEST_BEAM_ARGS, force=True, progress=False)
    return manifest, json.loads((root / name / "recipe.json").read_text())


def test_real_books_and_pages_make_a_spread_mixture_with_a_holdout_that_holds(concepts_dir):
    manifest, recipe = _mix(concepts_dir, "mix")
    assert abs(recipe["budget_error"]) <= 0.005
    spread = recipe["spread"]["mixture"]
    assert spread["largest_document_share"] <= 0.02 + 1e-9 and spread["documents"] >= 60
    assert recipe["spread"]["passive"]["largest_document_share"] <= 0.02 + 1e-9
    assert recipe["units"]["input"] > recipe["documents"]["input"]  # the books were cut
    hold = recipe["holdout"]
    assert hold["tokens"] > 0 and abs(hold["share"] - HOLDOUT) <= 0.2 * HOLDOUT
    # a book's units never straddle train and holdout
    out = concepts_dir / "mix"
    train = pa.concat_tables([pq.read_table(out / f"{s['name']}.lineage.parquet") for s in recipe["shards"]])
    held = pa.concat_tables([pq.read_table(out / f"{s['name']}.lineage.parquet")
                             for s in json.loads((out / "holdout.json").read_text())["shards"]])
    assert not set(train.column("id").to_pylist()) & set(held.column("id").to_pylist())
    assert len(set(train.column("source").to_pylist())) == 2  # books and pages
    # units of one document copy are consecutive and in reading order
    ids, units, copies = (train.column(c).to_pylist() for c in ("id", "unit", "copy"))
    for j in range(1, len(ids)):
        if ids[j] == ids[j - 1] and copies[j] == copies[j - 1]:
            assert units[j] > units[j - 1]
    m, p = recipe["tail_metrics"]["mixture"], recipe["tail_metrics"]["passive"]
    assert (m["cov_1"], m["hill_d1"]) != (p["cov_1"], p["hill_d1"])
    assert any(b["covered"] != b["covered_passive"] for b in recipe["buckets"]["by_df"])
    # the control: lambda = 0 is the passive mixture exactly
    _, control = _mix(concepts_dir, "control", tail_lambda=0.0, tokenizer=str(out / "tokenizer.json"))
    assert control["tail_metrics"]["mixture"] == control["tail_metrics"]["passive"]
    # a small share on lumpy input (80 books among small pages) is still met, from small groups
    _, small = _mix(concepts_dir, "hold1", holdout=0.01, tokenizer=str(out / "tokenizer.json"))
    assert abs(small["holdout"]["share"] - 0.01) <= 0.002 and small["holdout"]["groups"] >= 1
