"""The classify stage: train quality models, and score document shards with them through RunInference.

Run it::

    tailmine classify train --positive shared/corpora/books --negative shared/corpora/web/warc \\
        --kind fasttext --out models/quality_fasttext_v1
    tailmine classify score --in out/ingest --model models/quality_fasttext_v1 models/quality_torch_v1 \\
        --out out/classify

Shape of ``score``: one element per shard from read to write, and no shuffle of rows. Each input shard
is read once, whole, into an Arrow table (a shard already finished by a resumed run is skipped before
it is read; its saved summary is reused). The table is the element of one ``RunInference`` per model,
chained: the handler's batches are one shard each, it scores the shard's ``text`` column in
sub-batches of ``--batch-size`` texts (one model call each; model loaded lazily on the worker and
shared, torch on ``cuda`` with mixed precision when there is one, CPU otherwise), and the shard comes
back with one more float32 column, named by the model's versioned name (``quality_fasttext_v1``),
rounded to ``SCORE_DECIMALS`` places. The last step writes the shard, rows in input order. Why: keying
every row through RunInference and grouping the scores back per shard cost a per-row shuffle and a
second read of every shard, which made the stage about three times slower than the model alone;
scoring a shard's rows where they already are adds little beyond the model calls. Memory: a worker
holds the shard it is working on (up to ~64 MB of text) plus one sub-batch of its texts as Python
strings (or one ``read_rows`` slice while writing): one shard per element in flight, not the stage.
Nothing is removed unless ``--min-score COLUMN=VALUE`` is given; rows under it go to ``removed/`` with reason
``low_<column>``.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics

from tailmine.errors import ConfigError
from tailmine.fileio import join, open_raw
from tailmine.pipelines.stage import Spread, WriteManifest, finish
from tailmine.runtime import SelectionWriter, ShardTask, finished_summary, fingerprint, prepare_output, shard_tasks, stage_shards
from tailmine.schemas.document import DOCUMENT_SCHEMA, check_schema
from tailmine.schemas.manifest import Manifest

STAGE = "classify"
SCORE_DECIMALS = 6
log = logging.getLogger("tailmine.classify")


@dataclass(frozen=True)
class ScoreConfig:
    models: tuple[str, ...]
    """Model directories: tailmine models (card.json; the column is the card's name) or local Hugging Face
    folders (config.json, model.safetensors, tokenizer.json; the column is quality_<folder name>, plus
    <column>_int for regression heads, and for heads with more than two labels <column>_label, the
    predicted class's name, with <column> its probability)."""
    device: str = "auto"
    """Torch models: auto (cuda when available), cpu or cuda[:N]."""
    batch_size: int = 512
    """Texts per model call (a shard is scored in sub-batches of this many)."""
    min_scores: tuple[tuple[str, float], ...] = ()
    """(column, threshold) pairs: rows scoring below a threshold are removed with reason low_<column>."""
    read_rows: int = 2048
    """Rows per Parquet batch when writing shards (a shard is read whole)."""
    trust_pickle: bool = False
    """Let a Hugging Face folder without safetensors load its pickle checkpoint (torch.load(weights_only=True))."""
    max_batch_tokens: int = 32768
    """Hugging Face models: padded tokens per forward pass (a model call's texts are sorted by token length
    and cut into batches of at most this many tokens: 64 texts of 512 tokens)."""


def describe_models(model_dirs: Iterable[str], trust_pickle: bool = False) -> list:
    """:class:`~tailmine.classifiers.models.ModelInfo` of every model, checked on the driver (weights present,
    hashed); two models writing one column is an error naming both directories."""
    from tailmine.classifiers.models import describe_model

    infos, seen = [], {}
    for model_dir in model_dirs:
        info = describe_model(model_dir, trust_pickle)
        for name in info.columns:
            if name in seen:
                raise ConfigError(f"models {seen[name]} and {model_dir} both write the column {name!r}; give one a different --version or folder name")
            seen[name] = model_dir
        infos.append(info)
    return infos


def model_columns(model_dirs: Iterable[str], trust_pickle: bool = False) -> list[str]:
    """Every column the models write, in model order (a regression head's ``_int`` column or a
    multi-class head's ``_label`` column after its score)."""
    return [name for info in describe_models(model_dirs, trust_pickle) for name in info.columns]


class ReadShardFn(beam.DoFn):
    """ShardTask -> (task, whole shard as an Arrow table), read once; a shard already finished by a
    resumed run is not read: its saved summary goes to the ``FINISHED`` output instead."""

    FINISHED = "finished"

    def __init__(self, out_dir: str, fingerprint: str):
        self.out_dir, self.fingerprint = out_dir, fingerprint

    def process(self, task: ShardTask):
        previous = finished_summary(self.out_dir, task.unit, self.fingerprint)
        if previous is not None:
            yield beam.pvalue.TaggedOutput(self.FINISHED, previous)
            return
        with open_raw(task.path) as handle:
            parquet = pq.ParquetFile(handle)
            check_schema(parquet.schema_arrow, task.path, DOCUMENT_SCHEMA)
            table = parquet.read()
        if table.num_rows != task.rows:
            raise RuntimeError(f"{task.path}: read {table.num_rows} rows, the manifest says {task.rows}")
        yield task, table


def add_score_column(element, column: str, int_column: Optional[str] = None, label_column: Optional[str] = None, labels: tuple = ()):
    """(task, PredictionResult(shard, scores)) -> (task, shard + float32 column ``column``, rounded; and,
    for a regression head, int8 column ``int_column`` = round(clip(score, 0, 5)) from the unrounded score;
    for a multi-class head (inference = (scores, class ids)), string column ``label_column`` = the
    predicted class's name from ``labels``, with ``column`` its probability)."""
    import numpy as np

    task, result = element
    shard, scores = result.example, result.inference
    classes = None
    if label_column:
        scores, classes = scores
    if len(scores) != shard.num_rows:
        raise RuntimeError(f"{task.path}: {len(scores)} {column} scores for {shard.num_rows} rows")
    # Scores are float32: x * 1e6 is exact in float64, so this rounds exactly like round(x, 6) per value.
    rounded = np.round(np.asarray(scores, dtype=np.float32).astype(np.float64), SCORE_DECIMALS).astype(np.float32)
    if int_column:
        doc = f"score of regression model {column}"
    elif label_column:
        doc = f"probability of the class named in {label_column} (the most probable of {', '.join(labels)}) from model {column}"
    else:
        doc = f"P(reference quality) from model {column}"
    shard = shard.append_column(pa.field(column, pa.float32(), metadata={"doc": doc}), pa.array(rounded, pa.float32()))
    if int_column:
        from tailmine.classifiers.hf_model import int_scores

        field = pa.field(int_column, pa.int8(), metadata={"doc": f"{column} clipped to 0..5 and rounded (FineWeb-Edu's int_score)"})
        shard = shard.append_column(field, pa.array(int_scores(scores), pa.int8()))
    if label_column:
        classes = np.asarray(classes)
        if len(classes) != shard.num_rows or (len(classes) and (classes.min() < 0 or classes.max() >= len(labels))):
            raise RuntimeError(f"{task.path}: {label_column}: class ids outside 0..{len(labels) - 1} or not one per row")
        names = pa.array(list(labels), pa.string()).take(pa.array(classes, pa.int32()))
        field = pa.field(label_column, pa.string(), metadata={"doc": f"most probable class of model {column} (config.json id2label)"})
        shard = shard.append_column(field, names)
    return task, shard


class WriteScoredFn(beam.DoFn):
    """(task, shard with every score column) -> unit summary; writes the shard."""

    ROWS = Metrics.counter(STAGE, "rows_scored")

    def __init__(self, out_dir: str, fingerprint: str, min_scores: dict, read_rows: int):
        self.out_dir, self.fingerprint, self.min_scores, self.read_rows = out_dir, fingerprint, min_scores, read_rows

    def process(self, element):
        task, table = element
        yield write_scored_shard(task, table, self.min_scores, self.out_dir, self.fingerprint, self.read_rows)
        self.ROWS.inc(table.num_rows)


def write_scored_shard(task: ShardTask, table: pa.Table, min_scores: dict, out_dir: str, fingerprint: str, write_rows: int = 2048) -> dict:
    """Write ``docs/part-UUUUU.parquet`` (kept rows) and ``removed/part-UUUUU.parquet`` (rows under a
    ``min_scores`` threshold, reason ``low_<column>``, first column in name order wins) from ``table`` =
    input shard + its score columns, rows in input order, ``write_rows`` rows per Parquet batch."""
    import numpy as np

    reasons = np.full(table.num_rows, None, dtype=object)
    for column, threshold in sorted(min_scores.items(), reverse=True):  # the first column in name order is written last: it wins
        reasons[table.column(column).to_numpy() < threshold] = f"low_{column}"
    selection = SelectionWriter(task, out_dir, fingerprint)
    for start in range(0, table.num_rows, write_rows):
        selection.add(table.slice(start, write_rows), reasons[start : start + write_rows].tolist())
    return selection.finish("classify")


class ScoreShards(beam.PTransform):
    """PCollection[ShardTask] -> PCollection[unit summary]: every model scores every row through RunInference.

    One element per shard all the way: read, one RunInference per model (each adds its column), write."""

    def __init__(self, cfg: ScoreConfig, infos: list, out_dir: str, fingerprint: str):
        super().__init__()
        self.cfg, self.infos, self.out_dir, self.fingerprint = cfg, infos, out_dir, fingerprint

    def expand(self, tasks):
        from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

        from tailmine.classifiers.handler import QualityModelHandler

        read = (
            tasks
            | "Redistribute" >> Spread()
            | "ReadShards" >> beam.ParDo(ReadShardFn(self.out_dir, self.fingerprint)).with_outputs(ReadShardFn.FINISHED, main="shards")
        )
        shards = read.shards
        for info in self.infos:
            handler = KeyedModelHandler(QualityModelHandler(
                info.model_dir, self.cfg.device, self.cfg.batch_size, trust_pickle=self.cfg.trust_pickle, max_batch_tokens=self.cfg.max_batch_tokens
            ))
            shards = (
                shards
                | f"Score_{info.column}" >> RunInference(handler)
                | f"AddColumn_{info.column}" >> beam.Map(add_score_column, info.column, info.int_column, info.label_column, info.labels)
            )
        written = shards | "WriteShards" >> beam.ParDo(WriteScoredFn(self.out_dir, self.fingerprint, dict(self.cfg.min_scores), self.cfg.read_rows))
        return (written, read[ReadShardFn.FINISHED]) | "AllSummaries" >> beam.Flatten()


def run(
    in_dir: str,
    out_dir: str,
    cfg: ScoreConfig,
    beam_args: Optional[list[str]] = None,
    force: bool = False,
    resume: bool = False,
    progress: bool = True,
) -> Manifest:
    """Score every document shard of the stage in ``in_dir`` with every model; returns the manifest."""
    from tailmine.pipelines.options import pipeline_options

    if not cfg.models:
        raise ConfigError("models: give at least one model directory (--model)")
    infos = describe_models(cfg.models, cfg.trust_pickle)  # fail here, naming the file
    columns = [name for info in infos for name in info.columns]
    label_columns = {info.label_column for info in infos if info.label_column}
    for column, _ in cfg.min_scores:
        if column in label_columns:
            raise ConfigError(f"min_scores: {column!r} holds class names, not scores; threshold {column[: -len('_label')]!r} (the predicted class's probability)")
        if column not in columns:
            raise ConfigError(f"min_scores: {column!r} is not a model column; the models write {', '.join(columns)}")
    _, shards = stage_shards(in_dir)
    prepare_output(out_dir, force, resume)
    tasks = shard_tasks(in_dir, shards)
    parameters = {
        "step": STAGE,
        "models": {info.column: info.manifest for info in infos},
        "min_scores": dict(cfg.min_scores),
    }
    run_fingerprint = fingerprint(parameters)
    inputs = [{"path": t.path, "bytes": t.bytes, "rows": t.rows} for t in tasks]
    extra = {"columns": columns, "model_metrics": {info.column: info.metrics for info in infos}}
    pipeline = beam.Pipeline(options=pipeline_options(beam_args))
    (
        pipeline
        | "ListShards" >> beam.Create(tasks, reshuffle=False)
        | "ScoreShards" >> ScoreShards(cfg, infos, out_dir, run_fingerprint)
        | "CollectSummaries" >> beam.combiners.ToList()
        | "WriteManifest" >> beam.ParDo(WriteManifest(STAGE, out_dir, parameters, inputs, extra))
    )
    return finish(pipeline, out_dir, STAGE, len(tasks), sum(t.bytes for t in tasks), progress)


# --- the runner stage (`tailmine run`, and the demo) ----------------------------------------------


@dataclass(frozen=True)
class ClassifyStageConfig:
    """The ``classify:`` section of a ``tailmine run`` config: get a model, then score the previous stage.

    The model comes from, in this order: ``model`` (an existing model directory); ``positive`` and
    ``negative`` (files in any format ingest reads: trained on them, like ``classify train``); or, when
    both are empty, the previous stage's own documents split by ``source``: documents whose ingest
    source is in ``positive_sources`` are positives, all others negatives. That last mode is what the
    demo uses; on the synthetic sample it separates the sample's books from its web pages (boilerplate,
    menus, spam, foreign pages), which is a demonstration of the machinery, not a quality model: the
    card says so. A trained model is written to ``OUT/classify/model`` with its card.
    """

    kind: str = "fasttext"
    """Model kind when training: fasttext or torch."""
    model: str = ""
    """An existing model directory (written by `classify train`); nothing is trained."""
    positive: tuple[str, ...] = ()
    """Reference-quality training inputs (books, encyclopedic or documentation pages)."""
    negative: tuple[str, ...] = ()
    """Crawl training inputs."""
    positive_sources: tuple[str, ...] = ("gutenberg",)
    """Without model/positive/negative: previous-stage documents of these ingest sources are positives."""
    seed: int = 0
    chunk_min_bytes: int = 2000
    chunk_max_bytes: int = 5000
    min_example_bytes: int = 200
    heldout_fraction: float = 0.2
    min_score: float = 0.0
    """Rows whose score is below this are removed (reason low_<column>); 0 removes nothing."""
    device: str = "auto"
    batch_size: int = 512

    def __post_init__(self):
        from tailmine.classifiers.card import KINDS
        from tailmine.classifiers.data import DataConfig

        if self.kind not in KINDS:
            raise ConfigError(f"kind: {self.kind!r} is not one of {', '.join(KINDS)}")
        if bool(self.positive) != bool(self.negative):
            raise ConfigError("positive/negative: give both training inputs, or neither")
        if self.model and self.positive:
            raise ConfigError("model: give an existing model or training inputs (positive/negative), not both")
        if not 0.0 <= self.min_score <= 1.0:
            raise ConfigError(f"min_score: must lie in [0, 1], got {self.min_score}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size: must be at least 1, got {self.batch_size}")
        DataConfig(self.chunk_min_bytes, self.chunk_max_bytes, self.min_example_bytes, heldout_fraction=self.heldout_fraction)

    def train_config(self):
        from tailmine.classifiers.data import DataConfig
        from tailmine.classifiers.train import TrainConfig

        data = DataConfig(self.chunk_min_bytes, self.chunk_max_bytes, self.min_example_bytes, heldout_fraction=self.heldout_fraction)
        return TrainConfig(kind=self.kind, seed=self.seed, data=data)


MODEL_SUBDIR = "model"
IN_PROCESS_BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
"""Beam arguments for reading training files in-process: training inputs are small, a worker pool is not worth it."""


def load_documents(paths: Sequence[str], work_dir: Optional[str] = None, beam_args: Optional[list[str]] = None) -> list[dict]:
    """Read ``paths`` (any format ``tailmine ingest`` reads) with the ingest stage; rows as dicts, in shard order."""
    import os
    import shutil
    import tempfile

    from tailmine.classifiers.data import DOC_COLUMNS
    from tailmine.ingest.config import IngestConfig
    from tailmine.pipelines import ingest
    from tailmine.schemas.document import read_documents

    owned = work_dir is None
    work_dir = work_dir or tempfile.mkdtemp(prefix="tailmine-classify-")
    try:
        manifest = ingest.run(list(paths), work_dir, IngestConfig(), beam_args or IN_PROCESS_BEAM_ARGS, force=True, progress=False)
        table = read_documents([os.path.join(work_dir, s.path) for s in manifest.outputs], columns=DOC_COLUMNS)
        return table.to_pylist()
    finally:
        if owned:
            shutil.rmtree(work_dir, ignore_errors=True)


def train_model(positive: Sequence[str], negative: Sequence[str], out_dir: str, cfg=None, force: bool = False, beam_args: Optional[list[str]] = None) -> dict:
    """Read ``positive``/``negative`` files with the ingest stage, train, evaluate and write ``out_dir``; returns the card."""
    from tailmine.classifiers.train import TrainConfig, check_output, train_from_documents

    check_output(out_dir, force)
    positives = load_documents(positive, beam_args=beam_args)
    negatives = load_documents(negative, beam_args=beam_args)
    data = {"positive_files": list(positive), "negative_files": list(negative)}
    return train_from_documents(positives, negatives, out_dir, cfg or TrainConfig(), data=data, force=True)


def stage_model(cfg: ClassifyStageConfig, source_dir: str, out_dir: str, beam_args: Optional[list[str]], force: bool, resume: bool) -> str:
    """The model directory the stage scores with: ``cfg.model``, or one trained into ``OUT/model``."""
    from tailmine.classifiers.card import CARD_NAME
    from tailmine.classifiers.train import train_from_documents
    from tailmine.fileio import exists

    if cfg.model:
        return cfg.model
    model_dir = join(out_dir, MODEL_SUBDIR)
    if resume and not force and exists(join(model_dir, CARD_NAME)):
        return model_dir  # training is deterministic: the interrupted run's model is the one we would train
    if cfg.positive:
        train_model(list(cfg.positive), list(cfg.negative), model_dir, cfg.train_config(), force=True, beam_args=None)
        return model_dir
    from tailmine.classifiers.data import DOC_COLUMNS
    from tailmine.schemas.document import read_documents

    _, shards = stage_shards(source_dir)
    rows = read_documents([join(source_dir, s.path) for s in shards], columns=DOC_COLUMNS).to_pylist()
    positives = [r for r in rows if r["source"] in cfg.positive_sources]
    negatives = [r for r in rows if r["source"] not in cfg.positive_sources]
    data = {
        "trained_on": source_dir,
        "labels": f"positives: documents with ingest source in {list(cfg.positive_sources)}; negatives: every other document of the same stage",
        "note": "trained on the data it then scores (no external reference set); on tailmine's synthetic demo sample, books and pages share one text "
        "generator, so the model learns page furniture (menus, boilerplate, spam, foreign pages), not text quality",
    }
    card = train_from_documents(positives, negatives, model_dir, cfg.train_config(), data=data, force=True)
    log.info("model %s trained on %s: held-out ROC AUC %.3f", card["name"], source_dir, card["metrics"]["roc_auc"])
    return model_dir


def run_stage(source_dir: str, out_dir: str, cfg: ClassifyStageConfig, beam_args: Optional[list[str]] = None, force: bool = False,
              resume: bool = False, progress: bool = True) -> Manifest:
    """The runner's classify stage: get the model (see :class:`ClassifyStageConfig`), then score ``source_dir``."""
    if isinstance(source_dir, (list, tuple)):
        raise ConfigError("classify: cannot be the first stage; it scores the documents of the stage before it")
    model_dir = stage_model(cfg, source_dir, out_dir, beam_args, force, resume)
    column = describe_models([model_dir])[0].column
    score = ScoreConfig(
        models=(model_dir,), device=cfg.device, batch_size=cfg.batch_size,
        min_scores=((column, cfg.min_score),) if cfg.min_score > 0 else (),
    )
    return run(source_dir, out_dir, score, beam_args, force=force, resume=resume, progress=progress)


# --- command line: `tailmine classify train|score` ----------------------------------------------


def _parse_min_scores(items: list[str]) -> tuple[tuple[str, float], ...]:
    parsed = []
    for item in items:
        column, sep, value = item.partition("=")
        try:
            parsed.append((column, float(value)))
        except ValueError:
            sep = ""
        if not sep or not column:
            raise ConfigError(f"--min-score: {item!r} is not COLUMN=VALUE (e.g. quality_fasttext_v1=0.5)")
    return tuple(parsed)


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    if args.classify_command == "train" and args.kind == "encoder":
        return _train_encoder(args)
    if args.classify_command == "train":
        if not args.positive or not args.negative:
            raise ConfigError("--positive and --negative are required for --kind fasttext/torch")
        from tailmine.classifiers.data import DataConfig
        from tailmine.classifiers.train import TrainConfig

        data = DataConfig(heldout_fraction=args.heldout_fraction, max_chunks_per_group=args.max_chunks_per_group)
        cfg = TrainConfig(kind=args.kind, version=args.version, seed=args.seed, data=data)
        card = train_model(args.positive, args.negative, args.out, cfg, force=args.force)
        m = card["metrics"]
        print(
            f"{card['name']}: {card['sizes']['train_examples']:,} training / {card['sizes']['heldout_examples']:,} held-out chunks; "
            f"ROC AUC {m['roc_auc']:.4f}, precision at {m['precision_at_k']['k']} {m['precision_at_k']['value']:.4f}\n"
            f"  card: {args.out.rstrip('/')}/card.json"
        )
        return 0
    from tailmine.cli import summarize

    cfg = ScoreConfig(models=tuple(args.model), device=args.device, batch_size=args.batch_size, min_scores=_parse_min_scores(args.min_score),
                      trust_pickle=args.trust_pickle, max_batch_tokens=args.max_batch_tokens)
    manifest = run(args.in_dir, args.out, cfg, beam_args, force=args.force, resume=args.resume, progress=args.progress)
    print(summarize(manifest, args.out))
    print(f"  columns: {', '.join(manifest.extra.get('columns', []))}")
    return 0


def _train_encoder(args: argparse.Namespace) -> int:
    from tailmine.classifiers.encoder_train import EncoderTrainConfig, train_encoder
    from tailmine.classifiers.hf_model import _require_transformers

    if not args.base or not args.labels:
        raise ConfigError("--kind encoder needs --base HF_DIR and --labels FILE.jsonl")
    _require_transformers()
    cfg = EncoderTrainConfig(task=args.task, label_key=args.label_key, seed=args.seed, heldout_fraction=args.heldout_fraction)
    card = train_encoder(args.base, args.labels, args.out, cfg, force=args.force, device=args.device)
    d = card["data"]
    metrics = ", ".join(f"{k} {v}" for k, v in card["metrics"].items())
    print(f"{card['name']} ({card['task']} head): {d['train_documents']:,} training / {d['heldout_documents']:,} held-out documents; {metrics}\n"
          f"  model card: {args.out.rstrip('/')}/README.md")
    return 0
