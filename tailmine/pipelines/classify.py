"""The classify stage: train quality models, and score document shards with them through RunInference.

Run it::

    tailmine classify train --positive shared/corpora/books --negative shared/corpora/web/warc \\
        --kind fasttext --out models/quality_fasttext_v1
    tailmine classify score --in out/ingest --model models/quality_fasttext_v1 models/quality_torch_v1 \\
        --out out/classify

Shape of ``score``: every input shard is read once for its ``text`` column, rows keyed by
``(shard, row)``; one ``RunInference`` per model scores the texts (batched, model loaded lazily on
the worker and shared, torch on ``cuda`` when there is one); only the scores travel through the
shuffle, grouped per shard; each shard is then re-read and written with one float32 column per model,
named by the model's versioned name (``quality_fasttext_v1``), rows in input order. Nothing is
removed unless ``--min-score COLUMN=VALUE`` is given; rows under it go to ``removed/`` with reason
``low_<column>``.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import Iterable, Optional

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics

from tailmine.errors import ConfigError
from tailmine.fileio import join, open_raw
from tailmine.pipelines.stage import (
    SelectionWriter,
    ShardTask,
    WriteManifest,
    finish,
    finished_summary,
    fingerprint,
    prepare_output,
    stage_shards,
)
from tailmine.schemas.document import DOCUMENT_SCHEMA, check_schema
from tailmine.schemas.manifest import Manifest

STAGE = "classify"
SCORE_DECIMALS = 6
log = logging.getLogger("tailmine.classify")


@dataclass(frozen=True)
class ScoreConfig:
    models: tuple[str, ...]
    """Model directories (each with card.json); one score column per model, named by the card."""
    device: str = "auto"
    """Torch models: auto (cuda when available), cpu or cuda[:N]."""
    batch_size: int = 512
    """Texts per model call."""
    min_scores: tuple[tuple[str, float], ...] = ()
    """(column, threshold) pairs: rows scoring below a threshold are removed with reason low_<column>."""
    read_rows: int = 2048
    """Rows per Parquet batch when reading shards."""


def model_columns(model_dirs: Iterable[str]) -> list[str]:
    """The score column of every model (from its card); duplicate names are an error naming both directories."""
    from tailmine.classifiers.card import read_card

    seen: dict[str, str] = {}
    for model_dir in model_dirs:
        name = read_card(model_dir)["name"]
        if name in seen:
            raise ConfigError(f"models {seen[name]} and {model_dir} both write the column {name!r}; give one a different --version")
        seen[name] = model_dir
    return list(seen)


class ReadTextsFn(beam.DoFn):
    """ShardTask -> ((unit, row), text) for every row of a shard not already finished by a resumed run."""

    def __init__(self, out_dir: str, fingerprint: str, read_rows: int):
        self.out_dir, self.fingerprint, self.read_rows = out_dir, fingerprint, read_rows

    def process(self, task: ShardTask):
        if finished_summary(self.out_dir, task.unit, self.fingerprint) is not None:
            return
        row = 0
        with open_raw(task.path) as handle:
            parquet = pq.ParquetFile(handle)
            check_schema(parquet.schema_arrow, task.path, DOCUMENT_SCHEMA)
            for batch in parquet.iter_batches(batch_size=self.read_rows, columns=["text"]):
                for text in batch.column(0).to_pylist():
                    yield (task.unit, row), text
                    row += 1


class WriteScoredFn(beam.DoFn):
    """(unit, {"task": [ShardTask], "scores": [(row, column, score)]}) -> unit summary; writes the shard."""

    ROWS = Metrics.counter(STAGE, "rows_scored")

    def __init__(self, out_dir: str, fingerprint: str, columns: list[str], min_scores: dict, read_rows: int):
        self.out_dir, self.fingerprint, self.columns = out_dir, fingerprint, columns
        self.min_scores, self.read_rows = min_scores, read_rows

    def process(self, element):
        _, grouped = element
        task: ShardTask = list(grouped["task"])[0]
        previous = finished_summary(self.out_dir, task.unit, self.fingerprint)
        if previous is not None:
            yield previous
            return
        yield write_scored_shard(task, list(grouped["scores"]), self.columns, self.min_scores, self.out_dir, self.fingerprint, self.read_rows)
        self.ROWS.inc(task.rows)


def write_scored_shard(task: ShardTask, scores: list, columns: list[str], min_scores: dict, out_dir: str, fingerprint: str, read_rows: int = 2048) -> dict:
    """Write ``docs/part-UUUUU.parquet`` = input shard + one float32 column per model, rows in input order."""
    import numpy as np

    values = {c: np.full(task.rows, np.nan, dtype=np.float32) for c in columns}
    for row, column, score in scores:
        values[column][row] = score
    for column, array in values.items():
        missing = int(np.isnan(array).sum())
        if missing:
            raise RuntimeError(f"{task.path}: {missing} of {task.rows} rows got no {column} score")
    selection = SelectionWriter(task, out_dir, fingerprint)
    start = 0
    with open_raw(task.path) as handle:
        parquet = pq.ParquetFile(handle)
        for batch in parquet.iter_batches(batch_size=read_rows):
            table = pa.Table.from_batches([batch])
            end = start + table.num_rows
            for column in columns:
                table = table.append_column(pa.field(column, pa.float32(), metadata={"doc": f"P(reference quality) from model {column}"}), pa.array(values[column][start:end]))
            reasons = [None] * table.num_rows
            for column, threshold in sorted(min_scores.items()):
                for i, v in enumerate(values[column][start:end]):
                    if reasons[i] is None and v < threshold:
                        reasons[i] = f"low_{column}"
            start = end
            selection.add(table, reasons)
    if start != task.rows:
        raise RuntimeError(f"{task.path}: read {start} rows, the manifest says {task.rows}")
    return selection.finish("classify")


class ScoreShards(beam.PTransform):
    """PCollection[ShardTask] -> PCollection[unit summary]: every model scores every row through RunInference."""

    def __init__(self, cfg: ScoreConfig, columns: list[str], out_dir: str, fingerprint: str):
        super().__init__()
        self.cfg, self.columns, self.out_dir, self.fingerprint = cfg, columns, out_dir, fingerprint

    def expand(self, tasks):
        from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

        from tailmine.classifiers.handler import QualityModelHandler

        spread = tasks | "Redistribute" >> beam.Reshuffle()
        texts = spread | "ReadTexts" >> beam.ParDo(ReadTextsFn(self.out_dir, self.fingerprint, self.cfg.read_rows))
        branches = []
        for model_dir, column in zip(self.cfg.models, self.columns):
            handler = KeyedModelHandler(QualityModelHandler(model_dir, self.cfg.device, self.cfg.batch_size))
            scored = (
                texts
                | f"Score_{column}" >> RunInference(handler)
                | f"Key_{column}" >> beam.Map(lambda kv, c=column: (kv[0][0], (kv[0][1], c, round(float(kv[1].inference), SCORE_DECIMALS))))
            )
            branches.append(scored)
        scores = branches | "AllScores" >> beam.Flatten()
        keyed_tasks = spread | "KeyTasks" >> beam.Map(lambda t: (t.unit, t))
        return (
            {"task": keyed_tasks, "scores": scores}
            | "GroupPerShard" >> beam.CoGroupByKey()
            | "WriteShards" >> beam.ParDo(WriteScoredFn(self.out_dir, self.fingerprint, self.columns, dict(self.cfg.min_scores), self.cfg.read_rows))
        )


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
    from tailmine.classifiers.card import verify_model_files
    from tailmine.pipelines.options import pipeline_options

    if not cfg.models:
        raise ConfigError("models: give at least one model directory (--model)")
    columns = model_columns(cfg.models)
    for column, _ in cfg.min_scores:
        if column not in columns:
            raise ConfigError(f"min_scores: {column!r} is not a model column; the models write {', '.join(columns)}")
    cards = {c: verify_model_files(m) for c, m in zip(columns, cfg.models)}  # fail here, naming the file
    _, shards = stage_shards(in_dir)
    prepare_output(out_dir, force, resume)
    tasks = [ShardTask(i, join(in_dir, s.path), s.rows, s.bytes) for i, s in enumerate(shards)]
    parameters = {
        "step": STAGE,
        "models": {c: {"dir": m, "files": cards[c]["files"]} for c, m in zip(columns, cfg.models)},
        "min_scores": dict(cfg.min_scores),
    }
    run_fingerprint = fingerprint(parameters)
    inputs = [{"path": t.path, "bytes": t.bytes, "rows": t.rows} for t in tasks]
    extra = {"columns": columns, "model_metrics": {c: cards[c]["metrics"] for c in columns}}
    pipeline = beam.Pipeline(options=pipeline_options(beam_args))
    (
        pipeline
        | "ListShards" >> beam.Create(tasks)
        | "ScoreShards" >> ScoreShards(cfg, columns, out_dir, run_fingerprint)
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


def stage_model(cfg: ClassifyStageConfig, source_dir: str, out_dir: str, beam_args: Optional[list[str]], force: bool, resume: bool) -> str:
    """The model directory the stage scores with: ``cfg.model``, or one trained into ``OUT/model``."""
    from tailmine.classifiers.card import CARD_NAME
    from tailmine.classifiers.train import train_from_documents, train_model
    from tailmine.fileio import exists

    if cfg.model:
        return cfg.model
    model_dir = join(out_dir, MODEL_SUBDIR)
    if resume and not force and exists(join(model_dir, CARD_NAME)):
        return model_dir  # training is deterministic: the interrupted run's model is the one we would train
    if cfg.positive:
        train_model(list(cfg.positive), list(cfg.negative), model_dir, cfg.train_config(), force=True, beam_args=None)
        return model_dir
    from tailmine.schemas.document import read_documents

    _, shards = stage_shards(source_dir)
    rows = read_documents([join(source_dir, s.path) for s in shards], columns=["id", "source", "url", "title", "text", "source_file"]).to_pylist()
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


def run_stage(cfg: ClassifyStageConfig, source_dir: str, out_dir: str, beam_args: Optional[list[str]], force: bool, resume: bool) -> Manifest:
    """The runner's classify stage: get the model (see :class:`ClassifyStageConfig`), then score ``source_dir``."""
    if isinstance(source_dir, (list, tuple)):
        raise ConfigError("classify: cannot be the first stage; it scores the documents of the stage before it")
    model_dir = stage_model(cfg, source_dir, out_dir, beam_args, force, resume)
    from tailmine.classifiers.card import read_card

    column = read_card(model_dir)["name"]
    score = ScoreConfig(
        models=(model_dir,), device=cfg.device, batch_size=cfg.batch_size,
        min_scores=((column, cfg.min_score),) if cfg.min_score > 0 else (),
    )
    return run(source_dir, out_dir, score, beam_args, force=force, resume=resume)


