"""The concepts stage: concept document frequencies, a power-law fit, and per-document rarity signals.

Run it::

    tailmine concepts --in out/ingest --out out/concepts
    tailmine concepts --in gs://b/ingest --out gs://b/concepts --mode sketch -- --runner=DataflowRunner ...

Shape: (1) every input shard is read on a worker and reduced to partial counts (exact df dict, or
fixed-size sketches); ``CombineGlobally`` merges them. (2) One worker writes ``concepts.parquet``
(concept, df, rank) and ``fit.json`` (power-law fit, Good-Turing missing mass, sketch error bounds).
(3) Every shard is read again and annotated with rarity columns (the merged counts are a side input),
through the shared :func:`~tailmine.pipelines.stage.map_shard`, then the manifest is written.
Concepts are re-extracted in pass 3 rather than stored, which keeps memory flat.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import fields
from typing import Optional

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics

from tailmine.concepts.config import ConceptConfig
from tailmine.concepts.extract import build_extractors
from tailmine.concepts.rarity import ConceptRarityStep
from tailmine.concepts.sketches import SketchConfig, new_counts
from tailmine.concepts.tables import CONCEPTS_FILE, FIT_FILE, concept_table, fit_json, fit_summary, table_bytes
from tailmine.fileio import delete_tree, join, open_raw, write_bytes_atomic
from tailmine.pipelines.options import pipeline_options
from tailmine.pipelines.stage import ShardTask, fingerprint, finish, fold_summaries, map_shard, prepare_output, stage_shards
from tailmine.schemas.document import DOCUMENT_SCHEMA, check_schema
from tailmine.schemas.manifest import Manifest

STAGE = "concepts"
log = logging.getLogger("tailmine.concepts")


def sketch_config(cfg: ConceptConfig) -> SketchConfig:
    return SketchConfig(cfg.epsilon, cfg.delta, cfg.heavy_hitters, cfg.hll_precision, cfg.sample_size, cfg.seed)


def count_shard(path: str, cfg: ConceptConfig, extractor=None, batch_rows: int = 1024):
    """Partial counts of one document shard (plain function: testable without Beam)."""
    extractor = extractor or build_extractors(cfg.extractors, cfg.max_n)
    counts = new_counts(cfg.mode, sketch_config(cfg))
    with open_raw(path) as handle:
        parquet = pq.ParquetFile(handle)
        check_schema(parquet.schema_arrow, path, DOCUMENT_SCHEMA)
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=["text"]):
            counts.add_batch([extractor.extract(t or "") for t in batch.column(0).to_pylist()])
    return counts


class CountShardFn(beam.DoFn):
    DOCUMENTS = Metrics.counter(STAGE, "documents_counted")

    def __init__(self, cfg: ConceptConfig):
        self.cfg = cfg
        self._extractor = None

    def setup(self):
        self._extractor = build_extractors(self.cfg.extractors, self.cfg.max_n)
        self._extractor.setup()

    def process(self, task: ShardTask):
        counts = count_shard(task.path, self.cfg, self._extractor)
        self.DOCUMENTS.inc(counts.documents)
        yield counts


class MergeCountsFn(beam.CombineFn):
    """Sums exact df dicts, or merges sketches: associative and commutative, so Beam may combine
    partial results in any order and the result is the same."""

    def __init__(self, cfg: ConceptConfig):
        self.cfg = cfg

    def create_accumulator(self):
        return new_counts(self.cfg.mode, sketch_config(self.cfg))

    def add_input(self, accumulator, counts):
        return accumulator.merge(counts)

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        first = next(accumulators)
        for other in accumulators:
            first.merge(other)
        return first

    def extract_output(self, accumulator):
        return accumulator


class CountConcepts(beam.PTransform):
    """PCollection[ShardTask] -> singleton PCollection of merged counts."""

    def __init__(self, cfg: ConceptConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, tasks):
        return (
            tasks
            | "Redistribute" >> beam.Reshuffle()
            | "CountShard" >> beam.ParDo(CountShardFn(self.cfg))
            | "MergeCounts" >> beam.CombineGlobally(MergeCountsFn(self.cfg))
        )


class WriteConceptTables(beam.DoFn):
    """Writes concepts.parquet and fit.json; emits the fit summary (for the manifest)."""

    def __init__(self, cfg: ConceptConfig, out_dir: str):
        self.cfg, self.out_dir = cfg, out_dir

    def process(self, counts):
        write_bytes_atomic(join(self.out_dir, CONCEPTS_FILE), table_bytes(concept_table(counts)))
        summary = fit_summary(counts, self.cfg)
        write_bytes_atomic(join(self.out_dir, FIT_FILE), fit_json(summary))
        yield summary


class AnnotateShardFn(beam.DoFn):
    def __init__(self, cfg: ConceptConfig, out_dir: str, fingerprint: str):
        self.cfg, self.out_dir, self.fingerprint = cfg, out_dir, fingerprint
        self._step = None

    def process(self, task: ShardTask, counts):
        if self._step is None or self._step.counts is not counts:
            self._step = ConceptRarityStep(self.cfg, counts, self.cfg.tail_df_range(counts.documents))
            self._step.setup()
        yield map_shard(task, self._step, self.out_dir, self.fingerprint)


class WriteConceptManifest(beam.DoFn):
    def __init__(self, out_dir: str, parameters: dict, inputs: list[dict]):
        self.out_dir, self.parameters, self.inputs = out_dir, parameters, inputs

    def process(self, summaries, fit):
        law = fit.get("power_law") or {}
        extra = {
            "documents_counted": fit["documents"],
            "good_turing_missing_mass": fit["good_turing_missing_mass"],
            "alpha": law.get("alpha"),
            "xmin": law.get("xmin"),
            "p_value": law.get("p_value"),
            "files": [CONCEPTS_FILE, FIT_FILE],
        }
        yield fold_summaries(STAGE, summaries, self.parameters, self.inputs, extra).write(self.out_dir)


def run(
    in_dir: str,
    out_dir: str,
    cfg: Optional[ConceptConfig] = None,
    beam_args: Optional[list[str]] = None,
    force: bool = False,
    resume: bool = False,
    progress: bool = True,
) -> Manifest:
    """Run the concepts stage on the finished stage in ``in_dir``; return the manifest."""
    cfg = cfg or ConceptConfig()
    _, shards = stage_shards(in_dir)
    prepare_output(out_dir, force, resume)
    if force and not resume:
        for name in (CONCEPTS_FILE, FIT_FILE):
            delete_tree(join(out_dir, name))
    tasks = [ShardTask(i, join(in_dir, s.path), s.rows, s.bytes) for i, s in enumerate(shards)]
    parameters = {"step": STAGE, **cfg.to_dict()}
    run_fingerprint = fingerprint(parameters)
    inputs = [{"path": t.path, "bytes": t.bytes, "rows": t.rows} for t in tasks]
    log.info("concepts: %d shards, mode %s", len(tasks), cfg.mode)
    pipeline = beam.Pipeline(options=pipeline_options(beam_args))
    listed = pipeline | "ListShards" >> beam.Create(tasks)
    counts = listed | "CountConcepts" >> CountConcepts(cfg)
    fit = counts | "WriteConceptTables" >> beam.ParDo(WriteConceptTables(cfg, out_dir))
    (
        listed
        | "RedistributeForAnnotation" >> beam.Reshuffle()
        | "Annotate" >> beam.ParDo(AnnotateShardFn(cfg, out_dir, run_fingerprint), counts=beam.pvalue.AsSingleton(counts))
        | "CollectSummaries" >> beam.combiners.ToList()
        | "WriteManifest" >> beam.ParDo(WriteConceptManifest(out_dir, parameters, inputs), fit=beam.pvalue.AsSingleton(fit))
    )
    return finish(pipeline, out_dir, STAGE, len(tasks), sum(t.bytes for t in tasks), progress)


# --- command line: `tailmine concepts` -----------------------------------------------------------

HELP = "concept document frequencies, power-law fit, per-document rarity columns"
DESCRIPTION = (
    "Extract the set of concepts of every document (word 1-3-grams without stop words, capitalised\n"
    "entity-like spans), count document frequencies (exactly, or with Count-Min/HyperLogLog sketches\n"
    "in --mode sketch), fit a discrete power law to them (Clauset et al. 2009: alpha, xmin, KS,\n"
    "bootstrap p-value, LR tests vs lognormal/exponential, Zipf s) and annotate each document with\n"
    "concept_count_v1, concept_min_df_v1, concept_mean_log_df_v1, concept_tail_count_v1.\n"
    "Writes DIR/docs/*.parquet, DIR/concepts.parquet (concept, df, rank), DIR/fit.json, manifest.json."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--in", dest="in_dir", required=True, metavar="DIR", help="output folder of a finished stage (e.g. ingest)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--force", action="store_true", help="replace existing output in DIR")
    parser.add_argument("--resume", action="store_true", help="finish an interrupted run in DIR, keeping annotated shards")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="do not print progress lines")
    helps = ConceptConfig.field_help()
    for f in fields(ConceptConfig):
        default = ",".join(f.default) if f.name == "extractors" else f.default
        kwargs = {"dest": f.name, "default": default, "help": f"{helps[f.name]} (default: {default})"}
        if f.name == "mode":
            kwargs["choices"] = ("exact", "sketch")
        elif isinstance(f.default, (int, float)):
            kwargs["type"] = type(f.default)
        parser.add_argument("--" + f.name.replace("_", "-"), **kwargs)


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    import json

    from tailmine.cli import summarize
    from tailmine.fileio import read_bytes

    cfg = ConceptConfig(**{f.name: getattr(args, f.name) for f in fields(ConceptConfig)})
    manifest = run(args.in_dir, args.out, cfg, beam_args, force=args.force, resume=args.resume, progress=args.progress)
    print(summarize(manifest, args.out))
    fit = json.loads(read_bytes(join(args.out, FIT_FILE)))
    law = fit.get("power_law")
    if law:
        print(
            f"  power law: alpha {law['alpha']:.3f} [{law['alpha_ci'][0]:.3f}, {law['alpha_ci'][1]:.3f}]  xmin {law['xmin']}  "
            f"p {law['p_value']}  zipf s {law['zipf_s']:.3f}  missing mass {fit['good_turing_missing_mass']:.3f}"
        )
    else:
        print(f"  power law: not fitted ({fit.get('power_law_error')})")
    return 0
