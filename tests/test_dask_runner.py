"""The same pipeline on Beam's DaskRunner (a local dask.distributed cluster of worker processes)
gives byte-identical outputs to the DirectRunner: nothing depends on the runner or on worker order."""
import json

import pytest

from conftest import TEST_BEAM_ARGS

distributed = pytest.importorskip("distributed", reason="dask.distributed is a dev dependency: pip install -e '.[dev]'")


def _stage_bytes(folder):
    """Every output file of a stage (shards, side tables, manifest) with its content hash."""
    manifest = json.loads((folder / "manifest.json").read_text())
    files = {s["path"]: s["sha256"] for s in manifest["outputs"] + manifest.get("removed", []) + manifest["quarantine"]}
    import hashlib

    for side in ["clusters.parquet", "fit.json"] + sorted(p.name for p in folder.glob("concepts-*.parquet")):
        if (folder / side).exists():
            files[side] = hashlib.sha256((folder / side).read_bytes()).hexdigest()
    return files, manifest["counts"]


def test_dask_runner_matches_direct_runner_for_ingest_dedup_concepts(tmp_path):
    from tailmine.demo import SAMPLE_DATA_DIRS
    from tailmine.demo.sample import write_sample
    from tailmine.ingest.config import IngestConfig
    from tailmine.concepts.config import ConceptConfig
    from tailmine.pipelines import concepts, dedup, ingest

    write_sample(tmp_path / "sample", seed=1, n_pages=60)
    inputs = [str(tmp_path / "sample" / d) for d in SAMPLE_DATA_DIRS]
    cfg = IngestConfig(text_field="text,content", id_field="id,doc_id", url_field="url,source_url")

    def pipeline(out, beam_args):
        ingest.run(inputs, str(out / "ingest"), cfg, beam_args, force=True, progress=False)
        dedup.run(str(out / "ingest"), str(out / "dedup"), None, beam_args, force=True, progress=False)
        concepts.run(str(out / "dedup"), str(out / "concepts"), ConceptConfig(bootstrap=50), beam_args, force=True, progress=False)

    pipeline(tmp_path / "direct", TEST_BEAM_ARGS)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        pipeline(tmp_path / "dask", ["--runner=apache_beam.runners.dask.dask_runner.DaskRunner", f"--dask_client_address={cluster.scheduler_address}"])
    finally:
        from distributed.client import _get_global_client

        while (client := _get_global_client()) is not None:  # the runner's own client, left open by Beam
            client.close()
        cluster.close()
    for stage in ("ingest", "dedup", "concepts"):
        direct, direct_counts = _stage_bytes(tmp_path / "direct" / stage)
        on_dask, dask_counts = _stage_bytes(tmp_path / "dask" / stage)
        assert direct_counts == dask_counts, stage
        assert direct == on_dask, stage
    assert direct_counts["output"] > 0
