"""tailmine's Python API: every stage as a function, and in-memory versions for notebooks.

Stage functions (``run_ingest``, ``run_filter``, ``run_dedup``, ``run_decontaminate``, ``run_classify``,
``run_concepts``, ``run_mix``) are made from the stage registry (:data:`tailmine.stages.STAGE_LIST`: a
stage added there is here too), so they run exactly what ``tailmine NAME`` and ``tailmine run`` run,
with one argument order::

    run_NAME(inputs, output, config=None, *, beam_args=None, force=False, resume=False, progress=False) -> Manifest

``inputs`` are files, globs or folders for ``ingest``, a finished stage's folder for the others (one or
more for ``mix``); ``config`` is the stage's config dataclass, a mapping of its settings (checked like
a section of a run config) or None for the defaults.

In-memory functions take and return ``pyarrow.Table`` s of documents (at least ``id`` and ``text``)
and make the stages' own decisions, without Beam or a work folder: :func:`annotate_table` and
:func:`filter_table` (the filter stage), :func:`dedup_table`, and :func:`concept_counts` (the
concepts stage's document frequencies; fit them with :func:`tailmine.concepts.fit_power_law`).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

PathLike = Union[str, Path]
TABLE_FUNCTIONS = ("annotate_table", "filter_table", "dedup_table", "concept_counts")


def stage_config(name: str, config: Any = None) -> Any:
    """The config dataclass of stage ``name`` from ``config``: an instance of it (returned as it is), a
    mapping of settings (checked like a section of a run config: unknown keys and wrong types are
    errors naming ``name.key``) or None (the defaults)."""
    from tailmine.errors import ConfigError
    from tailmine.stages import STAGES, build_stage_config

    cls = STAGES[name].config_class()
    if isinstance(config, cls):
        return config
    if config is None or isinstance(config, dict):
        return build_stage_config(name, cls, config)
    if dataclasses.is_dataclass(config):
        raise ConfigError(f"{name}: expected a {cls.__name__} (or a mapping of its settings), got a {type(config).__name__}")
    raise ConfigError(f"{name}: expected a {cls.__name__}, a mapping of its settings or None, got {config!r}")


def run_stage(name: str, inputs: Union[PathLike, Sequence[PathLike]], output: PathLike, config: Any = None, *,
              beam_args: Optional[list[str]] = None, force: bool = False, resume: bool = False, progress: bool = False):
    """Run stage ``name`` of the registry over ``inputs`` into the folder ``output``; returns its manifest.
    Like the command, it holds ``output``'s lock while it writes there (one writer per folder:
    :mod:`tailmine.lock`)."""
    import contextlib

    from tailmine.errors import ConfigError
    from tailmine.lock import OutputLock
    from tailmine.stages import STAGES

    if name not in STAGES:
        raise ConfigError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    stage = STAGES[name]
    many = [str(p) for p in inputs] if isinstance(inputs, (list, tuple)) else [str(inputs)]
    if stage.inputs == "stage" and len(many) != 1:
        raise ConfigError(f"{name}: reads one finished stage's folder, got {len(many)} inputs")
    source: Any = many if stage.inputs == "files" else many[0] if stage.inputs == "stage" else many
    cfg = stage_config(name, config)
    with OutputLock(str(output), f"tailmine.run_{name}") if stage.writes_folder else contextlib.nullcontext():
        return stage.run_stage(source, str(output), cfg, list(beam_args or []), force, resume, progress)


def _stage_function(name: str) -> Callable:
    def run(inputs, output, config=None, *, beam_args=None, force=False, resume=False, progress=False):
        return run_stage(name, inputs, output, config, beam_args=beam_args, force=force, resume=resume, progress=progress)

    run.__name__ = run.__qualname__ = f"run_{name}"
    run.__doc__ = (f"Run the {name} stage: ``tailmine {name}`` as a function (see :mod:`tailmine.api`); returns the "
                   f"manifest it wrote to ``output``.")
    return run


def _stage_functions() -> dict[str, Callable]:
    """``run_NAME`` for every stage of the registry: a stage added there is in the API too."""
    from tailmine.stages import STAGE_LIST

    return {f"run_{stage.name}": _stage_function(stage.name) for stage in STAGE_LIST}


globals().update(_stage_functions())


# --- in memory, on pyarrow Tables ------------------------------------------------------------------


def annotate_table(table, config: Any = None):
    """``table`` with the filter stage's columns added (``lang``, ``lang_score``, the quality signals,
    PII counts; ``text`` redacted when ``pii`` is on)."""
    from tailmine.pipelines.filters import FilterStep

    step = FilterStep(stage_config("filter", config))
    step.setup()
    return step.annotate(table)


def filter_table(table, config: Any = None):
    """``(kept, removed)``: the filter stage's decision on ``table`` (annotated first unless it already
    holds the signal columns); ``removed`` has ``drop_reason``, the first rule each row failed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from tailmine.pipelines.filters import decide_rows

    cfg = stage_config("filter", config)
    annotated = annotate_table(table, cfg)
    reasons = decide_rows(annotated, cfg)
    keep = pa.array([r is None for r in reasons])
    removed = annotated.filter(pc.invert(keep)).append_column("drop_reason", pa.array([r for r in reasons if r is not None], pa.string()))
    return annotated.filter(keep), removed


def dedup_table(table, config: Any = None, quality_column: Optional[str] = None):
    """``(kept, removed)``: ``table`` without its exact and near duplicates (see :func:`tailmine.dedup.table.dedup_table`)."""
    from tailmine.dedup.table import dedup_table as dedup

    return dedup(table, stage_config("dedup", config), quality_column)


def concept_counts(table, config: Any = None, batch_rows: int = 1024):
    """The concepts stage's concept table for ``table``: ``(concept, df, rank)``, df = the number of
    documents holding the concept, sorted by df (descending), then concept."""
    from tailmine.concepts.extract import build_extractors
    from tailmine.concepts.sketches import new_counts
    from tailmine.concepts.tables import concept_table
    from tailmine.pipelines.concepts import add_to_counts, sketch_config

    cfg = stage_config("concepts", config)
    extractor = build_extractors(cfg.extractors, cfg.max_n)
    extractor.setup()
    counts = new_counts(cfg.mode, sketch_config(cfg))
    texts = table.column("text").to_pylist()
    for start in range(0, len(texts), batch_rows):
        add_to_counts(counts, extractor.extract_hashed(texts[start : start + batch_rows], cfg.seed))
    return concept_table(counts)


__all__ = ["run_stage", "stage_config", *sorted(_stage_functions()), *TABLE_FUNCTIONS]
