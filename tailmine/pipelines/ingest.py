"""The ingest stage as a Beam pipeline: raw crawl and book dumps -> document shards + manifest.

Run it::

    tailmine ingest shared/corpora/web/warc/*.warc.gz shared/corpora/books --out out/ingest
    tailmine ingest gs://bucket/crawl/*.warc.gz --out gs://bucket/ingest -- --runner=DataflowRunner ...

Shape: the driver lists the inputs and plans units of work; ``IngestUnits`` spreads the units over
workers (``Reshuffle``), each worker streams its unit's records from input to committed shards, and
only per-unit summaries come back, to be folded into ``manifest.json`` by ``WriteManifest``.
"""
from __future__ import annotations

import json
import logging
import sys
import threading
import time
from dataclasses import asdict
from typing import Iterable, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

import tailmine
from tailmine.errors import OutputExistsError
from tailmine.fileio import InputFile, delete_tree, exists, expand_inputs, join, list_files, read_bytes
from tailmine.ingest.config import IngestConfig
from tailmine.ingest.unit import DOCS_DIR, STAGE, WORK_DIR, WorkUnit, plan_units, run_unit
from tailmine.pipelines.options import is_local_runner, pipeline_options
from tailmine.schemas.document import DOCUMENT_SCHEMA_VERSION
from tailmine.schemas.manifest import MANIFEST_NAME, Counts, Manifest, ShardInfo

log = logging.getLogger("tailmine.ingest")


class IngestUnitFn(beam.DoFn):
    """Runs one :class:`WorkUnit` and emits its summary. The extractor is created once per worker."""

    DOCUMENTS = Metrics.counter(STAGE, "documents")
    REJECTED = Metrics.counter(STAGE, "rejected")
    INPUT_BYTES = Metrics.counter(STAGE, "input_bytes")

    def __init__(self, cfg: IngestConfig, out_dir: str):
        self.cfg = cfg
        self.out_dir = out_dir
        self._extractor = None

    def setup(self):
        from tailmine.ingest.extract import get_extractor

        self._extractor = get_extractor(self.cfg.extractor)

    def process(self, unit: WorkUnit):
        summary = run_unit(unit, self.cfg, self.out_dir, self._extractor)
        counts = summary["counts"]
        self.DOCUMENTS.inc(counts["output"])
        self.REJECTED.inc(counts["input"] - counts["output"])
        self.INPUT_BYTES.inc(summary["input_bytes"])
        yield summary


class IngestUnits(beam.PTransform):
    """PCollection[WorkUnit] -> PCollection[unit summary dict], spread over workers."""

    def __init__(self, cfg: IngestConfig, out_dir: str):
        super().__init__()
        self.cfg = cfg
        self.out_dir = out_dir

    def expand(self, units):
        return (
            units
            | "Redistribute" >> beam.Reshuffle()
            | "IngestUnit" >> beam.ParDo(IngestUnitFn(self.cfg, self.out_dir))
        )


def build_manifest(summaries: Iterable[dict], cfg: IngestConfig, inputs: list[InputFile]) -> Manifest:
    """Fold unit summaries (in unit order) into the stage manifest."""
    summaries = sorted(summaries, key=lambda s: s["unit"])
    counts = Counts()
    for s in summaries:
        counts = counts.merge(Counts.from_dict(s["counts"]))
    return Manifest(
        stage=STAGE,
        tailmine_version=tailmine.__version__,
        schema_version=DOCUMENT_SCHEMA_VERSION,
        parameters=cfg.to_dict(),
        inputs=[{"path": f.path, "bytes": f.size} for f in inputs],
        outputs=[ShardInfo(**o) for s in summaries for o in s["outputs"]],
        quarantine=[ShardInfo(**q) for s in summaries for q in s["quarantine"]],
        counts=counts,
        extra={"units": len(summaries), "input_bytes": sum(f.size for f in inputs)},
    )


