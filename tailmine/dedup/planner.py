"""The memory planner: expected peak memory, shuffle bytes, disk and partitioning, before any work.

Peers leave users to find the limit by running out of memory (text-dedup #41, NeMo-Curator #471,
datasketch #207). Every figure here follows from the stage's data layout (see
``tailmine/pipelines/dedup.py``), so it can be printed with ``--plan`` from the input manifest alone:

* signing holds one batch of documents (text + its normalised copy + kernel scratch) and the unit's
  signatures (``rows * num_perm * 4`` bytes);
* the band shuffle writes ``docs * (bands + 1) * 16`` bytes (a uint64 key and an int64 document per
  band, plus the exact-text key); one partition sorts ``1/partitions`` of it (x3 for the sort, at most
  ``PARTITION_SORT_BYTES``, so this does not grow with the corpus);
* checking candidates holds one unit's signatures and the candidate pairs of that unit, each with the
  other document's signature row (at most ``bands`` pairs per duplicate document);
* connected components run in one task when every duplicate edge fits the memory budget (one
  direction, at most ``bands`` star edges per duplicate document, x3 for the sorted ends and their
  indices), else by unit in rounds, where a task holds one unit's duplicate nodes and the edges and
  messages addressed to them (both directions);
  the planner assumes at most ``dup_fraction`` of the documents have duplicates: 50% unless an earlier
  run over the same input observed the rate (``observed_dup_fraction``).

Time: CPU seconds per step from rates measured on one core (``STEP_RATES``, see BENCHMARKS.md "Dedup
scaling"), linear in the work of each step, plus the exchange files, which grow with shards x shards
(:func:`exchange_files`); wall time divides by the workers.

The figures are upper bounds for the stated ``dup_fraction``; Beam's own overhead (tens of MB per
worker) comes on top.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from tailmine.dedup.config import DedupConfig

MB = 1e6
KEY_BYTES = 16
SORT_FACTOR = 3  # keys + docs + argsort/permuted copies while sorting a partition
LOCAL_FACTOR = 3  # edges + a sorted copy of their ends + one index per end, when components run in one task
BATCH_FACTOR = 4  # text as read, NFKC/lower copy, UTF-8 buffer, Arrow slack
ASSUMED_DUP_FRACTION = 0.5
"""Share of documents with a duplicate the memory figures allow for when no run has measured it."""
STEP_RATES = {
    "sign": ("text_bytes", 24.2e6),
    "candidates": ("band_keys", 5.34e6),
    "verify": ("documents", 0.87e6),
    "components+survivors": ("documents", 0.55e6),
    "write": ("text_bytes", 56e6),
    "framework": ("tasks", 360.0),
    "exchange files": ("exchange_files", 4700.0),
}
"""Per step: the quantity its work grows with, and how many of it one core handles per second.
Measured on synthetic short documents (``benchmarks/dedup_scaling.py``, BENCHMARKS.md "Dedup scaling"):
the step rates at 400k documents in 16 shards (where the exchange files cost ~0.3 s of 12); the
framework (Beam, outside the step functions: ~2.8 ms a task) and the files of the all-to-all exchanges
(~0.21 ms each, written and read) from 1.6M documents in 64 and in 256 shards."""
FIXED_CPU_SECONDS = 0.8
"""Start-up of a run (pipeline construction, first tasks), measured as the framework share at 100k."""
PAIR_EXCHANGES = {"local": 1, "distributed": 3}
"""Exchanges that write one file per (shard, shard) pair: candidate pairs with their signatures; when
components run distributed also survivor keys and decisions (after local components one task
chooses every survivor: one file per shard each way). With the band shuffle's two (shard, partition)
exchanges these make the stage's one term that grows faster than the documents."""
EXCHANGE_WARNING_SHARE = 0.5
"""`describe` warns when exchange files are more than this share of the predicted time."""
PARTITION_SORT_BYTES = 16 << 20
"""Sort state one band partition may hold, whatever the memory budget: partitions multiply as the corpus
grows, so the candidate step's memory stays flat instead of growing with the number of documents (up
to the budget). The price is more, smaller shuffle files (units x partitions)."""


