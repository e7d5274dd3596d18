"""The stage runtime, without Beam: what every stage does around its domain step, written once.

* :mod:`~tailmine.runtime.work`: the output folder's layout (``docs/``, ``removed/``, ``_work/`` ...),
  :func:`prepare_output`, the unit of work (:class:`ShardTask`), :func:`fingerprint` and resume
  (:func:`load_done`/:func:`save_done`, and the per-unit summaries built on them);
* :mod:`~tailmine.runtime.manifest`: folding unit summaries into ``manifest.json``;
* :mod:`~tailmine.runtime.selection`: :class:`ShardStep` (annotate, then decide) and
  :func:`map_shard`, which applies one to a shard through a :class:`SelectionWriter`;
* :mod:`~tailmine.runtime.progress`: the progress lines of a local run.

Domain packages (ingest, filters, concepts ...) may import this; they never import
:mod:`tailmine.pipelines`, which only wires these parts into Beam pipelines.
"""
from __future__ import annotations

from tailmine.lazy import lazy_attributes

# names load with their module on first use: a config module can take fingerprint without pulling in
# pyarrow (the command line's --help stays fast)
__getattr__, __all__ = lazy_attributes(__name__, {
    "tailmine.runtime.fingerprints": ("fingerprint",),
    "tailmine.runtime.work": (
        "DOCS_DIR", "DROP_SAMPLES_DIR", "QUARANTINE_DIR", "REMOVED_DIR", "STAGE_SUBDIRS", "WORK_DIR", "ShardTask",
        "finished_summary", "load_done", "prepare_output", "save_done", "save_summary", "shard_tasks", "stage_shards",
        "unit_summary_path",
    ),
    "tailmine.runtime.manifest": ("check_shards_exist", "fold_summaries"),
    "tailmine.runtime.selection": ("SelectionWriter", "ShardStep", "map_shard"),
    "tailmine.runtime.progress": ("Progress", "ProgressLoop"),
})
