"""Hugging Face checkpoints as quality models: parity with transformers, batch-size invariance through
the Beam stage, safe loading, bad folders, and a head trained on frozen encoder embeddings.

Every model here is a tiny randomly initialised BERT built in a temp folder (WordPiece tokenizer trained
on Gutenberg paragraphs from ../shared/corpora): nothing is downloaded. Its weights use a larger
initialiser than BERT's 0.02 so scores differ between texts (asserted), or a parity check would pass
on constants.
"""
from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

pytest.importorskip("transformers")

from conftest import TEST_BEAM_ARGS  # noqa: E402
from tailmine.classifiers.hf_model import (  # noqa: E402
    HFScorer,
    SAFETENSORS,
    describe_hf,
    int_scores,
    model_format,
    write_random_bert,
)
from tailmine.errors import ConfigError, ModelError  # noqa: E402
from tailmine.pipelines import classify  # noqa: E402
from tailmine.pipelines.classify import ScoreConfig  # noqa: E402
from tailmine.schemas.manifest import read_manifest  # noqa: E402

TINY = dict(vocab_size=600, hidden=32, layers=2, heads=2, intermediate=64, max_positions=64, initializer_range=0.2)


@pytest.fixture(scope="module")
def paragraphs(corpora):
    books = sorted((corpora / "books" / "gutenberg").glob("*.txt.gz"))[:4]
    out = []
    for book in books:
        with gzip.open(book, "rt", encoding="utf-8", errors="replace") as handle:
            text = handle.read()[20_000:120_000]
        out += [p.strip() for p in text.split("\n\n") if len(p.strip()) > 40]
    assert len(out) > 500
    return out


ODD = ["", " ", "\n\t", "[SEP] [CLS] [PAD]", "🙂🙂 漢字 ÿ\x00\x07", "word " * 2000]


@pytest.fixture(scope="module")
def regression_dir(paragraphs, tmp_path_factory):
    return write_random_bert(str(tmp_path_factory.mktemp("hf") / "edu-regressor"), paragraphs[:1500], num_labels=1, **TINY)


@pytest.fixture(scope="module")
def binary_dir(paragraphs, tmp_path_factory):
    return write_random_bert(str(tmp_path_factory.mktemp("hf") / "binary-clf"), paragraphs[:1500], num_labels=2, seed=1, **TINY)


