"""tailmine: turn raw crawl and book dumps into a training mixture that buys the long tail on purpose.

The Python API (:mod:`tailmine.api`): ``from tailmine import run_ingest, run_dedup, dedup_table, ...``:
``run_NAME`` for every stage of the registry, and the in-memory table functions. They load with
:mod:`tailmine.api` on first use, so ``import tailmine`` stays light (``--help`` imports no Beam,
pyarrow or numba)."""

__version__ = "0.1.0"

_API_NAMES = ("run_stage", "stage_config", "annotate_table", "filter_table", "dedup_table", "concept_counts")


def __getattr__(name: str):
    if name in _API_NAMES or name.startswith("run_"):
        from tailmine import api

        if name in api.__all__:
            return getattr(api, name)
    raise AttributeError(f"module 'tailmine' has no attribute {name!r}")
