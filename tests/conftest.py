"""Shared fixtures. Real data comes only through ``corpora``; everything else is tiny and inline."""
from __future__ import annotations

import importlib.util
import json
import os
import sys
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
    """Run the ingest stage on paths and return (manifest, documents table, quarantine table).

    An ingest that keeps no document raises (naming its inputs) after writing its manifest; tests of
    how records of broken inputs are counted read that manifest."""
    from tailmine.errors import InputError
    from tailmine.ingest.config import IngestConfig
    from tailmine.pipelines import ingest as ingest_pipeline
    from tailmine.schemas import read_documents, read_quarantine
    from tailmine.schemas.manifest import read_manifest

    def run(inputs, out=None, beam_args=None, **config):
        out = str(out or tmp_path / "out")
        try:
            manifest = ingest_pipeline.run(
                [str(p) for p in inputs], out, IngestConfig(**config), beam_args or TEST_BEAM_ARGS, force=True, progress=False
            )
        except InputError as exc:
            if not str(exc).startswith("no documents in "):
                raise
            manifest = read_manifest(out)
            assert manifest.counts.output == 0
        docs = read_documents([os.path.join(out, s.path) for s in manifest.outputs])
        quarantine = read_quarantine([os.path.join(out, s.path) for s in manifest.quarantine])
        return manifest, docs, quarantine

    return run


def benchmark_module(name: str):
    """A script of benchmarks/ imported as a module, for the helpers it shares with the tests (the folder
    is not a package, and putting it on sys.path would shadow names like ``filters``)."""
    spec = importlib.util.spec_from_file_location(f"tailmine_benchmark_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def translations():
    """Debian's translated manuals, one labelled page per language per section (benchmarks/translations.py):
    the module, with ``.pages`` loaded. Built on first use into $TAILMINE_TRANSLATIONS or
    ~/.cache/tailmine/translations (``apt-get download`` of two packages, ~30 s), reused after.

    Skips with a clear message when the packages cannot be fetched; under CI=true that is a failure.
    """
    module = benchmark_module("translations")
    try:
        path = module.build(module.DEFAULT_CACHE)
    except module.CorpusUnavailable as exc:
        message = f"translated Debian manuals unavailable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " -- CI=true requires them")
        pytest.skip(message)
    module.pages = module.load(path)
    return module


def write_jsonl_inputs(folder, files: int, docs: int, words: int) -> None:
    """``files`` JSONL files of ``docs`` distinct documents each (ids ``f<i>-d<j>``): enough small units
    of work for a run to be killed, or raced, part-way through."""
    folder.mkdir()
    for i in range(files):
        with open(folder / f"part-{i:03d}.jsonl", "w") as handle:
            for j in range(docs):
                handle.write(json.dumps({"id": f"f{i}-d{j}", "text": f"file {i} document {j} " + "lorem ipsum dolor " * words}) + "\n")
