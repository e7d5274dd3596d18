"""Shared fixtures. Real data comes only through ``corpora``; everything else is tiny and inline."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPORA = Path(os.environ.get("TAILMINE_CORPORA", REPO.parent / "shared" / "corpora"))

# Tests run Beam in-process: a worker pool per test would cost seconds each and prove nothing more.
TEST_BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


@pytest.fixture(scope="session")
def corpora() -> Path:
    """The real crawl, book and eval files in ../shared/corpora (see its SOURCES.md).

    Skips with a clear message when the folder is absent; under CI=true a missing folder is a failure,
    because CI must exercise the real data.
    """
    if not (CORPORA / "SOURCES.md").is_file():
        message = f"real corpora not found at {CORPORA} (set TAILMINE_CORPORA to their folder)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " -- CI=true requires them")
        pytest.skip(message)
    return CORPORA


@pytest.fixture
def ingest(tmp_path):
    """Run the ingest stage on paths and return (manifest, documents table, quarantine table)."""
    from tailmine.ingest.config import IngestConfig
    from tailmine.pipelines import ingest as ingest_pipeline
    from tailmine.schemas import read_documents, read_quarantine

    def run(inputs, out=None, beam_args=None, **config):
        out = str(out or tmp_path / "out")
        manifest = ingest_pipeline.run(
            [str(p) for p in inputs], out, IngestConfig(**config), beam_args or TEST_BEAM_ARGS, force=True, progress=False
        )
        docs = read_documents([os.path.join(out, s.path) for s in manifest.outputs])
        quarantine = read_quarantine([os.path.join(out, s.path) for s in manifest.quarantine])
        return manifest, docs, quarantine

    return run
