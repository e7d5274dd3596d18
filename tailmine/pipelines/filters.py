"""The filter stage: language ID, quality rules and PII redaction, annotate-then-select, shard by shard.

Run it::

    tailmine filter --in out/ingest --out out/filter [--config filters.yaml]

``annotate`` adds ``lang``, ``lang_score``, every quality signal (``gopher_*_v1``, ``c4_*_v1``,
``fineweb_*_v1``) and ``pii_<type>_count``, and replaces PII in ``text`` by typed placeholders (signals
are measured on the text as it arrived). ``decide`` applies the thresholds of the config for the
document's source kind (its ``source`` column, or the config's ``source_kind``) and language; a dropped
document's reason is the first failed rule's name (``lang_not_allowed`` when its language is
not in ``allowed_languages``). To change thresholds without recomputing signals, run the stage again on
its own output with a new config: the signal columns are reused when present.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Optional

import pyarrow as pa

from tailmine.errors import ConfigError
from tailmine.filters.config import FilterConfig
from tailmine.filters.langid import MODEL_NAME as LANGID_MODEL, LanguageIdentifier
from tailmine.filters.pii import PII_TYPES, redact
from tailmine.filters.quality import SIGNAL_NAMES, VERSION, quality_signals
from tailmine.filters.segment import Segmenters
from tailmine.filters.rules import RULES
from tailmine.pipelines.stage import run_map_stage
from tailmine.runtime import ShardStep
from tailmine.schemas.manifest import Manifest

STAGE = "filter"
SIGNAL_COLUMNS = tuple(f"{name}_{VERSION}" for name in SIGNAL_NAMES)
PII_COLUMNS = tuple(f"pii_{t}_count" for t in PII_TYPES)


class FilterStep(ShardStep):
    name = STAGE

    def __init__(self, cfg: Optional[FilterConfig] = None):
        self.cfg = cfg or FilterConfig()
        self._langid = LanguageIdentifier(self.cfg.langid_max_chars)
        self._segmenters = Segmenters(self.cfg.segmenters)

    def parameters(self) -> dict:
        return {**self.cfg.to_dict(), "langid_model": LANGID_MODEL}

    def setup(self) -> None:
        self._langid.setup()
        # Every segmenter a document could need, before any is read: a missing package fails here.
        self._segmenters.check(self.cfg.allowed_languages or None)

    def annotate(self, table: pa.Table) -> pa.Table:
        if all(c in table.column_names for c in ("lang", "lang_score", *SIGNAL_COLUMNS, *PII_COLUMNS)):
            return table  # signals already there (a re-selection with new thresholds)
        texts = table.column("text").to_pylist()
        langs, scores = [], []
        signals: dict[str, list[float]] = {name: [] for name in SIGNAL_NAMES}
        pii: dict[str, list[int]] = {t: [] for t in PII_TYPES}
        redacted = []
        for text in texts:
            lang, score = self._langid.identify(text)
            langs.append(lang)
            scores.append(score)
            for name, value in quality_signals(text, lang, self._segmenters).items():
                signals[name].append(value)
            if self.cfg.pii:
                text, counts = redact(text, self.cfg.pii_types)
            else:
                counts = {t: 0 for t in PII_TYPES}
            redacted.append(text)
            for t in PII_TYPES:
                pii[t].append(counts[t])
        table = table.set_column(table.schema.get_field_index("text"), table.schema.field("text"), pa.array(redacted, pa.string()))
        table = table.append_column("lang", pa.array(langs, pa.string()))
        table = table.append_column("lang_score", pa.array(scores, pa.float32()))
        for name in SIGNAL_NAMES:
            table = table.append_column(f"{name}_{VERSION}", pa.array(signals[name], pa.float64()))
        for t in PII_TYPES:
            table = table.append_column(f"pii_{t}_count", pa.array(pii[t], pa.int32()))
        return table

    def decide(self, table: pa.Table) -> list[Optional[str]]:
        return decide_rows(table, self.cfg)


def decide_rows(table: pa.Table, cfg: FilterConfig, rules=RULES) -> list[Optional[str]]:
    """Per row, the first failed rule's name (or ``lang_not_allowed``), None to keep; thresholds by the
    row's source kind and language (:meth:`FilterConfig.thresholds_for`)."""
    columns = {r.signal: table.column(r.signal).to_pylist() for r in rules}
    langs = table.column("lang").to_pylist()
    sources = table.column("source").to_pylist() if "source" in table.column_names else [None] * table.num_rows
    allowed = set(cfg.allowed_languages)
    cache: dict[tuple[str, str], dict] = {}
    reasons: list[Optional[str]] = []
    for i, lang in enumerate(langs):
        if allowed and lang not in allowed:
            reasons.append("lang_not_allowed")
            continue
        key = (cfg.kind_of(sources[i]), lang)
        limits = cache.get(key)
        if limits is None:
            limits = cache[key] = cfg.thresholds_for(*key)
        reason = None
        for rule in rules:
            if rule.fails(columns[rule.signal][i], limits[rule.name]):
                reason = rule.name
                break
        reasons.append(reason)
    return reasons


