"""tailmine: turn raw crawl and book dumps into a training mixture that buys the long tail on purpose.

The Python API (:mod:`tailmine.api`): ``from tailmine import run_ingest, run_filter, dedup_table, ...``.
Names load with their module on first use, so ``import tailmine`` stays light (the command line's
``--help`` imports no Beam, pyarrow or numba)."""

__version__ = "0.1.0"

from tailmine.lazy import lazy_attributes  # noqa: E402 (after __version__, which setup.py reads)

__getattr__, _api = lazy_attributes(__name__, {"tailmine.api": (
    "run_stage", "run_ingest", "run_filter", "run_dedup", "run_decontaminate", "run_classify", "run_concepts", "run_mix",
    "annotate_table", "filter_table", "dedup_table", "concept_counts", "stage_config",
)})
__all__ = ["__version__", *_api]
