"""What every stage shares: output preparation, resumable units of work, progress, the manifest,
and :class:`MapShards`, the composite for stages that annotate and select shard by shard.

A unit of work writes its outputs itself (atomically) and leaves a small JSON summary in
``OUT/_work/``; only summaries travel through Beam. A rerun with ``--resume`` reuses every summary
whose fingerprint (config + unit) matches, so an interrupted stage finishes without redoing work.
``WriteManifest`` folds the summaries, in unit order, into ``manifest.json``.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Optional

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import tailmine
from tailmine.errors import ManifestError, OutputExistsError
from tailmine.fileio import delete_tree, exists, join, list_files, open_raw, read_bytes, write_bytes_atomic
from tailmine.schemas.document import DOCUMENT_SCHEMA, DOCUMENT_SCHEMA_VERSION, check_schema
from tailmine.schemas.manifest import MANIFEST_NAME, Counts, Manifest, ShardInfo, read_manifest
from tailmine.schemas.shards import ShardWriter

DOCS_DIR = "docs"
QUARANTINE_DIR = "quarantine"
REMOVED_DIR = "removed"
WORK_DIR = "_work"
DROP_SAMPLES_DIR = "drop-samples"
STAGE_SUBDIRS = (DOCS_DIR, QUARANTINE_DIR, REMOVED_DIR, DROP_SAMPLES_DIR, WORK_DIR)


def prepare_output(out_dir: str, force: bool, resume: bool, subdirs: Iterable[str] = STAGE_SUBDIRS) -> None:
    """Refuse to overwrite earlier output unless ``force``; ``resume`` keeps finished units."""
    if resume:
        return
    subdirs = tuple(subdirs)
    occupied = exists(join(out_dir, MANIFEST_NAME)) or any(exists(join(out_dir, d)) for d in subdirs)
    if occupied and not force:
        raise OutputExistsError(
            f"{out_dir} already holds tailmine output; pass --force to replace it or --resume to finish an interrupted run"
        )
    if occupied:
        for sub in subdirs:
            delete_tree(join(out_dir, sub))
        delete_tree(join(out_dir, MANIFEST_NAME))


def unit_summary_path(out_dir: str, unit: int) -> str:
    return join(out_dir, WORK_DIR, f"unit-{unit:05d}.json")


def finished_summary(out_dir: str, unit: int, fingerprint: str) -> Optional[dict]:
    """The summary a previous run left for this unit, if it was made with the same fingerprint."""
    path = unit_summary_path(out_dir, unit)
    if not exists(path):
        return None
    previous = json.loads(read_bytes(path))
    return previous if previous.get("fingerprint") == fingerprint else None


def save_summary(out_dir: str, summary: dict) -> None:
    write_bytes_atomic(unit_summary_path(out_dir, summary["unit"]), json.dumps(summary, sort_keys=True).encode())


def fold_summaries(
    stage: str, summaries: Iterable[dict], parameters: dict, inputs: list[dict], extra: Optional[dict] = None
) -> Manifest:
    """The stage manifest from unit summaries (each with counts, outputs and optional quarantine/removed)."""
    summaries = sorted(summaries, key=lambda s: s["unit"])
    counts = Counts()
    for s in summaries:
        counts = counts.merge(Counts.from_dict(s["counts"]))
    return Manifest(
        stage=stage,
        tailmine_version=tailmine.__version__,
        schema_version=DOCUMENT_SCHEMA_VERSION,
        parameters=parameters,
        inputs=inputs,
        outputs=[ShardInfo(**o) for s in summaries for o in s["outputs"]],
        quarantine=[ShardInfo(**q) for s in summaries for q in s.get("quarantine", [])],
        removed=[ShardInfo(**q) for s in summaries for q in s.get("removed", [])],
        counts=counts,
        extra={"units": len(summaries), **_output_chars(summaries), **_drop_samples(summaries), **(extra or {})},
    )


def _output_chars(summaries: list[dict]) -> dict:
    """Characters of text written, when every unit reported them (for token estimates before `mix`)."""
    if summaries and all("output_chars" in s for s in summaries):
        return {"output_chars": sum(s["output_chars"] for s in summaries)}
    return {}


def _drop_samples(summaries: list[dict]) -> dict:
    """Shards of example records for reasons whose records are not kept (a few per reason per unit)."""
    shards = [s for summary in summaries for s in summary.get("drop_samples", [])]
    return {"drop_samples": shards} if shards else {}


class WriteManifest(beam.DoFn):
    """Folds the list of all unit summaries into ``manifest.json`` (runs once, on one worker)."""

    def __init__(self, stage: str, out_dir: str, parameters: dict, inputs: list[dict], extra: Optional[dict] = None):
        self.stage, self.out_dir, self.parameters, self.inputs, self.extra = stage, out_dir, parameters, inputs, extra

    def process(self, summaries: list[dict]):
        manifest = fold_summaries(self.stage, summaries, self.parameters, self.inputs, self.extra)
        check_shards_exist(self.out_dir, manifest)
        yield manifest.write(self.out_dir)


def check_shards_exist(out_dir: str, manifest: Manifest) -> None:
    """Raise :class:`ManifestError` instead of writing a manifest that lists a shard which is not there.

    The folder lock (:mod:`tailmine.lock`) keeps a second run from deleting shards under a running one;
    this is the last guard (a folder edited by hand, a lock deleted by hand). One listing per shard
    folder, not one request per shard, so it stays cheap on object stores.
    """
    import posixpath

    listed = [s.path for s in (*manifest.outputs, *manifest.quarantine, *manifest.removed)]
    present: set[str] = set()
    for folder in sorted({posixpath.dirname(p) for p in listed}):
        present.update(f.path for f in list_files(join(out_dir, folder) if folder else out_dir))
    missing = [p for p in listed if join(out_dir, p) not in present]
    if missing:
        raise ManifestError(
            f"{join(out_dir, MANIFEST_NAME)}: not written: {len(missing)} shard(s) it would list are missing "
            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); did another run write into {out_dir}?"
        )


def finish(pipeline: beam.Pipeline, out_dir: str, label: str, total_units: int, total_bytes: int, progress: bool) -> Manifest:
    """Run ``pipeline``, printing progress for local runs; return the manifest and drop the work folder."""
    from tailmine.pipelines.options import is_local_runner

    if progress and is_local_runner(pipeline.options):
        with Progress(out_dir, label, total_units, total_bytes):
            pipeline.run().wait_until_finish()
    else:
        pipeline.run().wait_until_finish()
    manifest = read_manifest(out_dir)
    delete_tree(join(out_dir, WORK_DIR))  # unit summaries were only needed to resume and to report progress
    return manifest


class ProgressLoop:
    """Calls ``report()`` every ``interval`` seconds on a background thread while the ``with`` block
    runs, and ``report(final=True)`` once at its end. Subclasses say what a line shows."""

    def __init__(self, stream=None, interval: float = 2.0):
        self.stream, self.interval = stream or sys.stderr, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = time.time()

    def report(self, final: bool = False) -> None:
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.report(final=True)

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.report()


class Progress(ProgressLoop):
    """Prints units done, documents, MB/s and ETA while a local run goes, from the unit summaries on disk."""

    def __init__(self, out_dir: str, label: str, total_units: int, total_bytes: int, stream=None, interval: float = 2.0):
        super().__init__(stream, interval)
        self.out_dir, self.label, self.total_units = out_dir, label, total_units
        self.total_bytes = max(1, total_bytes)
        self._seen: dict[str, dict] = {}

    def report(self, final: bool = False) -> None:
        try:
            for f in list_files(join(self.out_dir, WORK_DIR), "unit-*.json"):
                if f.path not in self._seen:
                    self._seen[f.path] = json.loads(read_bytes(f.path))
        except Exception:
            pass  # the work folder may not exist yet
        done = list(self._seen.values())
        done_bytes = sum(s.get("input_bytes", 0) for s in done)
        docs = sum(s["counts"]["output"] for s in done)
        elapsed = max(time.time() - self._started, 1e-9)
        rate = done_bytes / elapsed
        line = (
            f"[{self.label}] units {len(done)}/{self.total_units}  docs {docs:,}  "
            f"{done_bytes / 1e6:,.1f}/{self.total_bytes / 1e6:,.1f} MB  {rate / 1e6:,.2f} MB/s"
        )
        if not final and done and rate > 0:
            line += f"  ETA {(self.total_bytes - done_bytes) / rate:,.0f}s"
        if final or done:
            print(line, file=self.stream, flush=True)


def stage_shards(in_dir: str) -> tuple[Manifest, list[ShardInfo]]:
    """The manifest of a finished stage and its document shards; a clear error if it did not finish."""
    try:
        manifest = read_manifest(in_dir)
    except ManifestError as exc:
        raise ManifestError(f"{exc}. Is {in_dir} the output folder of a finished tailmine stage?") from exc
    return manifest, list(manifest.outputs)


class ShardStep:
    """One annotate-then-select step applied shard by shard (filters, scorers, concept annotation).

    ``annotate`` adds signal columns to a batch of documents (it may also rewrite ``text``, e.g. PII
    redaction); ``decide`` returns, per row, a snake_case drop reason or None to keep it. Keeping the
    two apart lets thresholds change without recomputing signals. ``setup`` runs once per worker before
    the first batch, for lazy loading of models. Subclasses must be picklable (no open handles in
    ``__init__``).
    """

    name = "step"

    def parameters(self) -> dict:
        return {}

    def setup(self) -> None:
        pass

    def annotate(self, table: pa.Table) -> pa.Table:
        return table

    def decide(self, table: pa.Table) -> list[Optional[str]]:
        return [None] * table.num_rows


@dataclass(frozen=True)
class ShardTask:
    unit: int
    path: str  # absolute path of the input shard
    rows: int
    bytes: int


def fingerprint(parameters: dict) -> str:
    """A short stable hash of a stage's parameters: equal fingerprints mean a unit's output can be reused."""
    import hashlib

    return hashlib.sha256(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()[:16]


class SelectionWriter:
    """Writes one input shard's rows after a decision: kept rows to ``docs/part-UUUUU.parquet``, removed
    rows with their ``drop_reason`` to ``removed/part-UUUUU.parquet``, counting every row; ``finish``
    checks the counts balance and saves the unit summary. Output order is input order (deterministic).
    """

    def __init__(self, task: ShardTask, out_dir: str, fingerprint: Optional[str]):
        self.task, self.out_dir, self.fingerprint = task, out_dir, fingerprint
        self.counts = Counts()
        self.output_chars = 0
        self._prefix = f"part-{task.unit:05d}"
        self._kept: Optional[ShardWriter] = None
        self._removed: Optional[ShardWriter] = None

    def add(self, table: pa.Table, reasons: list[Optional[str]]) -> None:
        if len(reasons) != table.num_rows:
            raise ValueError(f"{self.task.path}: {len(reasons)} decisions for {table.num_rows} rows")
        self.counts.input += table.num_rows
        keep = pa.array([reason is None for reason in reasons])
        kept = table.filter(keep)
        if self._kept is None:
            self._kept = ShardWriter(self.out_dir, DOCS_DIR, self._prefix, table.schema, numbered=False, shard_bytes=1 << 62)
        self._kept.add_batch(kept, _text_bytes(kept))
        self.counts.output += kept.num_rows
        self.output_chars += _text_chars(kept)
        if kept.num_rows < table.num_rows:
            dropped = [reason for reason in reasons if reason is not None]
            for reason in dropped:
                self.counts.drop(reason)
            removed = table.filter(pc.invert(keep)).append_column("drop_reason", pa.array(dropped, pa.string()))
            if self._removed is None:
                self._removed = ShardWriter(self.out_dir, REMOVED_DIR, self._prefix, removed.schema, numbered=False, shard_bytes=1 << 62)
            self._removed.add_batch(removed, _text_bytes(removed))

    def close(self, label: str) -> dict:
        """Close the shards and return the unit summary, after checking the counts balance."""
        summary = {
            "unit": self.task.unit,
            **({"fingerprint": self.fingerprint} if self.fingerprint is not None else {}),
            "input": self.task.path,
            "input_bytes": self.task.bytes,
            "outputs": [s.__dict__ for s in (self._kept.close() if self._kept else [])],
            "removed": [s.__dict__ for s in (self._removed.close() if self._removed else [])],
            "counts": self.counts.to_dict(),
            "output_chars": self.output_chars,
        }
        self.counts.check_balanced(f"{label} on {self.task.path}")
        return summary

    def finish(self, label: str) -> dict:
        """:meth:`close`, then save the summary so a resumed run can reuse this unit."""
        summary = self.close(label)
        save_summary(self.out_dir, summary)
        return summary


def map_shard(task: ShardTask, step: ShardStep, out_dir: str, fingerprint: str, batch_rows: int = 2048) -> dict:
    """Apply ``step`` to one input shard through a :class:`SelectionWriter` (resumable per shard)."""
    previous = finished_summary(out_dir, task.unit, fingerprint)
    if previous is not None:
        return previous
    selection = SelectionWriter(task, out_dir, fingerprint)
    with open_raw(task.path) as handle:
        parquet = pq.ParquetFile(handle)
        check_schema(parquet.schema_arrow, task.path, DOCUMENT_SCHEMA)
        for batch in parquet.iter_batches(batch_size=batch_rows):
            table = step.annotate(pa.Table.from_batches([batch]))
            selection.add(table, step.decide(table))
    return selection.finish(step.name)


def _text_chars(table: pa.Table) -> int:
    if "text" not in table.column_names or table.num_rows == 0:
        return 0
    return int(pc.sum(pc.utf8_length(table.column("text"))).as_py() or 0)


def _text_bytes(table: pa.Table) -> int:
    if "text" not in table.column_names or table.num_rows == 0:
        return 0
    return int(pc.sum(pc.binary_length(table.column("text"))).as_py() or 0)


class MapShardFn(beam.DoFn):
    def __init__(self, step: ShardStep, out_dir: str, fingerprint: str):
        self.step, self.out_dir, self.fingerprint = step, out_dir, fingerprint

    def setup(self):
        self.step.setup()

    def process(self, task: ShardTask):
        yield map_shard(task, self.step, self.out_dir, self.fingerprint)


class Spread(beam.PTransform):
    """PCollection -> the same elements, spread over the workers by a ``Reshuffle`` (which also stops
    Beam fusing a cheap listing step with the heavy step after it, so one worker would run every task).
    With a single in-process worker there is nothing to spread and each ``Reshuffle`` costs ~0.1 s of
    graph translation and bundles, so it is left out there. List tasks with
    ``beam.Create(tasks, reshuffle=False)`` and spread them with this: one shuffle, not two."""

    def expand(self, pcoll):
        from tailmine.pipelines.options import is_single_worker

        if is_single_worker(pcoll.pipeline.options):
            return pcoll
        return pcoll | "Reshuffle" >> beam.Reshuffle()


class MapShards(beam.PTransform):
    """PCollection[ShardTask] -> PCollection[summary]: ``step`` applied to every shard, spread over workers."""

    def __init__(self, step: ShardStep, out_dir: str, fingerprint: str):
        super().__init__()
        self.step, self.out_dir, self.fingerprint = step, out_dir, fingerprint

    def expand(self, tasks):
        return (
            tasks
            | "Redistribute" >> Spread()
            | f"Apply{type(self.step).__name__}" >> beam.ParDo(MapShardFn(self.step, self.out_dir, self.fingerprint))
        )


def run_map_stage(
    step: ShardStep,
    in_dir: str,
    out_dir: str,
    beam_args: Optional[list[str]] = None,
    force: bool = False,
    resume: bool = False,
    progress: bool = True,
    extra: Optional[dict] = None,
) -> Manifest:
    """Run ``step`` over every document shard of the stage in ``in_dir``; write ``out_dir`` + manifest."""
    from tailmine.pipelines.options import pipeline_options

    _, shards = stage_shards(in_dir)
    prepare_output(out_dir, force, resume)
    tasks = [ShardTask(i, join(in_dir, s.path), s.rows, s.bytes) for i, s in enumerate(shards)]
    parameters = {"step": step.name, **step.parameters()}
    run_fingerprint = fingerprint(parameters)
    inputs = [{"path": t.path, "bytes": t.bytes, "rows": t.rows} for t in tasks]
    pipeline = beam.Pipeline(options=pipeline_options(beam_args))
    (
        pipeline
        | "ListShards" >> beam.Create(tasks, reshuffle=False)
        | "MapShards" >> MapShards(step, out_dir, run_fingerprint)
        | "CollectSummaries" >> beam.combiners.ToList()
        | "WriteManifest" >> beam.ParDo(WriteManifest(step.name, out_dir, parameters, inputs, extra))
    )
    return finish(pipeline, out_dir, step.name, len(tasks), sum(t.bytes for t in tasks), progress)