def run(
    in_dir: str,
    out_dir: str,
    cfg: Optional[FilterConfig] = None,
    beam_args: Optional[list[str]] = None,
    force: bool = False,
    resume: bool = False,
    progress: bool = True,
) -> Manifest:
    """Run the filter stage over the finished stage in ``in_dir``; return its manifest."""
    cfg = cfg or FilterConfig()
    # a segmenter that is not installed fails here, before Beam starts, not on a worker mid-run
    Segmenters(cfg.segmenters).check(cfg.allowed_languages or None)
    return run_map_stage(FilterStep(cfg), in_dir, out_dir, beam_args, force=force, resume=resume, progress=progress)


# --- command line: `tailmine filter` -------------------------------------------------------------


def calibrate_reference(reference: str, out: str, cfg: FilterConfig, calibration: Optional["CalibrationConfig"] = None) -> dict:
    """``tailmine filter calibrate``: annotate the reference documents (a finished stage's folder, or a
    folder of document Parquet shards) shard by shard, fit per-language thresholds
    (:mod:`tailmine.filters.calibrate`) and write them to ``out`` as a filter config."""
    import glob
    import os

    from tailmine.filters.calibrate import CalibrationConfig, calibrate, to_yaml
    from tailmine.fileio import write_bytes_atomic
    from tailmine.schemas import read_documents

    calibration = calibration or CalibrationConfig()
    if os.path.exists(os.path.join(reference, "manifest.json")):
        from tailmine.schemas.manifest import read_manifest

        paths = [os.path.join(reference, s.path) for s in read_manifest(reference).outputs]
    else:
        paths = sorted(glob.glob(os.path.join(reference, "**", "*.parquet"), recursive=True))
    if not paths:
        raise ConfigError(f"calibrate: --reference {reference}: no document shards (a stage's output folder or *.parquet files)")
    step = FilterStep(cfg)
    step.setup()
    rows = []
    for path in paths:
        table = step.annotate(read_documents([path]))
        columns = ["lang", "lang_score", *sorted({r.signal for r in RULES})]
        data = {c: table.column(c).to_pylist() for c in columns}
        sources = table.column("source").to_pylist() if "source" in table.column_names else [None] * table.num_rows
        for i in range(table.num_rows):
            rows.append({**{c: data[c][i] for c in columns}, "kind": cfg.kind_of(sources[i])})
    result = calibrate(rows, calibration)
    write_bytes_atomic(out, to_yaml(result, reference, calibration).encode("utf-8"))
    return result


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from tailmine.cli import summarize

    if getattr(args, "filter_command", None) == "calibrate":
        from tailmine.filters.calibrate import CalibrationConfig

        cfg = FilterConfig.load(args.calibrate_config) if args.calibrate_config else FilterConfig()
        if args.calibrate_source_kind:
            cfg = dataclasses.replace(cfg, source_kind=args.calibrate_source_kind)
        result = calibrate_reference(args.reference, args.calibrate_out, cfg,
                                     CalibrationConfig(anchor=args.anchor, drop_fraction=args.drop_fraction, min_docs=args.min_docs))
        print(f"calibrate: {sum(result['reference'].values())} reference documents, thresholds for "
              f"{len(result['languages'])} language(s) ({', '.join(result['languages']) or 'none'}) -> {args.calibrate_out}")
        return 0
    if not args.in_dir or not args.out:
        raise ConfigError("filter: --in DIR and --out DIR are required (or: tailmine filter calibrate --reference DIR --out FILE)")
    cfg = FilterConfig.load(args.config) if args.config else FilterConfig()
    if args.source_kind:
        cfg = dataclasses.replace(cfg, source_kind=args.source_kind)
    manifest = run(args.in_dir, args.out, cfg, beam_args, force=args.force, resume=args.resume, progress=args.progress)
    print(summarize(manifest, args.out))
    return 0
