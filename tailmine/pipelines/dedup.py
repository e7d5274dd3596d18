"""The dedup stage: exact and MinHash-LSH near-duplicates, clustered, one survivor per cluster.

Run it::

    tailmine dedup --in out/ingest --out out/dedup [--threshold 0.8] [--num-perm 128] [--ngram 5]
    tailmine dedup --in out/ingest --out out/dedup --plan      # memory/time/shuffle/disk plan, no work

Shape (every step is a Beam ParDo over small tasks; bulky data moves through files in ``OUT/_work``,
the way the ingest stage moves documents, so no shuffle holds the corpus in memory and no worker
holds more than one input shard or one band partition):

0. ``LineKeys`` (per unit) and ``LineCounts`` (per partition of line keys), when the line step is on
   (``line_dedup``: crawl documents by default): lines found in at least ``line_min_docs`` documents
   of one site are boilerplate; ``Sign`` and ``Write`` remove them (see ``tailmine/dedup/lines.py``).
   Each document gets ``dup_lines_removed``; one left without words is dropped as
   ``empty_after_line_removal``; totals go in ``manifest.extra["line_dedup"]``.
1. ``Sign`` (per input shard = unit): signatures, exact-text hashes, survivor keys; band keys written
   split into the planner's band partitions.
2. ``Candidates`` (per band partition): documents sharing a band key (or the exact-text key) become
   star edges (candidate pairs), written by the unit of their second document; ``SendSignatures`` (per
   unit) sends each distinct pair with that document's signature row to the unit of the first;
   ``Verify`` (per unit) keeps a pair when its signature estimate reaches ``threshold - verify_slack``.
   Each signature file is read twice in all, so the step stays linear in the corpus.
3. ``Components``: in one task when the planner's bound on duplicate edges fits the memory budget
   (then the whole stage is ONE pipeline), else per unit by min-label propagation, 4 rounds per
   pipeline, until a round changes nothing.
4. ``Survivors`` (per unit of the cluster label): the best document of each cluster (highest quality
   score, then longest text, then smallest id) is kept; the others are dropped as ``exact_duplicate``
   (same normalised text as the survivor) or ``near_duplicate``.
5. ``Write`` (per unit): ``docs/`` with ``dup_cluster_id`` (the survivor's id) and ``dup_cluster_size``,
   ``removed/`` with ``drop_reason``; ``clusters.parquet`` (``id``, ``cluster_id``) for every document
   that has a duplicate; ``manifest.json``.

The steps' plain functions live in :mod:`tailmine.dedup` by concern (``work`` files and layout,
``line_step``, ``signing`` with candidates and verification, ``clustering``, ``survivors`` with writing,
``inputs`` with the plan); this module only wires them into Beam pipelines, shows progress and parses
the command line.

Every task leaves ``_work/done/STEP-KEY.json`` (its result and the run's fingerprint): ``--resume``
skips the tasks already done, and local progress counts them.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from typing import Optional

import apache_beam as beam

from tailmine.dedup.clustering import cc_init, cc_local, cc_receive, cc_send
from tailmine.dedup.config import DedupConfig
from tailmine.dedup.inputs import detect_quality_column, make_plan
from tailmine.dedup.line_step import boilerplate, line_counts_partition, line_keys_unit, line_step_needed
from tailmine.dedup.signing import partition_candidates, send_signatures, sign_unit, verify_unit
from tailmine.dedup.survivors import choose_unit, rank_send, write_clusters, write_unit
from tailmine.dedup.work import ALL_LABELS, CLUSTERS_NAME, STAGE, Layout, work_files
from tailmine.fileio import join, read_bytes
from tailmine.pipelines.options import local_workers, pipeline_options
from tailmine.pipelines.stage import Spread, WriteManifest, finish
from tailmine.runtime import DOCS_DIR, REMOVED_DIR, WORK_DIR, ProgressLoop, fingerprint, load_done, prepare_output, save_done
from tailmine.runtime import ShardTask as Unit
from tailmine.schemas.manifest import Manifest

ROUNDS_PER_PIPELINE = 4
log = logging.getLogger("tailmine.dedup")


# --- Beam wiring ----------------------------------------------------------------------------------


def _done_path(lay: Layout, label: str, key: int) -> str:
    return lay.work("done", f"{label}-{key:05d}.json")


class _Call(beam.DoFn):
    """Runs ``fn(element, *args)`` once per run: the result is saved in ``_work/done/LABEL-KEY.json``
    with the run's fingerprint, and a task whose result is there already (``--resume``) is skipped.
    Extra side inputs only order the steps (barriers)."""

    def __init__(self, label, lay, fn, *args):
        self.label, self.lay, self.fn, self.args = label, lay, fn, args

    def process(self, element, *barriers):
        key = element.unit if isinstance(element, Unit) else int(element)
        path = _done_path(self.lay, self.label, key)
        done = load_done(path, self.lay.fingerprint)
        if done is not None:
            yield done["result"]
            return
        result = self.fn(element, *self.args)
        save_done(path, {"fingerprint": self.lay.fingerprint, "result": result})
        yield result


def _step(pipeline, label: str, elements: list, fn, lay: Layout, *args, after=None):
    """``elements | Spread | ParDo(fn)``, started only once ``after`` (a PCollection) is complete."""
    side = [beam.pvalue.AsList(after)] if after is not None else []
    return (
        pipeline
        | f"List{label}" >> beam.Create(elements, reshuffle=False)
        | f"Spread{label}" >> Spread()
        | label >> beam.ParDo(_Call(label, lay, fn, *(args + (lay,))), *side)
    )


def _rounds(pipeline, lay: Layout, unit_ids: list, first: int, after=None):
    """``ROUNDS_PER_PIPELINE`` rounds of label propagation chained in one pipeline; each round's count
    of changed labels lands in its ``done`` results."""
    for r in range(first, first + ROUNDS_PER_PIPELINE):
        sent = _step(pipeline, f"Send-r{r:04d}", unit_ids, cc_send, lay, r, after=after)
        after = _step(pipeline, f"Receive-r{r:04d}", unit_ids, cc_receive, lay, r, after=sent)
    return after


def _changed(lay: Layout, round_: int, unit_ids: list) -> int:
    return sum(json.loads(read_bytes(_done_path(lay, f"Receive-r{round_:04d}", u)))["result"] for u in unit_ids)


class _Finish(beam.DoFn):
    def __init__(self, lay: Layout, manifest_writer: WriteManifest):
        self.lay, self.manifest_writer = lay, manifest_writer

    def process(self, summaries):
        extra = {**(self.manifest_writer.extra or {}), "clustered_documents": write_clusters(self.lay)}
        if self.lay.lines_on:
            lines = {k: sum(s["line_dedup"][k] for s in summaries) for k in summaries[0]["line_dedup"]} if summaries else {}
            lines["boilerplate_lines"] = int(len(boilerplate(self.lay)))
            extra["line_dedup"] = {"mode": self.lay.cfg.line_dedup, "min_docs": self.lay.cfg.line_min_docs, **lines}
        elif self.lay.cfg.line_dedup == "auto":
            extra["line_dedup"] = {"mode": "auto", "skipped": "no crawl (warc/wet) document with a URL in the input"}
        self.manifest_writer.extra = extra
        yield from self.manifest_writer.process(summaries)


class DedupProgress(ProgressLoop):
    """Local progress: tasks done per step (from ``_work/done``), documents written, MB/s, every 2 s."""

    def __init__(self, lay: Layout, steps: list[tuple[str, int]], total_bytes: int, stream=None, interval: float = 2.0):
        super().__init__(stream, interval)
        self.lay, self.steps, self.total_bytes = lay, steps, max(1, total_bytes)
        self._last = None
        self._done: dict[str, int] = {}
        self._docs = self._bytes = 0

    def _scan(self) -> None:
        done: dict[str, int] = {}
        docs = read = 0
        for f in work_files(self.lay.work("done"), "*.json"):
            name = f.rsplit("/", 1)[-1]
            step = name.rsplit("-", 1)[0].split("-r")[0]
            done[step] = done.get(step, 0) + 1
            if step == "Write":
                result = json.loads(read_bytes(f))["result"]
                docs += result["counts"]["output"]
                read += result["input_bytes"]
        if done:
            self._done, self._docs, self._bytes = done, docs, read

    def line(self) -> str:
        parts = [f"{name} {self._done.get(name, 0)}/{total}" for name, total in self.steps]
        rate = self._bytes / max(time.time() - self._started, 1e-9)
        return f"[{STAGE}] " + "  ".join(parts) + f"  docs kept {self._docs:,}  {self._bytes / 1e6:,.1f}/{self.total_bytes / 1e6:,.1f} MB  {rate / 1e6:,.2f} MB/s"

    def report(self, final: bool = False) -> None:
        try:
            self._scan()
        except Exception:
            pass  # the work folder may not exist yet, or was just removed
        text = self.line()
        if final or (self._done and text.split("  docs")[0] != self._last):
            self._last = text.split("  docs")[0]
            print(text, file=self.stream, flush=True)


def run(
    in_dir: str,
    out_dir: str,
    cfg: DedupConfig | None = None,
    beam_args: Optional[list[str]] = None,
    force: bool = False,
    progress: bool = True,
    resume: bool = False,
) -> Manifest:
    """Run the dedup stage over the finished stage in ``in_dir``; return the manifest written to ``out_dir``.

    ``resume``: keep the tasks an interrupted run with the same parameters and inputs finished (any
    other earlier output in ``out_dir`` is replaced)."""
    from tailmine.pipelines.options import is_local_runner

    cfg = cfg or DedupConfig()
    the_plan, units = make_plan(in_dir, cfg)
    inputs = [{"path": u.path, "bytes": u.bytes, "rows": u.rows} for u in units]
    quality_column = detect_quality_column(cfg, in_dir, units[0].path if units else None)
    run_fp = fingerprint({"stage": STAGE, "config": cfg.to_dict(), "inputs": inputs, "plan": the_plan.to_dict(), "quality": quality_column})
    fp_path = join(out_dir, WORK_DIR, "fingerprint.json")
    kept = resume and load_done(fp_path, run_fp) is not None
    if not kept:
        prepare_output(out_dir, force or resume, resume=False, subdirs=(DOCS_DIR, REMOVED_DIR, WORK_DIR, CLUSTERS_NAME))
        save_done(fp_path, {"fingerprint": run_fp})
    lay = Layout(
        out_dir, cfg, the_plan.bands, the_plan.rows, the_plan.band_partitions, len(units), quality_column,
        the_plan.components, run_fp, line_step_needed(cfg, [u.path for u in units]),
    )
    log.info("%s", the_plan.describe())
    unit_ids = [u.unit for u in units]
    partitions = list(range(lay.partitions))
    options = pipeline_options(beam_args)
    local = lay.components == "local"
    parameters = {**cfg.to_dict(), "bands": lay.bands, "rows": lay.rows, "band_partitions": lay.partitions, "quality_column": lay.quality_column}
    total_bytes = sum(u.bytes for u in units)
    steps = ([("LineKeys", len(units)), ("LineCounts", len(partitions))] if lay.lines_on else [])
    steps += [("Sign", len(units)), ("Candidates", len(partitions)), ("SendSignatures", len(units)), ("Verify", len(units))]
    steps += [("Components", 1)] if local else [("InitComponents", len(units))]
    steps += [("RankSend", len(units)), ("ChooseSurvivors", 1 if local else len(units)), ("Write", len(units))]
    show = DedupProgress(lay, steps, total_bytes) if progress and is_local_runner(options) and units else None

    def front(p):
        """Line step, signing, candidates and component state: everything before the survivors."""
        after = None
        if lay.lines_on:
            keyed = _step(p, "LineKeys", units, line_keys_unit, lay)
            after = _step(p, "LineCounts", partitions, line_counts_partition, lay, after=keyed)
        signed = _step(p, "Sign", units, sign_unit, lay, after=after)
        candidates = _step(p, "Candidates", partitions, partition_candidates, lay, after=signed)
        sent = _step(p, "SendSignatures", unit_ids, send_signatures, lay, after=candidates)
        edges = _step(p, "Verify", unit_ids, verify_unit, lay, after=sent)
        if local:
            return _step(p, "Components", [0], cc_local, lay, after=edges)
        return _step(p, "InitComponents", unit_ids, cc_init, lay, after=edges)

    def back(p, round_, after):
        extra = {"components": lay.components, "component_rounds": round_ or 0, "plan": the_plan.to_dict()}
        ranked = _step(p, "RankSend", units, rank_send, lay, round_, after=after)
        chosen = _step(p, "ChooseSurvivors", [ALL_LABELS] if round_ is None else unit_ids, choose_unit, lay, after=ranked)
        (
            _step(p, "Write", units, write_unit, lay, after=chosen)
            | "CollectSummaries" >> beam.combiners.ToList()
            | "WriteManifest" >> beam.ParDo(_Finish(lay, WriteManifest(STAGE, out_dir, parameters, inputs, extra)))
        )

    def go(p):
        return finish(p, out_dir, STAGE, len(units), total_bytes, progress=False)

    if show:
        show.__enter__()
    try:
        if local:  # the whole stage is one pipeline
            p = beam.Pipeline(options=options)
            back(p, None, front(p))
            return go(p)
        # distributed components: front + rounds, more rounds while labels change, then survivors
        first, round_ = 0, None
        while round_ is None:
            with local_workers(options), beam.Pipeline(options=options) as p:
                _rounds(p, lay, unit_ids, first, after=front(p) if first == 0 else None)
            for r in range(first, first + ROUNDS_PER_PIPELINE):
                if not units or _changed(lay, r, unit_ids) == 0:
                    round_ = r + 1  # the state written by the first round that changed nothing
                    break
            first += ROUNDS_PER_PIPELINE
        p = beam.Pipeline(options=options)
        back(p, round_, None)
        return go(p)
    finally:
        if show:
            show.__exit__(None, None, None)


# --- command line: `tailmine dedup` -------------------------------------------------------------


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from tailmine.cli import summarize
    from tailmine.stages import config_from_args

    cfg = config_from_args(DedupConfig, args)
    if args.plan:
        print(make_plan(args.in_dir, cfg, args.out)[0].describe())
        return 0
    manifest = run(args.in_dir, args.out, cfg, beam_args, force=args.force, progress=args.progress, resume=args.resume)
    print(summarize(manifest, args.out))
    return 0