def _reference_scores(model_dir: str, texts: list[str]) -> np.ndarray:
    """What transformers itself gives, one text at a time, no padding: the oracle."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True).eval()
    out = []
    with torch.no_grad():
        for text in texts:
            enc = tokenizer(text, truncation=True, max_length=model.config.max_position_embeddings, return_tensors="pt")
            logits = model(**enc).logits[0]
            out.append(float(logits[0]) if model.config.num_labels == 1 else float(torch.softmax(logits, -1)[1]))
    return np.array(out)


@pytest.mark.parametrize("which", ["regression_dir", "binary_dir"])
def test_scores_equal_transformers_forward_pass_within_1e_3_whatever_the_batch(request, which, paragraphs):
    model_dir = request.getfixturevalue(which)
    texts = paragraphs[1500:1560] + ODD + [paragraphs[0] * 30]  # real text, odd text, one far past the 64-token maximum
    reference = _reference_scores(model_dir, texts)
    assert np.ptp(reference) > 0.05, "random weights too small: scores barely differ, parity would mean nothing"
    scorer = HFScorer(model_dir, device="cpu")
    for tokens, rows in ((64, 1), (300, 7), (16384, 256)):  # one text per batch, small buckets, everything at once
        scorer.max_batch_tokens, scorer.max_batch_rows = tokens, rows
        scores = scorer.score(texts)
        assert scores.dtype == np.float32 and scores.shape == (len(texts),)
        assert np.max(np.abs(scores - reference)) <= 1e-3, (tokens, rows)
    assert np.isfinite(scores).all()
    assert scorer.score([""])[0] == pytest.approx(reference[texts.index("")], abs=1e-3)  # empty text: the score of ""
    assert len(scorer.score([])) == 0


def test_batches_are_bucketed_by_token_length_and_bounded(regression_dir, paragraphs):
    scorer = HFScorer(regression_dir, device="cpu")
    scorer.max_batch_tokens, scorer.max_batch_rows = 256, 16
    ids = scorer.encode(paragraphs[:200] + ODD)
    lengths = np.array([len(r) for r in ids])
    assert lengths.max() == scorer.max_length == 64 and lengths.min() >= 1
    batches = scorer.batches(lengths)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(ids)))  # every row exactly once
    for rows in batches:
        assert len(rows) <= 16 and (len(rows) == 1 or len(rows) * lengths[rows].max() <= 256)
    widths = [lengths[rows].max() for rows in batches]
    assert widths == sorted(widths)  # sorted by length: short texts are not padded to long ones


@pytest.fixture(scope="module")
def stage_dir(paragraphs, tmp_path_factory):
    from tailmine.ingest.config import IngestConfig
    from tailmine.pipelines import ingest

    root = tmp_path_factory.mktemp("stage")
    texts = paragraphs[1600:1680] + [t for t in ODD if t.strip()]
    for part in range(3):
        with open(root / f"in-{part}.jsonl", "w") as handle:
            for i, text in enumerate(texts[part::3]):
                handle.write(json.dumps({"id": f"p{part}-{i}", "text": text}) + "\n")
    out = str(root / "ingest")
    manifest = ingest.run([str(root / f"in-{p}.jsonl") for p in range(3)], out, IngestConfig(shard_bytes=6_000), TEST_BEAM_ARGS,
                          force=True, progress=False)
    assert len(manifest.outputs) >= 2
    return out


def _read_scored(out_dir: str):
    import pyarrow as pa

    folder = os.path.join(out_dir, "docs")
    return pa.concat_tables([pq.read_table(os.path.join(folder, f)) for f in sorted(os.listdir(folder))])


def test_stage_scores_through_run_inference_same_at_every_batch_size_with_int_column_and_manifest(stage_dir, regression_dir, binary_dir, tmp_path):
    tables = {}
    for batch_size in (1, 5, 512):
        out = str(tmp_path / f"b{batch_size}")
        manifest = classify.run(stage_dir, out, ScoreConfig(models=(regression_dir, binary_dir), batch_size=batch_size, device="cpu"),
                                TEST_BEAM_ARGS, force=True, progress=False)
        tables[batch_size] = _read_scored(out)
    table = tables[512]
    assert manifest.extra["columns"] == ["quality_edu_regressor", "quality_edu_regressor_int", "quality_binary_clf"]
    texts = table.column("text").to_pylist()
    reference = _reference_scores(regression_dir, texts)
    stored = table.column("quality_edu_regressor").to_numpy()
    assert np.max(np.abs(stored - reference)) <= 1e-3
    assert table.schema.field("quality_edu_regressor_int").type == "int8"
    assert table.column("quality_edu_regressor_int").to_pylist() == int_scores(stored).tolist()
    assert np.max(np.abs(table.column("quality_binary_clf").to_numpy() - _reference_scores(binary_dir, texts))) <= 1e-3
    for batch_size in (1, 5):
        for column in manifest.extra["columns"]:
            a, b = tables[batch_size].column(column).to_numpy(), table.column(column).to_numpy()
            assert np.max(np.abs(a.astype(np.float64) - b)) <= 1e-3, (batch_size, column)
    entry = manifest.parameters["models"]["quality_edu_regressor"]
    with open(os.path.join(regression_dir, SAFETENSORS), "rb") as handle:
        import hashlib

        assert entry["sha256"] == hashlib.sha256(handle.read()).hexdigest()
    assert entry["id"] == "edu-regressor" and entry["head"] == "regression" and entry["format"] == "hf"
    saved = read_manifest(str(tmp_path / "b512"))
    assert saved.counts.input == saved.counts.output == table.num_rows


def test_int_score_is_fineweb_edus_rounded_clipped_score():
    assert int_scores(np.array([-1.2, 0.49, 0.51, 2.5, 3.5, 4.9, 7.0], dtype=np.float32)).tolist() == [0, 0, 1, 2, 4, 5, 5]


# --- safe loading and bad folders ------------------------------------------------------------------


def _pickled_copy(model_dir: str, dest: str) -> str:
    import torch
    from safetensors.torch import load_file

    shutil.copytree(model_dir, dest)
    torch.save(load_file(os.path.join(dest, SAFETENSORS)), os.path.join(dest, "pytorch_model.bin"))
    os.remove(os.path.join(dest, SAFETENSORS))
    return dest


def test_pickle_checkpoint_is_refused_with_how_to_convert_unless_trusted(regression_dir, tmp_path, paragraphs):
    pickled = _pickled_copy(regression_dir, str(tmp_path / "pickled"))
    with pytest.raises(ModelError, match=r"pytorch_model.bin: pickle checkpoint refused.*save_pretrained.*--trust-pickle"):
        describe_hf(pickled)
    with pytest.raises(ModelError, match="pickle checkpoint refused"):
        classify.run("unused", str(tmp_path / "out"), ScoreConfig(models=(pickled,)), TEST_BEAM_ARGS, force=True, progress=False)
    texts = paragraphs[:20]
    trusted = HFScorer(pickled, device="cpu", trust_pickle=True)
    assert trusted.info.weights == "pickle"
    assert np.max(np.abs(trusted.score(texts) - HFScorer(regression_dir, device="cpu").score(texts))) <= 1e-6


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_trusted_pickle_is_still_read_with_weights_only(regression_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = _pickled_copy(regression_dir, str(tmp_path / "evil"))
    with open(os.path.join(evil, "pytorch_model.bin"), "wb") as handle:
        pickle.dump({"bert.embeddings.word_embeddings.weight": _Payload()}, handle)
    with pytest.raises(ModelError, match="not a plain tensor checkpoint"):
        HFScorer(evil, device="cpu", trust_pickle=True)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_folder_that_is_no_model_lists_what_it_holds(tmp_path):
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "weights.npz").write_bytes(b"x")
    (folder / "notes.txt").write_text("hi")
    with pytest.raises(ModelError, match=r"neither a tailmine model .* found: notes.txt, weights.npz"):
        model_format(str(folder))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="found: nothing"):
        classify.describe_models([str(empty)])
    with pytest.raises(ModelError, match="no such model directory"):
        model_format(str(tmp_path / "absent"))


def test_tokenizer_from_another_model_is_an_error_at_load(paragraphs, tmp_path):
    small = write_random_bert(str(tmp_path / "small"), paragraphs[:300], num_labels=1, **{**TINY, "vocab_size": 120})
    big = write_random_bert(str(tmp_path / "big"), paragraphs[:1500], num_labels=1, **{**TINY, "vocab_size": 900})
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(big, name), os.path.join(small, name))
    with pytest.raises(ModelError, match=r"tokenizer has \d+ tokens .* embeds only \d+; tokenizer and weights are from different models"):
        HFScorer(small, device="cpu")


def test_multi_label_head_is_refused_and_missing_tokenizer_named(regression_dir, tmp_path):
    multi = str(tmp_path / "multi")
    shutil.copytree(regression_dir, multi)
    with open(os.path.join(multi, "config.json")) as handle:
        config = json.load(handle)
    config.update(num_labels=3, problem_type=None, id2label={"0": "High", "1": "Medium", "2": "Low"})
    with open(os.path.join(multi, "config.json"), "w") as handle:
        json.dump(config, handle)
    with pytest.raises(ModelError, match="3 labels .*High, Medium, Low"):
        describe_hf(multi)
    notok = str(tmp_path / "notok")
    shutil.copytree(regression_dir, notok)
    os.remove(os.path.join(notok, "tokenizer.json"))
    with pytest.raises(ModelError, match="tokenizer.json not found"):
        describe_hf(notok)
