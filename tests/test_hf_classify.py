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


def _copy_with_config(model_dir: str, dest: str, **changes) -> str:
    shutil.copytree(model_dir, dest)
    with open(os.path.join(dest, "config.json")) as handle:
        config = json.load(handle)
    config.update(changes)
    with open(os.path.join(dest, "config.json"), "w") as handle:
        json.dump(config, handle)
    return dest


def test_sigmoid_multi_label_head_and_bad_id2label_are_refused_and_missing_tokenizer_named(regression_dir, multiclass_dir, tmp_path):
    sigmoid = _copy_with_config(multiclass_dir, str(tmp_path / "sigmoid"), problem_type="multi_label_classification")
    with pytest.raises(ModelError, match="multi_label_classification head .*no single predicted class"):
        describe_hf(sigmoid)
    bad = _copy_with_config(multiclass_dir, str(tmp_path / "bad"), id2label={"0": "High", "1": "Medium", "7": "Low"})
    with pytest.raises(ModelError, match=r"bad/config.json: id2label key '7' is outside 0..2"):
        describe_hf(bad)
    notok = str(tmp_path / "notok")
    shutil.copytree(regression_dir, notok)
    os.remove(os.path.join(notok, "tokenizer.json"))
    with pytest.raises(ModelError, match="tokenizer.json not found"):
        describe_hf(notok)


def test_checkpoint_whose_head_weights_are_not_where_transformers_looks_is_an_error_at_load(multiclass_dir, tmp_path):
    """A custom head saved under another name (NeMo's hub-mixin checkpoints call theirs ``fc``) would load
    with a randomly initialised classifier and a warning: tailmine refuses it instead of writing noise."""
    from safetensors.torch import load_file, save_file

    custom = str(tmp_path / "custom-head")
    shutil.copytree(multiclass_dir, custom)
    state = load_file(os.path.join(custom, SAFETENSORS))
    state = {("fc." + k.split(".", 1)[1] if k.startswith("classifier.") else k): v for k, v in state.items()}
    save_file(state, os.path.join(custom, SAFETENSORS), metadata={"format": "pt"})
    with pytest.raises(ModelError, match=r"custom-head/model.safetensors: lacks 2 weight\(s\) of BertForSequenceClassification, e.g. classifier.bias"):
        HFScorer(custom, device="cpu")


# --- heads with more than two labels (NeMo Curator's quality and domain classifiers) ----------------

QUALITY_LABELS = ("High", "Medium", "Low")  # NeMo Curator's quality-classifier-deberta id2label, in id order


@pytest.fixture(scope="module")
def multiclass_dir(paragraphs, tmp_path_factory):
    return write_random_bert(str(tmp_path_factory.mktemp("hf") / "nemo-quality"), paragraphs[:1500], num_labels=3, seed=9,  # seed 9: predicts two classes on these texts
                             labels=QUALITY_LABELS, **TINY)


