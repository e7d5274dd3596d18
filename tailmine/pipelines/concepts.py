"""The concepts stage: concept document frequencies, a power-law fit, and per-document rarity signals.

Run it::

    tailmine concepts --in out/ingest --out out/concepts
    tailmine concepts --in gs://b/ingest --out gs://b/concepts --mode sketch -- --runner=DataflowRunner ...

Shape, exact mode (no process holds every concept; :mod:`tailmine.concepts.partitioned`):
(1) ``Count``: every input shard is read on a worker, its concepts counted and written split into
buckets of concept ids (a shuffle through files). (2) ``MergeBuckets``: each bucket is summed on a
worker, which writes every shard's slice of global dfs and returns the bucket's frequency spectrum.
(3) ``RankBuckets``: each bucket's worker writes ``concepts-NNNNN.parquet`` (concept, df, rank) with
global ranks computed from the spectra; one worker fits the power law to the summed spectrum and
writes ``fit.json``. (4) ``Annotate``: every shard reads back its own slice of dfs and gets its
rarity columns, through the shared :func:`~tailmine.runtime.map_shard`; then the manifest.

Sketch mode keeps fixed-size sketches: ``CombineGlobally`` merges them (~800 MB whatever the
corpus), one worker writes ``concepts-00000.parquet`` (the heavy hitters) and ``fit.json``, and the
merged sketch is the annotation's side input.

Extraction runs once: pass 1 extracts every document's concept ids (the compiled kernels of
:mod:`tailmine.concepts.fast`) and, besides counting them, writes them to
``OUT/_work/concepts/ids-UUUUU.npz`` (uint64 ids + concepts per row, ~8 bytes per incidence); the
annotation pass reads them back (and re-extracts only when that file is missing).
Counting is on integer ids: one ``np.unique`` per batch, the string of a concept built once per batch
where the counts keep it (every concept in exact mode, sketch survivors in sketch mode).
"""
from __future__ import annotations

import argparse
import logging
from typing import Optional

import io

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics

from tailmine.concepts.config import ConceptConfig
from tailmine.concepts.extract import build_extractors
from tailmine.concepts.rarity import ConceptRarityStep
from tailmine.concepts.sketches import SketchConfig, new_counts
from tailmine.concepts.partitioned import ConceptShuffle, merge_bucket, merge_spectra, partition_bits, rank_bucket, spectrum_of, unit_lookup, write_unit_parts
from tailmine.concepts.tables import (
    CONCEPT_SHARD_PATTERN, CONCEPTS_FILE, FIT_FILE, concept_shard_name, concept_table, exact_counting, fit_json, fit_summary, sketch_counting, table_bytes,
)
from tailmine.fileio import delete_tree, exists, join, list_files, open_raw, read_bytes, write_bytes_atomic
from tailmine.pipelines.options import pipeline_options
from tailmine.pipelines.stage import Spread, finish
from tailmine.runtime import WORK_DIR, ShardTask, fingerprint, fold_summaries, map_shard, prepare_output, shard_tasks, stage_shards
from tailmine.schemas.document import DOCUMENT_SCHEMA, check_schema
from tailmine.schemas.manifest import Manifest

STAGE = "concepts"
log = logging.getLogger("tailmine.concepts")


def sketch_config(cfg: ConceptConfig) -> SketchConfig:
    return SketchConfig(cfg.epsilon, cfg.delta, cfg.heavy_hitters, cfg.hll_precision, cfg.sample_size, cfg.seed)


def ids_path(out_dir: str, unit: int) -> str:
    """Where pass 1 leaves the concept ids of shard ``unit`` for the annotation pass."""
    return join(out_dir, WORK_DIR, "concepts", f"ids-{unit:05d}.npz")


def save_ids(path: str, hashes: np.ndarray, sizes: np.ndarray) -> None:
    sink = io.BytesIO()
    np.savez(sink, hashes=hashes.astype(np.uint64), sizes=sizes.astype(np.int32))
    write_bytes_atomic(path, sink.getvalue())


