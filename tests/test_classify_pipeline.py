"""The classify stage in Beam: RunInference scoring, one column per model, determinism, removal, errors."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import TEST_BEAM_ARGS
from test_classifiers import CRAWL, FAST_FT, FAST_TORCH, GOOD, SMALL, _docs
from tailmine.classifiers.card import ModelError
from tailmine.classifiers.handler import QualityModelHandler
from tailmine.classifiers.train import TrainConfig, load_model, train_from_documents
from tailmine.errors import ConfigError
from tailmine.pipelines import classify
from tailmine.pipelines.classify import ScoreConfig, _parse_min_scores
from tailmine.schemas.manifest import read_manifest


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    positives, negatives = _docs(25, GOOD, 1, "gutenberg"), _docs(25, CRAWL, 2, "warc")
    dirs = {}
    for kind in ("fasttext", "torch"):
        out = str(tmp_path_factory.mktemp(kind))
        train_from_documents(positives, negatives, out, TrainConfig(kind=kind, seed=1, data=SMALL, fasttext=FAST_FT, torch=FAST_TORCH))
        dirs[kind] = out
    return dirs


@pytest.fixture(scope="module")
def stage_dir(tmp_path_factory):
    """An ingest output in several small shards: good, crawl-like and mixed documents, plus odd ones."""
    from tailmine.ingest.config import IngestConfig
    from tailmine.pipelines import ingest

    root = tmp_path_factory.mktemp("stage")
    docs = _docs(12, GOOD, 5, "jsonl") + _docs(12, CRAWL, 6, "jsonl")
    odd = ["", "x", "Всё смешалось в доме Облонских. " * 30, "click " * 5000]
    rows = [{"id": f"d{i}", "text": d["text"]} for i, d in enumerate(docs)] + [{"id": f"odd{i}", "text": t} for i, t in enumerate(odd)]
    for part in range(3):
        with open(root / f"in-{part}.jsonl", "w") as handle:
            for row in rows[part::3]:
                handle.write(json.dumps(row) + "\n")
    out = str(root / "ingest")
    manifest = ingest.run([str(root / f"in-{p}.jsonl") for p in range(3)], out, IngestConfig(shard_bytes=10_000), TEST_BEAM_ARGS, force=True, progress=False)
    assert len(manifest.outputs) >= 2, "the stage tests need several shards"
    return out


def _read(out_dir: str, sub: str = "docs"):
    import pyarrow as pa

    folder = os.path.join(out_dir, sub)
    files = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    return pa.concat_tables([pq.read_table(os.path.join(folder, f)) for f in files]) if files else None


def _score(stage_dir, out, models, **kw):
    return classify.run(stage_dir, str(out), ScoreConfig(models=tuple(models), **kw), TEST_BEAM_ARGS, force=True, progress=False)


def _assert_scores_are_direct(stored, model_dir: str, kind: str, texts: list[str]) -> None:
    """``stored`` is what the scorer alone gives for ``texts`` (all at once), rounded like the stage does:
    exactly for fastText (one line at a time); torch to float tolerance (batch size may change its kernels)."""
    scores = load_model(model_dir, device="cpu").score(texts)
    direct = np.array([round(float(v), classify.SCORE_DECIMALS) for v in scores], dtype=np.float32)
    assert np.array_equal(stored, direct) if kind == "fasttext" else np.allclose(stored, direct, atol=2e-6, rtol=0)


def _spy_on_inference(monkeypatch):
    """Records, per RunInference call: (model, shard sizes in the batch); per model call: (model, texts)."""
    calls, model_calls = [], []
    run_inference, load = QualityModelHandler.run_inference, QualityModelHandler.load_model

    def spy_run_inference(self, batch, model, inference_args=None):
        calls.append((model.name, [shard.num_rows for shard in batch]))
        return run_inference(self, batch, model, inference_args)

    def spy_load(self):
        model = load(self)
        score = model.score
        model.score = lambda texts: (model_calls.append((model.name, len(texts))), score(texts))[1]
        return model

    monkeypatch.setattr(QualityModelHandler, "run_inference", spy_run_inference)  # the in-memory runner runs in this process
    monkeypatch.setattr(QualityModelHandler, "load_model", spy_load)
    return calls, model_calls


def test_scores_every_row_through_run_inference_one_float32_column_per_model(stage_dir, models, tmp_path, monkeypatch):
    calls, model_calls = _spy_on_inference(monkeypatch)
    manifest = _score(stage_dir, tmp_path / "scored", [models["fasttext"], models["torch"]], batch_size=8, read_rows=4)
    source = _read(stage_dir)
    scored = _read(str(tmp_path / "scored"))
    shard_rows = sorted(s.rows for s in classify.stage_shards(stage_dir)[1])
    assert manifest.extra["columns"] == ["quality_fasttext_v1", "quality_torch_v1"]
    assert manifest.counts.input == manifest.counts.output == source.num_rows and not manifest.counts.dropped
    assert scored.column_names == source.column_names + ["quality_fasttext_v1", "quality_torch_v1"]
    assert scored.column("id").to_pylist() == source.column("id").to_pylist()  # rows in input order
    for name in ("quality_fasttext_v1", "quality_torch_v1"):
        # one RunInference batch = one whole shard; the handler scores it in model calls of <= batch_size texts
        assert sorted(rows for n, batch in calls if n == name for rows in batch) == shard_rows
        assert all(len(batch) == 1 for n, batch in calls if n == name)
        sizes = [b for n, b in model_calls if n == name]
        assert max(sizes) <= 8 and sum(sizes) == source.num_rows and len(sizes) == sum(-(-r // 8) for r in shard_rows if r)
    texts = source.column("text").to_pylist()
    for kind in ("fasttext", "torch"):
        column = scored.column(f"quality_{kind}_v1")
        assert str(column.type) == "float"
        _assert_scores_are_direct(column.to_numpy(), models[kind], kind, texts)  # batching through Beam changes nothing
        ids = source.column("id").to_pylist()
        good = [v for v, i in zip(column.to_pylist(), ids) if i.startswith("d") and int(i[1:]) < 12]
        crawl = [v for v, i in zip(column.to_pylist(), ids) if i.startswith("d") and int(i[1:]) >= 12]
        assert min(good) > max(crawl)


@pytest.fixture(scope="module")
def odd_stage_dir(stage_dir, tmp_path_factory):
    """``stage_dir`` plus a shard with zero rows and a shard holding one ~8 MB document between small ones."""
    import hashlib

    import pyarrow as pa

    from tailmine.schemas.manifest import ShardInfo

    out = str(tmp_path_factory.mktemp("odd") / "stage")
    shutil.copytree(stage_dir, out)
    manifest = read_manifest(out)
    first = pq.read_table(os.path.join(out, manifest.outputs[0].path))
    rows = first.slice(0, 3).to_pylist()
    rows[1]["text"] = " ".join(GOOD[i % len(GOOD)] + (" click" if i % 7 == 0 else "") for i in range(1_000_000))
    rows[1]["id"] = "huge"
    shards = {"docs/part-empty.parquet": first.slice(0, 0), "docs/part-huge.parquet": pa.Table.from_pylist(rows, schema=first.schema)}
    outputs = list(manifest.outputs)
    for i, (path, table) in enumerate(shards.items()):
        pq.write_table(table, os.path.join(out, path))
        data = open(os.path.join(out, path), "rb").read()
        outputs.insert(1 + 2 * i, ShardInfo(path, table.num_rows, len(data), hashlib.sha256(data).hexdigest()))
    manifest.outputs = outputs
    manifest.write(out)
    return out


def test_each_shard_is_read_once_and_scored_whole_even_when_empty_or_huge(odd_stage_dir, models, tmp_path, monkeypatch):
    opened = []
    open_raw = classify.open_raw
    monkeypatch.setattr(classify, "open_raw", lambda path, *a, **k: (opened.append(path), open_raw(path, *a, **k))[1])
    calls, _ = _spy_on_inference(monkeypatch)
    shards = classify.stage_shards(odd_stage_dir)[1]
    assert [s.rows for s in shards].count(0) == 1 and len(shards) >= 4
    manifest = _score(odd_stage_dir, tmp_path / "scored", [models["fasttext"], models["torch"]], batch_size=2)
    assert sorted(opened) == sorted(os.path.join(odd_stage_dir, s.path) for s in shards)  # every shard read once, never again
    assert len(calls) == 2 * len(shards) and all(len(batch) == 1 for _, batch in calls)
    assert manifest.counts.input == manifest.counts.output == sum(s.rows for s in shards)
    assert [s.rows for s in manifest.outputs] == [s.rows for s in shards if s.rows]  # the empty shard writes nothing
    for source_shard, out_shard in zip([s for s in shards if s.rows], manifest.outputs):
        source = pq.read_table(os.path.join(odd_stage_dir, source_shard.path))
        scored = pq.read_table(os.path.join(tmp_path / "scored", out_shard.path))
        assert scored.column("id").to_pylist() == source.column("id").to_pylist()
        assert scored.drop_columns(["quality_fasttext_v1", "quality_torch_v1"]).equals(source)
        for kind in ("fasttext", "torch"):
            _assert_scores_are_direct(scored.column(f"quality_{kind}_v1").to_numpy(), models[kind], kind, source.column("text").to_pylist())
    texts = dict(zip(*_read(str(tmp_path / "scored")).select(["id", "text"]).to_pydict().values()))
    assert len(texts["huge"]) > 8_000_000


def test_same_shards_scored_twice_give_the_same_columns_and_resume_keeps_them(stage_dir, models, tmp_path):
    _score(stage_dir, tmp_path / "a", [models["fasttext"], models["torch"]], batch_size=5)
    _score(stage_dir, tmp_path / "b", [models["fasttext"], models["torch"]], batch_size=64)
    a, b = _read(str(tmp_path / "a")), _read(str(tmp_path / "b"))
    assert a.equals(b)
    hashes = [(s.path, s.sha256) for s in read_manifest(str(tmp_path / "a")).outputs]
    assert hashes == [(s.path, s.sha256) for s in read_manifest(str(tmp_path / "b")).outputs]  # byte-identical shards
    again = classify.run(stage_dir, str(tmp_path / "a"), ScoreConfig(models=(models["fasttext"], models["torch"]), batch_size=5), TEST_BEAM_ARGS, resume=True, progress=False)
    assert _read(str(tmp_path / "a")).equals(a) and again.counts.output == a.num_rows


def test_resume_skips_finished_shards_before_reading_them(stage_dir, models, tmp_path, monkeypatch):
    from tailmine.pipelines import stage

    models_ = [models["fasttext"], models["torch"]]
    clean = _score(stage_dir, tmp_path / "clean", models_)
    with monkeypatch.context() as m:  # an interrupted run: unit summaries left in _work, no manifest
        m.setattr(stage, "delete_tree", lambda path: None)
        _score(stage_dir, tmp_path / "cut", models_)
    os.remove(tmp_path / "cut" / "manifest.json")
    shards = classify.stage_shards(stage_dir)[1]
    os.remove(tmp_path / "cut" / "_work" / "unit-00001.json")  # unit 1 did not finish
    os.remove(tmp_path / "cut" / "docs" / "part-00001.parquet")
    opened = []
    open_raw = classify.open_raw
    monkeypatch.setattr(classify, "open_raw", lambda path, *a, **k: (opened.append(path), open_raw(path, *a, **k))[1])
    resumed = classify.run(stage_dir, str(tmp_path / "cut"), ScoreConfig(models=tuple(models_)), TEST_BEAM_ARGS, resume=True, progress=False)
    assert opened == [os.path.join(stage_dir, shards[1].path)]
    assert resumed.to_json() == clean.to_json()


def test_min_score_removes_rows_with_a_reason_and_balances_the_manifest(stage_dir, models, tmp_path):
    column = "quality_fasttext_v1"
    everything = _read(str(_score(stage_dir, tmp_path / "all", [models["fasttext"]]) and tmp_path / "all"))
    threshold = float(np.median(everything.column(column).to_numpy()))
    manifest = _score(stage_dir, tmp_path / "cut", [models["fasttext"]], min_scores=((column, threshold),))
    kept, removed = _read(str(tmp_path / "cut")), _read(str(tmp_path / "cut"), "removed")
    assert removed is not None and kept is not None
    assert manifest.counts.input == manifest.counts.output + sum(manifest.counts.dropped.values()) == everything.num_rows
    assert manifest.counts.dropped == {f"low_{column}": removed.num_rows}
    assert set(removed.column("drop_reason").to_pylist()) == {f"low_{column}"}
    assert max(removed.column(column).to_pylist()) < threshold <= min(kept.column(column).to_pylist())
    assert sorted(kept.column("id").to_pylist() + removed.column("id").to_pylist()) == sorted(everything.column("id").to_pylist())
    with pytest.raises(ConfigError, match="quality_torch_v1"):
        _score(stage_dir, tmp_path / "bad", [models["fasttext"]], min_scores=(("quality_torch_v1", 0.5),))


@pytest.mark.parametrize("kind,weights", [("fasttext", "model.bin"), ("torch", "model.pt")])
def test_corrupt_or_missing_model_file_errors_name_the_file(stage_dir, models, tmp_path, kind, weights):
    broken = str(tmp_path / "model")
    shutil.copytree(models[kind], broken)
    with open(os.path.join(broken, weights), "r+b") as handle:
        handle.seek(64)
        handle.write(b"\xffcorrupt\xff")
    path = os.path.join(broken, weights)
    with pytest.raises(ModelError, match=f"{path}: model file is corrupt"):
        _score(stage_dir, tmp_path / "out", [broken])
    assert not os.path.exists(tmp_path / "out" / "docs")  # nothing started
    with pytest.raises(ModelError, match=f"{path}: model file is corrupt"):
        QualityModelHandler(broken, device="cpu").load_model()  # the lazy load on a worker checks too
    os.remove(path)
    with pytest.raises(ModelError, match=f"{path}: model file is missing"):
        _score(stage_dir, tmp_path / "out", [broken])


def test_score_arguments_are_checked(models, stage_dir, tmp_path):
    assert _parse_min_scores(["quality_fasttext_v1=0.25"]) == (("quality_fasttext_v1", 0.25),)
    for bad in ("quality_fasttext_v1", "=0.5", "quality_fasttext_v1=high"):
        with pytest.raises(ConfigError, match="COLUMN=VALUE"):
            _parse_min_scores([bad])
    with pytest.raises(ConfigError, match="both write the column"):
        _score(stage_dir, tmp_path / "dup", [models["fasttext"], models["fasttext"]])
    with pytest.raises(ConfigError, match="at least one model"):
        _score(stage_dir, tmp_path / "none", [])


def test_runner_stage_trains_on_the_fly_on_the_demo_sample_and_scores_it(tmp_path, monkeypatch):
    """The `classify` stage as `tailmine run` (and the demo) calls it: train on the previous stage's
    books vs pages, then score that stage; plugged into the runner here by patching available_stages."""
    from tailmine.demo.sample import write_sample
    from tailmine.pipelines import run as runner
    from tailmine.stages import STAGES

    specs = runner.available_stages()
    monkeypatch.setattr(runner, "available_stages", lambda: specs[:1] + [STAGES["classify"]])
    sample = tmp_path / "sample"
    write_sample(str(sample), seed=0)
    config = {
        "inputs": [str(sample / sub) for sub in ("crawl", "html", "books", "jsonl", "parquet")],
        "ingest": {"text_field": "text,content", "id_field": "id,doc_id", "url_field": "url,source_url"},
        "classify": {"chunk_min_bytes": 400, "chunk_max_bytes": 2000, "min_example_bytes": 100, "heldout_fraction": 0.3},
        "report": False,
    }
    loaded = runner.load_config(json.dumps(config), "test config", str(tmp_path / "out"), TEST_BEAM_ARGS)
    manifests = runner.run(loaded, force=True, stream=open(os.devnull, "w"))
    m = manifests["classify"]
    card = json.load(open(tmp_path / "out" / "classify" / "model" / "card.json"))
    assert m.extra["columns"] == ["quality_fasttext_v1"] and m.counts.input == m.counts.output == manifests["ingest"].counts.output
    assert "not text quality" in card["data"]["note"] and card["determinism"]["same_seed_same_weights"]
    scored = _read(str(tmp_path / "out" / "classify"))
    books = [v for v, s in zip(scored.column("quality_fasttext_v1").to_pylist(), scored.column("source").to_pylist()) if s == "gutenberg"]
    pages = [v for v, s in zip(scored.column("quality_fasttext_v1").to_pylist(), scored.column("source").to_pylist()) if s != "gutenberg"]
    assert books and pages and np.mean(books) > np.mean(pages)
    with pytest.raises(ConfigError, match="positive/negative"):
        runner.load_config(json.dumps({**config, "classify": {"positive": ["x"]}}), "test config", str(tmp_path / "o2"))