@dataclass
class DedupPlan:
    documents: int
    text_bytes: int
    units: int
    largest_unit_rows: int
    bands: int
    rows: int
    band_partitions: int
    dup_fraction: float
    dup_fraction_observed: bool
    signature_bytes: int
    band_shuffle_bytes: int
    edge_bytes: int
    shuffle_bytes: int
    peak_sign_bytes: int
    peak_partition_bytes: int
    peak_verify_bytes: int
    peak_components_bytes: int
    peak_memory_bytes: int
    disk_bytes: int
    cpu_seconds: float
    """Predicted CPU seconds of the whole stage on one core (from ``STEP_RATES``)."""
    step_cpu_seconds: dict
    components: str = "local"
    """'local' (one task holds every duplicate edge) or 'distributed' (label propagation by unit, in rounds)."""

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        lines = [
            "tailmine dedup plan",
            f"  input            {self.documents:,} documents, {self.text_bytes / MB:,.1f} MB of text in {self.units} unit(s) (largest {self.largest_unit_rows:,} rows)",
            f"  LSH              {self.bands} bands x {self.rows} rows",
            f"  partitioning     {self.units} signing/component unit(s) (one per input shard); {self.band_partitions} band-shuffle partition(s);"
            f" <= {exchange_files(self.units, self.band_partitions, self.components):,} exchange files",
            f"  peak memory      {self.peak_memory_bytes / MB:,.1f} MB per worker"
            f" (signing {self.peak_sign_bytes / MB:,.1f}, band partition {self.peak_partition_bytes / MB:,.1f},"
            f" verify {self.peak_verify_bytes / MB:,.1f}, components {self.peak_components_bytes / MB:,.1f})",
            f"  time             ~{self.cpu_seconds:,.0f} CPU-seconds (~{self.cpu_seconds / 3600:,.2f} core-hours; wall ~ that / workers): "
            + ", ".join(f"{k} {v:,.1f}" for k, v in self.step_cpu_seconds.items()),
            f"  shuffle          {self.shuffle_bytes / MB:,.1f} MB (band keys {self.band_shuffle_bytes / MB:,.1f}, signatures {self.signature_bytes / MB:,.1f}, edges <= {self.edge_bytes / MB:,.1f})",
            f"  components       {self.components}"
            + (" (one task: every duplicate edge fits the memory budget)" if self.components == "local" else " (label propagation by unit, 4 rounds per pipeline)"),
            f"  disk             {self.disk_bytes / MB:,.1f} MB (output shards ~ input, plus work files)",
            f"  assumes          {self.dup_fraction:.1%} of documents have a duplicate"
            + (" (observed by the earlier run in the output folder)" if self.dup_fraction_observed else " (upper bound: no earlier run observed the rate)"),
        ]
        share = self.exchange_share()
        if share > EXCHANGE_WARNING_SHARE:
            lines.append(
                f"  warning          {share:.0%} of the time is exchange files, which grow with units squared "
                f"({self.units:,} units): fewer, larger input shards cut them (docs/scale.md, 'One Common Crawl snapshot')"
            )
        return "\n".join(lines)

    def exchange_share(self) -> float:
        """Share of the predicted CPU time spent on exchange files (the stage's one term that grows with
        units squared rather than with documents)."""
        return self.step_cpu_seconds.get("exchange files", 0.0) / self.cpu_seconds if self.cpu_seconds else 0.0