def load_ids(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(concept ids, int64 offsets per row) saved by :func:`save_ids`."""
    with np.load(io.BytesIO(read_bytes(path))) as data:
        hashes, sizes = data["hashes"], data["sizes"]
    offsets = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return hashes, offsets


def add_to_counts(counts, batch) -> None:
    """Counts += one extracted batch (a :class:`~tailmine.concepts.extract.HashedBatch`): each
    document counts each of its concepts once."""
    keys, first, df = np.unique(batch.hashes, return_index=True, return_counts=True)
    df = df.astype(np.int64)
    if counts.mode == "exact":
        counts.add_hashed(keys, df, batch.strings(first), len(batch))
    else:
        counts.add_hashed(keys, df, lambda idx: batch.strings(first[np.asarray(idx, np.int64)]), len(batch))


def count_shard(path: str, cfg: ConceptConfig, extractor=None, batch_rows: int = 1024, ids_out: Optional[str] = None):
    """Partial counts of one document shard (plain function: testable without Beam); with ``ids_out``
    the concept ids of every row are saved there for the annotation pass."""
    extractor = extractor or build_extractors(cfg.extractors, cfg.max_n)
    counts = new_counts(cfg.mode, sketch_config(cfg))
    ids, sizes = [], []
    with open_raw(path) as handle:
        parquet = pq.ParquetFile(handle)
        check_schema(parquet.schema_arrow, path, DOCUMENT_SCHEMA)
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=["text"]):
            extracted = extractor.extract_hashed(batch.column(0).to_pylist(), cfg.seed)
            add_to_counts(counts, extracted)
            if ids_out is not None:
                ids.append(extracted.hashes)
                sizes.append(np.diff(extracted.offsets))
    if ids_out is not None:
        save_ids(ids_out, np.concatenate(ids) if ids else np.zeros(0, np.uint64), np.concatenate(sizes) if sizes else np.zeros(0, np.int64))
    return counts


def concept_shuffle(out_dir: str, units: int) -> ConceptShuffle:
    """Exact mode's shuffle for ``units`` input shards: files under ``OUT/_work/concepts``."""
    return ConceptShuffle(join(out_dir, WORK_DIR, "concepts"), out_dir, units, partition_bits(units))


class CountShardFn(beam.DoFn):
    """Counts one shard. Sketch mode yields its sketches (fixed size, merged by ``CombineGlobally``);
    exact mode writes its counts into the shuffle and yields only ``{"unit", "documents"}``."""

    DOCUMENTS = Metrics.counter(STAGE, "documents_counted")

    def __init__(self, cfg: ConceptConfig, out_dir: Optional[str] = None, shuffle: Optional[ConceptShuffle] = None):
        self.cfg, self.out_dir, self.shuffle = cfg, out_dir, shuffle
        self._extractor = None

    def setup(self):
        self._extractor = build_extractors(self.cfg.extractors, self.cfg.max_n)
        self._extractor.setup()

    def process(self, task: ShardTask):
        ids_out = ids_path(self.out_dir, task.unit) if self.out_dir else None
        counts = count_shard(task.path, self.cfg, self._extractor, ids_out=ids_out)
        self.DOCUMENTS.inc(counts.documents)
        if self.shuffle is None:
            yield counts
            return
        distinct = write_unit_parts(self.shuffle, task.unit, counts)
        yield {"unit": task.unit, "documents": counts.documents, "distinct": distinct}


class MergeCountsFn(beam.CombineFn):
    """Merges sketches (or exact counts, for small callers): associative and commutative, so Beam may
    combine partial results in any order and the result is the same."""

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
        if accumulator.mode == "exact":
            accumulator.arrays()  # settle the merged arrays now: annotation threads then only read them
        return accumulator


class CountConcepts(beam.PTransform):
    """Sketch mode: PCollection[ShardTask] -> singleton PCollection of merged sketches."""

    def __init__(self, cfg: ConceptConfig, out_dir: Optional[str] = None):
        super().__init__()
        self.cfg, self.out_dir = cfg, out_dir

    def expand(self, tasks):
        return (
            tasks
            | "Redistribute" >> Spread()
            | "CountShard" >> beam.ParDo(CountShardFn(self.cfg, self.out_dir))
            | "MergeCounts" >> beam.CombineGlobally(MergeCountsFn(self.cfg))
        )


class WriteConceptTables(beam.DoFn):
    """Sketch mode: writes concepts-00000.parquet (the heavy hitters) and fit.json; emits the fit summary."""

    def __init__(self, cfg: ConceptConfig, out_dir: str):
        self.cfg, self.out_dir = cfg, out_dir

    def process(self, counts):
        write_bytes_atomic(join(self.out_dir, concept_shard_name(0)), table_bytes(concept_table(counts)))
        counting, dfs = sketch_counting(counts)
        values, multiplicities = spectrum_of(dfs)
        summary = fit_summary(counts.documents, counting, values, multiplicities, self.cfg)
        write_bytes_atomic(join(self.out_dir, FIT_FILE), fit_json(summary))
        yield summary


class MergeBucketFn(beam.DoFn):
    """Exact mode, step 2: sums one bucket over every shard (side input ``counted``: the barrier)."""

    def __init__(self, shuffle: ConceptShuffle):
        self.shuffle = shuffle

    def process(self, bucket: int, counted):
        yield merge_bucket(self.shuffle, bucket)


class RankBucketFn(beam.DoFn):
    """Exact mode, step 3: writes one bucket's ``concepts-NNNNN.parquet`` with global ranks."""

    def __init__(self, shuffle: ConceptShuffle):
        self.shuffle = shuffle

    def process(self, bucket: int, spectra):
        yield rank_bucket(self.shuffle, bucket, list(spectra))


class WriteExactFit(beam.DoFn):
    """Exact mode: fit.json from the buckets' summed spectrum; emits the fit summary."""

    def __init__(self, cfg: ConceptConfig, out_dir: str):
        self.cfg, self.out_dir = cfg, out_dir

    def process(self, spectra, counted):
        values, counts = merge_spectra([(s["values"], s["counts"]) for s in spectra])
        documents = sum(c["documents"] for c in counted)
        summary = fit_summary(documents, exact_counting(values, counts), values, counts, self.cfg)
        write_bytes_atomic(join(self.out_dir, FIT_FILE), fit_json(summary))
        yield summary


class AnnotateShardFn(beam.DoFn):
    """Annotates one shard. Exact mode (``shuffle`` given): the side input is the fit summary and the
    dfs come from the shard's own slice of the shuffle; sketch mode: the side input is the merged
    sketch, looked up directly."""

    def __init__(self, cfg: ConceptConfig, out_dir: str, fingerprint: str, shuffle: Optional[ConceptShuffle] = None):
        self.cfg, self.out_dir, self.fingerprint, self.shuffle = cfg, out_dir, fingerprint, shuffle
        self._step = None

    def process(self, task: ShardTask, side):
        if self.shuffle is not None:
            documents, lookup = side["documents"], unit_lookup(self.shuffle, task.unit)
        else:
            documents, lookup = side.documents, side
        if self._step is None:
            self._step = ConceptRarityStep(self.cfg, lookup, self.cfg.tail_df_range(documents))
            self._step.setup()
        self._step.counts, self._step.tail_range = lookup, self.cfg.tail_df_range(documents)
        path = ids_path(self.out_dir, task.unit)
        self._step.begin_shard(load_ids(path) if exists(path) else None, task.rows)
        try:
            yield map_shard(task, self._step, self.out_dir, self.fingerprint)
        finally:
            self._step.end_shard()
            self._step.counts = None  # one shard's lookup: do not keep it past the shard


class WriteConceptManifest(beam.DoFn):
    def __init__(self, out_dir: str, parameters: dict, inputs: list[dict], table_files: list[str]):
        self.out_dir, self.parameters, self.inputs, self.table_files = out_dir, parameters, inputs, table_files

    def process(self, summaries, fit, *barriers):
        law = fit.get("power_law") or {}
        extra = {
            "documents_counted": fit["documents"],
            "good_turing_missing_mass": fit["good_turing_missing_mass"],
            "alpha": law.get("alpha"),
            "xmin": law.get("xmin"),
            "p_value": law.get("p_value"),
            "files": self.table_files + [FIT_FILE],
        }
        yield fold_summaries(STAGE, summaries, self.parameters, self.inputs, extra).write(self.out_dir)


def _buckets(pipeline, label: str, shuffle: ConceptShuffle, fn: beam.DoFn, side):
    """One task per bucket, spread over the workers, started once ``side`` (a PCollection) is complete."""
    return (
        pipeline
        | f"List{label}" >> beam.Create(list(range(shuffle.buckets)), reshuffle=False)
        | f"Spread{label}" >> Spread()
        | label >> beam.ParDo(fn, beam.pvalue.AsList(side))
    )


def remove_tables(out_dir: str) -> None:
    """Delete the concept table (shards, or the single file of earlier versions) and fit.json: every
    run writes them afresh, and a shard left by a run with more buckets must not be read."""
    for f in list_files(out_dir, CONCEPT_SHARD_PATTERN):
        delete_tree(f.path)
    for name in (CONCEPTS_FILE, FIT_FILE):
        delete_tree(join(out_dir, name))


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
    remove_tables(out_dir)
    tasks = shard_tasks(in_dir, shards)
    parameters = {"step": STAGE, **cfg.to_dict()}
    run_fingerprint = fingerprint(parameters)
    inputs = [{"path": t.path, "bytes": t.bytes, "rows": t.rows} for t in tasks]
    log.info("concepts: %d shards, mode %s", len(tasks), cfg.mode)
    pipeline = beam.Pipeline(options=pipeline_options(beam_args))
    listed = pipeline | "ListShards" >> beam.Create(tasks, reshuffle=False)
    if cfg.mode == "exact":
        shuffle = concept_shuffle(out_dir, len(tasks))
        counted = listed | "Redistribute" >> Spread() | "CountShard" >> beam.ParDo(CountShardFn(cfg, out_dir, shuffle))
        spectra = _buckets(pipeline, "MergeBuckets", shuffle, MergeBucketFn(shuffle), counted)
        ranked = _buckets(pipeline, "RankBuckets", shuffle, RankBucketFn(shuffle), spectra)
        fit = spectra | "CollectSpectra" >> beam.combiners.ToList() | "WriteFit" >> beam.ParDo(WriteExactFit(cfg, out_dir), beam.pvalue.AsList(counted))
        side, barriers = fit, [beam.pvalue.AsList(ranked)]
        table_files = [concept_shard_name(b) for b in range(shuffle.buckets)]
    else:
        shuffle = None
        side = listed | "CountConcepts" >> CountConcepts(cfg, out_dir)
        fit = side | "WriteConceptTables" >> beam.ParDo(WriteConceptTables(cfg, out_dir))
        barriers, table_files = [], [concept_shard_name(0)]
    (
        listed
        | "RedistributeForAnnotation" >> Spread()
        | "Annotate" >> beam.ParDo(AnnotateShardFn(cfg, out_dir, run_fingerprint, shuffle), beam.pvalue.AsSingleton(side))
        | "CollectSummaries" >> beam.combiners.ToList()
        | "WriteManifest" >> beam.ParDo(WriteConceptManifest(out_dir, parameters, inputs, table_files), beam.pvalue.AsSingleton(fit), *barriers)
    )
    return finish(pipeline, out_dir, STAGE, len(tasks), sum(t.bytes for t in tasks), progress)


# --- command line: `tailmine concepts` -----------------------------------------------------------


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    import json

    from tailmine.fileio import read_bytes
    from tailmine.stages import STAGES, run_stage_command

    run_stage_command(STAGES[STAGE], args, beam_args)
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
