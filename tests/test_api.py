"""The Python API: the README's example runs as written, and the in-memory functions decide as the stages do."""
import re
from pathlib import Path

import pyarrow as pa
import pytest

import tailmine
from tailmine.errors import ConfigError

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- api-example -->\n```python\n(.*?)```\n<!-- /api-example -->", text, re.S)
    assert block, "README.md lost its <!-- api-example --> block"
    return block.group(1)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The README example run as it stands, in an empty folder (with the local runner's defaults)."""
    import os

    folder = tmp_path_factory.mktemp("api-example")
    namespace: dict = {}
    previous = os.getcwd()
    os.chdir(folder)
    try:
        exec(compile(readme_example(), str(README), "exec"), namespace)
    finally:
        os.chdir(previous)
    return folder, namespace


def test_readme_example_runs_and_its_results_are_real(example):
    folder, ns = example
    docs, kept, removed, unique, duplicates, counts, fit = (ns[k] for k in ("docs", "kept", "removed", "unique", "duplicates", "counts", "fit"))
    assert ns["ingested"].counts.output == docs.num_rows > 50
    assert kept.num_rows + removed.num_rows == docs.num_rows and removed.num_rows > 0
    assert set(removed.column("drop_reason").to_pylist()) and None not in removed.column("drop_reason").to_pylist()
    assert "lang" in kept.column_names and set(kept.column("lang").to_pylist()) == {"en"}
    assert unique.num_rows + duplicates.num_rows == kept.num_rows and duplicates.num_rows > 0
    assert counts.column_names == ["concept", "df", "rank"] and counts["df"].to_pylist() == sorted(counts["df"].to_pylist(), reverse=True)
    assert counts["df"][0].as_py() <= unique.num_rows and 1.5 < fit.alpha < 4 and fit.p_value is not None
    assert (folder / "out" / "dedup" / "manifest.json").is_file()


def test_dedup_table_keeps_what_the_stage_keeps(example):
    """The in-memory dedup and the Beam stage over the same documents: same survivors, same reasons."""
    from tailmine.schemas import read_documents

    folder, ns = example
    stage = ns["deduped"]
    stage_kept = read_documents([str(folder / "out" / "dedup" / s.path) for s in stage.outputs])
    stage_removed = pa.concat_tables([pa.parquet.read_table(folder / "out" / "dedup" / s.path) for s in stage.removed])
    kept, removed = tailmine.dedup_table(ns["docs"], {"threshold": 0.8})
    assert removed.num_rows == stage_removed.num_rows > 0
    assert kept.column("id").to_pylist() == stage_kept.column("id").to_pylist()
    assert kept.column("text").to_pylist() == stage_kept.column("text").to_pylist()  # line step included
    for column in ("dup_cluster_id", "dup_cluster_size", "dup_lines_removed"):
        assert kept.column(column).to_pylist() == stage_kept.column(column).to_pylist(), column
    by_id = lambda t: dict(zip(t.column("id").to_pylist(), t.column("drop_reason").to_pylist()))
    assert by_id(removed) == by_id(stage_removed)


def test_one_argument_order_and_checked_configs(tmp_path):
    from tailmine.dedup.config import DedupConfig

    assert tailmine.stage_config("dedup", None) == DedupConfig()
    assert tailmine.stage_config("dedup", {"threshold": 0.7}).threshold == 0.7
    with pytest.raises(ConfigError, match=r"dedup\.thresold: unknown setting"):
        tailmine.run_dedup(tmp_path / "in", tmp_path / "out", {"thresold": 0.7})
    with pytest.raises(ConfigError, match="expected a FilterConfig"):
        tailmine.run_filter(tmp_path / "in", tmp_path / "out", DedupConfig())
    with pytest.raises(ConfigError, match="reads one finished stage's folder, got 2"):
        tailmine.run_dedup([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    import inspect

    from tailmine.stages import STAGE_LIST

    assert len(STAGE_LIST) >= 7
    for stage in STAGE_LIST:  # every stage of the registry is in the API, with one argument order
        params = list(inspect.signature(getattr(tailmine, f"run_{stage.name}")).parameters)
        assert params[:3] == ["inputs", "output", "config"], stage.name


def test_a_stage_function_respects_the_folder_lock(tmp_path):
    """Another process writing ``output`` (it holds the lock) stops ``run_dedup`` before any work."""
    import subprocess
    import sys

    from tailmine.errors import LockError

    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import time; from tailmine.lock import acquire; acquire({str(out)!r}, 'other run'); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=str(Path(__file__).resolve().parent.parent),
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockError, match="other run"):
            tailmine.run_dedup(tmp_path / "in", out)
    finally:
        holder.kill()
        holder.wait()


def test_in_memory_functions_name_what_is_missing():
    from tailmine.errors import InputError

    with pytest.raises(InputError, match="no id column"):
        tailmine.dedup_table(pa.table({"text": ["a b c"]}))
    kept, removed = tailmine.dedup_table(pa.table({"id": ["a", "b", "c"], "text": ["same words here", "Same  words here", ""]}))
    # equal after normalisation: the longer text survives (quality, then length, then id), the empty one stays
    assert kept.column("id").to_pylist() == ["b", "c"] and removed.column("drop_reason").to_pylist() == ["exact_duplicate"]


def test_fit_power_law_is_importable_from_concepts():
    from tailmine.concepts import fit_power_law
    from tailmine.concepts.fitting import fit_power_law as home

    assert fit_power_law is home