def plan(
    documents: int,
    text_bytes: int,
    unit_rows: list[int],
    cfg: DedupConfig,
    input_shard_bytes: int | None = None,
    observed_dup_fraction: float | None = None,
) -> DedupPlan:
    """The plan for ``documents`` documents of ``text_bytes`` text in units of ``unit_rows`` rows;
    ``observed_dup_fraction``: the share of documents with a duplicate, when an earlier run measured it
    (else the bound ``ASSUMED_DUP_FRACTION``)."""
    dup_fraction = ASSUMED_DUP_FRACTION if observed_dup_fraction is None else observed_dup_fraction
    bands, rows = cfg.bands_rows()
    units = max(1, len(unit_rows))
    largest = max(unit_rows) if unit_rows else 0
    mean_doc = text_bytes / documents if documents else 0.0
    band_shuffle = documents * (bands + 1) * KEY_BYTES
    unit_signatures = largest * cfg.num_perm * 4
    room = cfg.memory_budget_mb * (1 << 20)
    partitions = cfg.band_partitions or max(1, math.ceil(band_shuffle * SORT_FACTOR / min(room, PARTITION_SORT_BYTES)))
    signature_bytes = documents * cfg.num_perm * 4
    dup_docs = int(documents * dup_fraction)
    # each band links a document to its bucket's smallest member at most once: <= bands edges per duplicate
    # document (measured: 8 per document in clusters of 64 with 14 bands); distributed mode stores both directions
    edges = dup_docs * bands
    local_edge_bytes = edges * KEY_BYTES
    edge_bytes = local_edge_bytes * 2
    batch_text = min(largest, cfg.batch_rows) * mean_doc
    peak_sign = int(batch_text * BATCH_FACTOR + largest * cfg.num_perm * 4 + largest * 48)
    peak_partition = int(band_shuffle * SORT_FACTOR / partitions)
    per_unit_dups = int(largest * dup_fraction)
    # a unit's signatures, plus its candidate pairs with the other end's signature row (x2: loaded + compared)
    peak_verify = int(unit_signatures + per_unit_dups * bands * (KEY_BYTES + cfg.num_perm * 4) * 2)
    peak_components = int(per_unit_dups * (bands * KEY_BYTES * 2 * 3 + 8 * 4))
    local_components = int(local_edge_bytes * LOCAL_FACTOR)
    # the run decides with the bound (its plan is part of the run's fingerprint), so the mode shown does too
    bound_components = int(documents * ASSUMED_DUP_FRACTION) * bands * KEY_BYTES * LOCAL_FACTOR
    mode = cfg.components if cfg.components != "auto" else ("local" if bound_components <= cfg.memory_budget_mb * (1 << 20) else "distributed")
    if mode == "local":
        peak_components = max(peak_components, local_components)
    disk = int((input_shard_bytes or text_bytes) + signature_bytes + band_shuffle + edge_bytes * 3)
    steps = step_cpu_seconds(documents, text_bytes, bands, units, partitions, mode)
    return DedupPlan(
        documents=documents,
        text_bytes=text_bytes,
        units=units,
        largest_unit_rows=largest,
        bands=bands,
        rows=rows,
        band_partitions=partitions,
        dup_fraction=dup_fraction,
        dup_fraction_observed=observed_dup_fraction is not None,
        signature_bytes=signature_bytes,
        band_shuffle_bytes=band_shuffle,
        edge_bytes=edge_bytes,
        shuffle_bytes=band_shuffle + signature_bytes + edge_bytes,
        peak_sign_bytes=peak_sign,
        peak_partition_bytes=peak_partition,
        peak_verify_bytes=peak_verify,
        peak_components_bytes=peak_components,
        peak_memory_bytes=max(peak_sign, peak_partition, peak_verify, peak_components),
        disk_bytes=disk,
        cpu_seconds=float(sum(steps.values())),
        step_cpu_seconds=steps,
        components=mode,
    )


def exchange_files(units: int, partitions: int, components: str = "local") -> int:
    """Work files of the exchanges: band keys and candidate pairs (shards x partitions each), the
    per-shard files, and ``PAIR_EXCHANGES`` exchanges of one file per pair of shards (an upper bound: a
    pair without data writes none; distributed components add one such exchange a round)."""
    return 2 * units * partitions + PAIR_EXCHANGES[components] * units * units + 4 * units


def step_cpu_seconds(documents: int, text_bytes: int, bands: int, units: int, partitions: int, components: str = "local") -> dict:
    """Predicted CPU seconds of each step on one core, from ``STEP_RATES``."""
    work = {
        "text_bytes": text_bytes, "band_keys": documents * (bands + 1), "documents": documents,
        "tasks": 7 * units + partitions, "exchange_files": exchange_files(units, partitions, components),
    }
    steps = {step: work[quantity] / rate for step, (quantity, rate) in STEP_RATES.items()}
    steps["framework"] += FIXED_CPU_SECONDS
    return steps
