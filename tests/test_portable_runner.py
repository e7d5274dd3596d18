"""The demo pipeline on Beam's PortableRunner (the path Flink and Spark job servers take: the pipeline
is translated to the portable Runner API and run by a job service, here the embedded one with the SDK
harness in LOOPBACK mode) writes every file byte-identical to the DirectRunner run."""
import hashlib
import json
import os
import shutil

from conftest import TEST_BEAM_ARGS

PORTABLE_ARGS = ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"]


def _tree(root):
    """relative path -> sha256 of every file under ``root`` (shards, manifests, recipe, report)."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                files[os.path.relpath(path, root)] = hashlib.sha256(handle.read()).hexdigest()
    return files


def test_demo_on_portable_runner_is_byte_identical_to_direct_runner(tmp_path):
    from tailmine.demo import demo_config, write_demo_eval_set
    from tailmine.demo.sample import write_sample
    from tailmine.pipelines.run import load_config, run

    write_sample(tmp_path / "sample", seed=1, n_pages=20)
    config = json.dumps(demo_config(str(tmp_path / "sample"), write_demo_eval_set(str(tmp_path / "sample"))))
    out = tmp_path / "run"  # both runs write here in turn: manifests and lineage name their paths
    trees, counts = {}, {}
    for runner, beam_args in (("direct", TEST_BEAM_ARGS), ("portable", PORTABLE_ARGS)):
        with open(os.devnull, "w") as quiet:
            manifests = run(load_config(config, "demo config", str(out), beam_args), force=True, stream=quiet)
        counts[runner] = {stage: m.counts.to_dict() for stage, m in manifests.items()}
        trees[runner] = _tree(out)
        shutil.rmtree(out)
    assert counts["portable"] == counts["direct"]
    assert set(counts["direct"]) == {"ingest", "filter", "dedup", "decontaminate", "classify", "concepts", "mix"}
    assert counts["direct"]["mix"]["output"] > 0
    assert sorted(trees["portable"]) == sorted(trees["direct"])
    differing = [path for path in trees["direct"] if trees["direct"][path] != trees["portable"][path]]
    assert not differing, differing
    assert any(p.startswith("mix/tokens/") for p in trees["direct"]) and "report.html" in trees["direct"]