def _reference_probabilities(model_dir: str, texts: list[str]) -> np.ndarray:
    """transformers' softmax over the head's logits, one text at a time, no padding: (texts, labels)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True).eval()
    with torch.no_grad():
        return np.stack([
            torch.softmax(model(**tokenizer(t, truncation=True, max_length=model.config.max_position_embeddings, return_tensors="pt")).logits[0], -1).numpy()
            for t in texts
        ])


def _check_against_reference(scores, classes, reference: np.ndarray, where=""):
    """Score = reference probability of the predicted class (1e-3), and that class is the reference's
    argmax wherever the top two reference probabilities are more than 1e-3 apart (a near tie may flip)."""
    top2 = np.sort(reference, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-3
    assert np.array_equal(np.asarray(classes)[clear], reference.argmax(1)[clear]), where
    assert np.max(np.abs(scores - reference[np.arange(len(reference)), classes])) <= 1e-3, where


def test_multiclass_head_scores_argmax_probability_equal_to_transformers_whatever_the_batch(multiclass_dir, paragraphs):
    texts = paragraphs[1500:1560] + ODD + [paragraphs[0] * 30]
    reference = _reference_probabilities(multiclass_dir, texts)
    assert np.allclose(reference.sum(1), 1, atol=1e-5)
    assert len(set(reference.argmax(1).tolist())) >= 2, "random head predicts one class everywhere: label checks would mean nothing"
    assert np.ptp(reference.max(1)) > 0.05
    info = describe_hf(multiclass_dir)
    assert info.head == "multiclass" and info.labels == QUALITY_LABELS and info.label_column == "quality_nemo_quality_label"
    assert info.int_column is None and info.manifest_entry()["labels"] == list(QUALITY_LABELS)
    scorer = HFScorer(multiclass_dir, device="cpu")
    assert scorer.labels == QUALITY_LABELS
    runs = []
    for tokens, rows in ((64, 1), (300, 7), (16384, 256)):
        scorer.max_batch_tokens, scorer.max_batch_rows = tokens, rows
        scores, classes = scorer.predict(texts)
        assert scores.dtype == np.float32 and scores.shape == (len(texts),) and classes.dtype == np.int32
        _check_against_reference(scores, classes, reference, (tokens, rows))
        assert np.array_equal(scorer.score(texts), scores)
        runs.append((scores, classes))
    for scores, classes in runs[:2]:
        assert np.max(np.abs(scores - runs[2][0])) <= 1e-5 and np.array_equal(classes, runs[2][1])
    assert (scores >= 1 / 3 - 1e-6).all() and (scores <= 1).all()  # the argmax of 3 probabilities is at least 1/3
    empty_scores, empty_classes = scorer.predict([])
    assert len(empty_scores) == len(empty_classes) == 0


def test_multiclass_label_names_come_from_config_id2label(multiclass_dir, tmp_path, paragraphs):
    """Renaming the classes in config.json renames the labels written, with the same ids and scores."""
    renamed = _copy_with_config(multiclass_dir, str(tmp_path / "renamed"), id2label={"0": "news", "1": "Science", "2": "sports"})
    texts = paragraphs[1500:1530]
    a, b = HFScorer(multiclass_dir, device="cpu"), HFScorer(renamed, device="cpu")
    assert b.labels == ("news", "Science", "sports")
    (sa, ca), (sb, cb) = a.predict(texts), b.predict(texts)
    assert np.array_equal(ca, cb) and np.max(np.abs(sa - sb)) <= 1e-6
    partial = _copy_with_config(multiclass_dir, str(tmp_path / "partial"), num_labels=3, id2label={"1": "Medium"})
    assert describe_hf(partial).labels == ("LABEL_0", "Medium", "LABEL_2")  # a missing id is named as transformers names it


def test_stage_writes_multiclass_label_and_probability_and_min_score_selects_on_the_probability(stage_dir, multiclass_dir, regression_dir, tmp_path):
    tables = {}
    for batch_size in (1, 512):
        out = str(tmp_path / f"b{batch_size}")
        manifest = classify.run(stage_dir, out, ScoreConfig(models=(multiclass_dir, regression_dir), batch_size=batch_size, device="cpu"),
                                TEST_BEAM_ARGS, force=True, progress=False)
        tables[batch_size] = _read_scored(out)
    assert manifest.extra["columns"] == ["quality_nemo_quality", "quality_nemo_quality_label", "quality_edu_regressor", "quality_edu_regressor_int"]
    assert manifest.parameters["models"]["quality_nemo_quality"]["labels"] == list(QUALITY_LABELS)
    table = tables[512]
    assert table.schema.field("quality_nemo_quality").type == "float" and table.schema.field("quality_nemo_quality_label").type == "string"
    assert b"most probable" in table.schema.field("quality_nemo_quality").metadata[b"doc"]
    reference = _reference_probabilities(multiclass_dir, table.column("text").to_pylist())
    names = table.column("quality_nemo_quality_label").to_pylist()
    classes = np.array([QUALITY_LABELS.index(n) for n in names])
    _check_against_reference(table.column("quality_nemo_quality").to_numpy(), classes, reference)
    assert len(set(names)) >= 2
    assert names == tables[1].column("quality_nemo_quality_label").to_pylist()  # batch-size invariant through the stage
    assert np.max(np.abs(table.column("quality_nemo_quality").to_numpy() - tables[1].column("quality_nemo_quality").to_numpy())) <= 1e-5
    # --min-score on the float column: rows whose predicted class is less probable than the threshold go to removed/
    scores = table.column("quality_nemo_quality").to_numpy()
    threshold = float(np.median(scores))
    cut = str(tmp_path / "cut")
    manifest = classify.run(stage_dir, cut, ScoreConfig(models=(multiclass_dir,), device="cpu", min_scores=(("quality_nemo_quality", threshold),)),
                            TEST_BEAM_ARGS, force=True, progress=False)
    kept = _read_scored(cut)
    removed = pq.read_table(os.path.join(cut, "removed"))
    assert manifest.counts.dropped == {"low_quality_nemo_quality": removed.num_rows} and removed.num_rows == int((scores < threshold).sum()) > 0
    assert max(removed.column("quality_nemo_quality").to_pylist()) < threshold <= min(kept.column("quality_nemo_quality").to_pylist())
    assert manifest.counts.input == manifest.counts.output + removed.num_rows == table.num_rows
    with pytest.raises(ConfigError, match="holds class names, not scores; threshold 'quality_nemo_quality'"):
        classify.run(stage_dir, str(tmp_path / "bad"), ScoreConfig(models=(multiclass_dir,), device="cpu", min_scores=(("quality_nemo_quality_label", 0.5),)),
                     TEST_BEAM_ARGS, force=True, progress=False)


# --- a head trained on frozen encoder embeddings ---------------------------------------------------


@pytest.fixture(scope="module")
def graded_labels(corpora, tmp_path_factory):
    """Graded labels on real text, FineWeb-Edu style: Gutenberg paragraphs 3-5 (grouped by book), CCNet
    crawl paragraphs 0-2 (with URLs: grouped by registered domain). Grades within a class are random, so
    what a head can learn is books vs crawl."""
    import random
    import re

    rng = random.Random(0)
    rows = []
    for book in sorted((corpora / "books" / "gutenberg").glob("*.txt.gz"))[:12]:
        with gzip.open(book, "rt", encoding="utf-8", errors="replace") as handle:
            text = handle.read()[20_000:80_000]
        for p in [p.strip() for p in re.split(r"\r?\n\s*\n", text) if len(p.strip()) > 200][:15]:
            rows.append({"text": p, "label": round(3 + 2 * rng.random(), 2), "book": book.name})
    for shard in sorted((corpora / "web" / "ccnet").glob("*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as handle:
            for line in handle:
                doc = json.loads(line)
                for p in [p for p in doc["text"].split("\n") if len(p) > 200][:10]:
                    rows.append({"text": p, "label": round(2 * rng.random(), 2), "url": doc["metadata"]["url"]})
    folder = tmp_path_factory.mktemp("labels")
    paths = {}
    for task in ("regression", "binary"):
        paths[task] = str(folder / f"{task}.jsonl")
        with open(paths[task], "w") as handle:
            for row in rows:
                handle.write(json.dumps({**row, "label": row["label"] if task == "regression" else int(row["label"] >= 3)}) + "\n")
    return paths, rows


@pytest.fixture(scope="module")
def encoder_base(graded_labels, tmp_path_factory):
    # BERT's own 0.02 initialiser: a random encoder whose [CLS] still carries which tokens a text has
    return write_random_bert(str(tmp_path_factory.mktemp("base") / "tiny-bert"), [r["text"] for r in graded_labels[1]], num_labels=2,
                             vocab_size=1000, hidden=128, layers=1, heads=2, intermediate=256, max_positions=128)


@pytest.mark.parametrize("task", ["regression", "binary"])
def test_encoder_head_trains_from_graded_labels_and_scores_through_the_score_path(task, graded_labels, encoder_base, tmp_path):
    from tailmine.classifiers.encoder_train import EncoderTrainConfig, embed, fit_head, read_labels, split_docs, train_encoder

    paths, rows = graded_labels
    out = str(tmp_path / f"edu-{task}")
    card = train_encoder(encoder_base, paths[task], out, EncoderTrainConfig(seed=0))
    assert card["task"] == task and sorted(os.listdir(out)) == ["README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    readme = open(os.path.join(out, "README.md")).read()
    assert "## Held-out metrics" in readme and card["data"]["labels_sha256"] in readme
    m = card["metrics"]
    print(f"\nencoder head ({task}): {m}")
    docs = read_labels(paths[task])
    heldout = split_docs(docs, task, 0, 0.2)
    labels = np.array([d.label for d in docs])
    from tailmine.classifiers.metrics import roc_auc

    held_scores = HFScorer(out, device="cpu").score([d.text for d, h in zip(docs, heldout) if h])
    books_first = roc_auc((labels[heldout] >= (3 if task == "regression" else 1)).astype(int), held_scores)
    print(f"held-out ROC AUC of books (>= 3) vs crawl: {books_first:.3f}")
    # Grades within a class are random, and a random encoder is a weak one: what a head can learn is books
    # vs crawl, which it must (a head fitted to noise gives ~0.5 here)
    assert books_first >= 0.7 and (m["f1_at_3"] >= 0.6 if task == "regression" else m["roc_auc"] == pytest.approx(books_first, abs=1e-6)), m
    # the card's metrics are what the saved folder scores, recomputed here from the split and the head
    assert card["data"]["heldout_documents"] == heldout.sum() and {d.group for d, h in zip(docs, heldout) if h}.isdisjoint(
        {d.group for d, h in zip(docs, heldout) if not h})
    scorer = HFScorer(out, device="cpu")
    features = embed(scorer, [d.text for d in docs])
    w, b = fit_head(features[~heldout], labels[~heldout], task, 1.0, 0)
    direct = features @ w + b
    scores = scorer.score([d.text for d in docs])
    assert np.max(np.abs(scores - (direct if task == "regression" else 1 / (1 + np.exp(-direct))))) <= 1e-3
    info = describe_hf(out)
    assert info.column == f"quality_edu_{task}" and info.int_column == (f"quality_edu_{task}_int" if task == "regression" else None)


def test_encoder_labels_errors_name_file_line_and_key(encoder_base, tmp_path):
    from tailmine.classifiers.encoder_train import EncoderTrainConfig, train_encoder

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine", "label": 1}\n{"text": "no label here"}\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:2: no 'label' key"):
        train_encoder(encoder_base, str(bad), str(tmp_path / "m"))
    few = tmp_path / "few.jsonl"
    few.write_text("".join(json.dumps({"text": f"text {i}", "label": i % 2}) + "\n" for i in range(30)))
    with pytest.raises(ConfigError, match=r"the class label >= 3 has 0 document\(s\)"):
        train_encoder(encoder_base, str(few), str(tmp_path / "m"), EncoderTrainConfig(task="regression"))
    small = tmp_path / "small.jsonl"
    small.write_text("".join(json.dumps({"text": f"text {i}", "label": int(i < 5), "url": "https://one.example.org/p"}) + "\n" for i in range(40)))
    with pytest.raises(ConfigError, match=r"the class label 1 has 5 document\(s\) in 1 group\(s\)"):
        train_encoder(encoder_base, str(small), str(tmp_path / "m"))


def test_cli_trains_an_encoder_head_deterministically_and_scores_with_it(graded_labels, encoder_base, stage_dir, tmp_path, capsys):
    from tailmine.cli import main

    paths, _ = graded_labels
    shas = []
    for run in ("a", "b"):
        out = str(tmp_path / run / "edu-head")
        assert main(["classify", "train", "--kind", "encoder", "--base", encoder_base, "--labels", paths["regression"], "--out", out]) == 0
        shas.append(describe_hf(out).sha256)
    assert shas[0] == shas[1]  # same base, labels and seed: the same weights
    assert "quality_edu_head (regression head)" in capsys.readouterr().out
    assert main(["classify", "train", "--kind", "encoder", "--base", encoder_base, "--labels", paths["regression"], "--out", out]) == 2
    assert "already holds a model" in capsys.readouterr().err
    assert main(["classify", "train", "--kind", "encoder", "--labels", paths["regression"], "--out", out]) == 2
    assert "--kind encoder needs --base" in capsys.readouterr().err
    scored = str(tmp_path / "scored")
    assert main(["classify", "score", "--in", stage_dir, "--model", out, "--out", scored, "--device", "cpu", "--no-progress",
                 "--min-score", "quality_edu_head=2.5", "--", *TEST_BEAM_ARGS]) == 0
    assert "columns: quality_edu_head, quality_edu_head_int" in capsys.readouterr().out
    manifest = read_manifest(scored)
    kept = _read_scored(scored)
    assert (kept.column("quality_edu_head").to_numpy() >= 2.5).all()
    assert manifest.counts.output + manifest.counts.dropped.get("low_quality_edu_head", 0) == manifest.counts.input


def test_run_config_classify_section_scores_with_a_hugging_face_model(stage_dir, binary_dir, tmp_path):
    """``classify: {model: HF_DIR}`` in a ``tailmine run`` config scores the previous stage with it."""
    from tailmine.pipelines.classify import ClassifyStageConfig, run_stage

    manifest = run_stage(stage_dir, str(tmp_path / "classify"), ClassifyStageConfig(model=binary_dir, device="cpu", min_score=0.5),
                         TEST_BEAM_ARGS, force=True, resume=False)
    assert manifest.extra["columns"] == ["quality_binary_clf"]
    kept = _read_scored(str(tmp_path / "classify"))
    assert (kept.column("quality_binary_clf").to_numpy() >= 0.5).all()
    assert manifest.counts.input == manifest.counts.output + manifest.counts.dropped.get("low_quality_binary_clf", 0)