# --- command line: `tailmine classify train|score` ----------------------------------------------

HELP = "train quality classifiers (fastText, torch) and add their scores as columns"
DESCRIPTION = (
    "train: DCLM-style quality model from reference-quality files (--positive: books, encyclopedic or\n"
    "  documentation pages) and crawl files (--negative), read in any format `ingest` reads. Writes\n"
    "  MODEL_DIR with the weights and card.json (data, sizes, hyper-parameters, seed, sha256 of the\n"
    "  weights, held-out ROC AUC and precision at k, the features the model learnt).\n"
    "score: adds one float32 column per --model (named by the model, e.g. quality_fasttext_v1) to every\n"
    "  document shard of a finished stage, through Beam RunInference; torch models use the GPU when\n"
    "  there is one. Nothing is removed unless --min-score COLUMN=VALUE is given."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="classify_command", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train a quality model and write MODEL_DIR with card.json")
    train.add_argument("--positive", nargs="+", required=True, metavar="FILE", help="reference-quality inputs (files, globs, directories)")
    train.add_argument("--negative", nargs="+", required=True, metavar="FILE", help="crawl inputs (files, globs, directories)")
    train.add_argument("--kind", choices=("fasttext", "torch"), default="fasttext", help="model kind (default: fasttext)")
    train.add_argument("--out", required=True, metavar="MODEL_DIR", help="model directory to write")
    train.add_argument("--seed", type=int, default=0, help="seed of split, order and initialisation (default: 0)")
    train.add_argument("--version", type=int, default=1, help="model version; the column is quality_<kind>_v<version> (default: 1)")
    train.add_argument("--heldout-fraction", type=float, default=0.2, help="share of groups held out for metrics (default: 0.2)")
    train.add_argument("--max-chunks-per-group", type=int, default=20, help="chunks kept per book / site / article (default: 20)")
    train.add_argument("--force", action="store_true", help="replace an existing model in MODEL_DIR")
    score = sub.add_parser("score", help="add one score column per model to every document shard")
    score.add_argument("--in", dest="in_dir", required=True, metavar="DIR", help="output folder of a finished stage")
    score.add_argument("--model", nargs="+", required=True, metavar="MODEL_DIR", help="model directories written by `classify train`")
    score.add_argument("--out", required=True, metavar="DIR", help="output directory")
    score.add_argument("--device", default="auto", help="torch models: auto, cpu or cuda[:N] (default: auto)")
    score.add_argument("--batch-size", type=int, default=512, help="texts per model call (default: 512)")
    score.add_argument("--min-score", action="append", default=[], metavar="COLUMN=VALUE", help="remove rows scoring below VALUE (repeatable)")
    score.add_argument("--force", action="store_true", help="replace existing output in DIR")
    score.add_argument("--resume", action="store_true", help="finish an interrupted run in DIR")
    score.add_argument("--no-progress", dest="progress", action="store_false", help="do not print progress lines")


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
    if args.classify_command == "train":
        from tailmine.classifiers.data import DataConfig
        from tailmine.classifiers.train import TrainConfig, train_model

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

    cfg = ScoreConfig(models=tuple(args.model), device=args.device, batch_size=args.batch_size, min_scores=_parse_min_scores(args.min_score))
    manifest = run(args.in_dir, args.out, cfg, beam_args, force=args.force, resume=args.resume, progress=args.progress)
    print(summarize(manifest, args.out))
    print(f"  columns: {', '.join(manifest.extra.get('columns', []))}")
    return 0