class WriteManifest(beam.DoFn):
    def __init__(self, cfg: IngestConfig, out_dir: str, inputs: list[InputFile]):
        self.cfg, self.out_dir, self.inputs = cfg, out_dir, inputs

    def process(self, summaries: list[dict]):
        manifest = build_manifest(summaries, self.cfg, self.inputs)
        yield manifest.write(self.out_dir)


def prepare_output(out_dir: str, force: bool, resume: bool) -> None:
    """Refuse to overwrite earlier output unless ``force``; ``resume`` keeps finished units."""
    if resume:
        return
    occupied = exists(join(out_dir, MANIFEST_NAME)) or exists(join(out_dir, DOCS_DIR)) or exists(join(out_dir, WORK_DIR))
    if occupied and not force:
        raise OutputExistsError(
            f"{out_dir} already holds tailmine output; pass --force to replace it or --resume to finish an interrupted run"
        )
    if occupied:
        for sub in (DOCS_DIR, "quarantine", WORK_DIR):
            delete_tree(join(out_dir, sub))
        if exists(join(out_dir, MANIFEST_NAME)):
            delete_tree(join(out_dir, MANIFEST_NAME))


class Progress:
    """Prints units done, documents, MB/s and ETA while a local run goes, from the unit summaries on disk."""

    def __init__(self, out_dir: str, units: list[WorkUnit], stream=sys.stderr, interval: float = 2.0):
        self.out_dir, self.units, self.stream, self.interval = out_dir, units, stream, interval
        self.total_bytes = sum(u.input_bytes for u in units) or 1
        self._stop = threading.Event()
        self._seen: dict[str, dict] = {}
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = time.time()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._report(final=True)

    def _loop(self):
        while not self._stop.wait(self.interval):
            self._report()

    def _report(self, final: bool = False):
        try:
            for f in list_files(join(self.out_dir, WORK_DIR), "unit-*.json"):
                if f.path not in self._seen:
                    self._seen[f.path] = json.loads(read_bytes(f.path))
        except Exception:
            pass  # the work folder may not exist yet, or was just removed by the manifest step
        done = self._seen.values()
        done_bytes = sum(s["input_bytes"] for s in done)
        docs = sum(s["counts"]["output"] for s in done)
        elapsed = max(time.time() - self._started, 1e-9)
        rate = done_bytes / elapsed
        eta = (self.total_bytes - done_bytes) / rate if rate > 0 else float("nan")
        line = (
            f"[ingest] units {len(done)}/{len(self.units)}  docs {docs:,}  "
            f"{done_bytes / 1e6:,.1f}/{self.total_bytes / 1e6:,.1f} MB  {rate / 1e6:,.2f} MB/s"
        )
        if not final and done:
            line += f"  ETA {eta:,.0f}s"
        if final or done:
            print(line, file=self.stream, flush=True)


def run(
    inputs: list[str],
    out_dir: str,
    cfg: IngestConfig | None = None,
    beam_args: Optional[list[str]] = None,
    force: bool = False,
    resume: bool = False,
    progress: bool = True,
) -> Manifest:
    """Run the ingest stage and return its manifest (read back from ``out_dir``)."""
    from tailmine.schemas.manifest import read_manifest

    cfg = cfg or IngestConfig()
    files = expand_inputs(inputs)
    prepare_output(out_dir, force, resume)
    units = plan_units(files, cfg)
    options = pipeline_options(beam_args)
    log.info("ingest: %d files, %.1f MB, %d units of work", len(files), sum(f.size for f in files) / 1e6, len(units))
    pipeline = beam.Pipeline(options=options)
    (
        pipeline
        | "PlanUnits" >> beam.Create(units)
        | "IngestUnits" >> IngestUnits(cfg, out_dir)
        | "CollectSummaries" >> beam.combiners.ToList()
        | "WriteManifest" >> beam.ParDo(WriteManifest(cfg, out_dir, files))
    )
    if progress and is_local_runner(options):
        with Progress(out_dir, units):
            pipeline.run().wait_until_finish()
    else:
        pipeline.run().wait_until_finish()
    manifest = read_manifest(out_dir)
    delete_tree(join(out_dir, WORK_DIR))  # unit summaries were only needed to resume and to report progress
    return manifest
