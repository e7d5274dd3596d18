"""Beam wiring every stage shares: :class:`WriteManifest`, :func:`finish`, :class:`Spread`,
:class:`MapShards` and :func:`run_map_stage`, for stages that annotate and select shard by shard.

The parts themselves (output folders, units of work, fingerprints, resume, manifest folding,
:class:`ShardStep`) are Beam-free and live in :mod:`tailmine.runtime`. Only unit summaries travel through Beam; ``WriteManifest`` folds them, in
unit order, into ``manifest.json``.
"""
from __future__ import annotations

from typing import Optional

import apache_beam as beam

from tailmine.fileio import delete_tree, join
from tailmine.runtime import (
    WORK_DIR, Progress, ShardStep, ShardTask, check_shards_exist, fingerprint, fold_summaries, map_shard, prepare_output,
    shard_tasks, stage_shards,
)
from tailmine.schemas.manifest import Manifest, read_manifest


class WriteManifest(beam.DoFn):
    """Folds the list of all unit summaries into ``manifest.json`` (runs once, on one worker)."""

    def __init__(self, stage: str, out_dir: str, parameters: dict, inputs: list[dict], extra: Optional[dict] = None):
        self.stage, self.out_dir, self.parameters, self.inputs, self.extra = stage, out_dir, parameters, inputs, extra

    def process(self, summaries: list[dict]):
        manifest = fold_summaries(self.stage, summaries, self.parameters, self.inputs, self.extra)
        check_shards_exist(self.out_dir, manifest)
        yield manifest.write(self.out_dir)


def finish(pipeline: beam.Pipeline, out_dir: str, label: str, total_units: int, total_bytes: int, progress: bool) -> Manifest:
    """Run ``pipeline``, printing progress for local runs; return the manifest and drop the work folder."""
    from tailmine.pipelines.options import is_local_runner, local_workers

    with local_workers(pipeline.options):
        if progress and is_local_runner(pipeline.options):
            with Progress(out_dir, label, total_units, total_bytes):
                pipeline.run().wait_until_finish()
        else:
            pipeline.run().wait_until_finish()
    manifest = read_manifest(out_dir)
    delete_tree(join(out_dir, WORK_DIR))  # unit summaries were only needed to resume and to report progress
    return manifest


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
    tasks = shard_tasks(in_dir, shards)
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
