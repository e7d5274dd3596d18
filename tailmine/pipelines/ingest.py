"""The ingest stage as a Beam pipeline: raw crawl and book dumps -> document shards + manifest.

Run it::

    tailmine ingest shared/corpora/web/warc/*.warc.gz shared/corpora/books --out out/ingest
    tailmine ingest gs://bucket/crawl/*.warc.gz --out gs://bucket/ingest -- --runner=DataflowRunner ...

Shape: the driver lists the inputs and plans units of work; ``IngestUnits`` spreads the units over
workers (``Reshuffle``), each worker streams its unit's records from input to committed shards, and
only per-unit summaries come back, to be folded into ``manifest.json`` by ``WriteManifest``.
Documents never cross a shuffle in this stage, which keeps the DirectRunner fast.
"""
from __future__ import annotations

import logging
from typing import Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from tailmine.errors import InputError
from tailmine.fileio import expand_inputs, path_record
from tailmine.ingest.config import IngestConfig
from tailmine.ingest.unit import STAGE, WorkUnit, plan_units, run_unit
from tailmine.pipelines.options import pipeline_options
from tailmine.pipelines.stage import Spread, WriteManifest, finish
from tailmine.runtime import prepare_output
from tailmine.schemas.manifest import Manifest

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
            | "Redistribute" >> Spread()
            | "IngestUnit" >> beam.ParDo(IngestUnitFn(self.cfg, self.out_dir))
        )


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
    cfg = cfg or IngestConfig()
    files = expand_inputs(inputs)
    prepare_output(out_dir, force, resume)
    units = plan_units(files, cfg)
    total_bytes = sum(f.size for f in files)
    log.info("ingest: %d files, %.1f MB, %d units of work", len(files), total_bytes / 1e6, len(units))
    pipeline = beam.Pipeline(options=pipeline_options(beam_args))
    (
        pipeline
        | "PlanUnits" >> beam.Create(units, reshuffle=False)
        | "IngestUnits" >> IngestUnits(cfg, out_dir)
        | "CollectSummaries" >> beam.combiners.ToList()
        | "WriteManifest"
        >> beam.ParDo(
            WriteManifest(STAGE, out_dir, cfg.to_dict(), [path_record(f) for f in files], {"input_bytes": total_bytes})
        )
    )
    manifest = finish(pipeline, out_dir, STAGE, len(units), total_bytes, progress)
    if manifest.counts.output == 0:
        raise InputError(no_documents_message(inputs, len(files), manifest, out_dir))
    return manifest


def no_documents_message(inputs: list[str], n_files: int, manifest: Manifest, out_dir: str) -> str:
    """Why an ingest that read files kept no document: the inputs, and what became of their records
    (every later stage would otherwise run on nothing)."""
    counts = manifest.counts
    outcomes = [f"{n:,} {reason}" for reason, n in sorted({**counts.dropped, **counts.quarantined}.items(), key=lambda kv: -kv[1])]
    found = f"{counts.input:,} record(s): {', '.join(outcomes[:5])}{', ...' if len(outcomes) > 5 else ''}" if counts.input else "no records"
    return (
        f"no documents in {', '.join(inputs)} ({n_files:,} file(s), {found}); "
        f"see {out_dir.rstrip('/')}/manifest.json and --format/--text-field if the files hold documents"
    )
