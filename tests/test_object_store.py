"""``s3://`` inputs and outputs through Beam's FileSystems, against moto's S3 server on 127.0.0.1.

The same ``tailmine run`` on real corpus files, once on local disk and once with inputs and ``--out``
on S3, gives the same counts, document ids and texts; a run killed mid-stage on
S3 resumes to the clean result and leaves no half-written shard under a final name; missing
credentials or an unreachable endpoint stop the run at once with the URL and the option to set.
"""
import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, TEST_BEAM_ARGS, write_jsonl_inputs

moto_server = pytest.importorskip("moto.server", reason="moto[server] is a dev dependency: pip install -e '.[dev]'")
boto3 = pytest.importorskip("boto3", reason="boto3 comes with apache-beam[aws] (the dev extra)")
pq = pytest.importorskip("pyarrow.parquet")

KEYS = ["--s3_access_key_id=testing", "--s3_secret_access_key=testing", "--s3_region_name=us-east-1"]
REAL_FILES = [
    "web/warc/resiliparse-cc-main-2020-34-excerpt.warc.gz",
    "web/ccnet/dolma-cc_en_head-0174.jsonl.gz",
    "books/gutenberg/11-0.txt.gz",
]


@pytest.fixture(scope="module")
def endpoint():
    """moto's S3 server on a free loopback port, for this module's tests."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(endpoint, monkeypatch):
    """A boto3 client on the moto server, with this process kept away from any real AWS setup: no
    credential files, no instance metadata lookups (only loopback addresses are contacted)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/tailmine-test")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/tailmine-test")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    yield client
    from apache_beam.io.filesystems import FileSystems

    FileSystems.set_options(None)  # later tests must not inherit this module's endpoint


def _make_bucket(s3, name):
    s3.create_bucket(Bucket=name)
    return name


def _upload(s3, bucket, prefix, folder):
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")


def _keys(s3, bucket, prefix=""):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _config(path, inputs, **stages):
    path.write_text(json.dumps({"inputs": inputs, "report": False, **stages}))
    return str(path)


def _stage_ids(read, stage_dir):
    """Counts, texts and document ids of one stage, read with ``read(relative_path) -> bytes`` (shard
    bytes differ: documents record the path they came from)."""
    import io

    manifest = json.loads(read(f"{stage_dir}/manifest.json"))
    ids, texts = [], []
    for shard in manifest["outputs"]:
        table = pq.read_table(io.BytesIO(read(f"{stage_dir}/{shard['path']}")), columns=["id", "text"])
        ids += table.column("id").to_pylist()
        texts += table.column("text").to_pylist()
    return manifest["counts"], texts, ids


def test_run_with_inputs_and_out_on_s3_matches_the_local_run(corpora, s3, endpoint, tmp_path):
    from tailmine.cli import main

    local_in = tmp_path / "in"
    for name in REAL_FILES:
        (local_in / name).parent.mkdir(parents=True, exist_ok=True)
        (local_in / name).write_bytes((corpora / name).read_bytes())
    bucket = _make_bucket(s3, "crawl")
    _upload(s3, bucket, "in", local_in)
    stages = {"ingest": {}, "filter": {}, "dedup": {}}
    local_cfg = _config(tmp_path / "local.json", [str(local_in)], **stages)
    remote_cfg = _config(tmp_path / "remote.json", [f"s3://{bucket}/in"], **stages)

    assert main(["run", local_cfg, "--out", str(tmp_path / "local"), "--", *TEST_BEAM_ARGS]) == 0
    assert main(["run", remote_cfg, "--out", f"s3://{bucket}/out", "--", *TEST_BEAM_ARGS, f"--s3_endpoint_url={endpoint}", *KEYS]) == 0

    keys = _keys(s3, bucket, "out/")
    assert not [k for k in keys if "/.tmp-" in k or "/_work/" in k], "temporaries and unit summaries are cleaned up"
    assert "out/.tailmine-lock.json" not in keys, "the lock is released"
    outputs = {}
    for stage in stages:
        local = _stage_ids(lambda p: (tmp_path / "local" / p).read_bytes(), stage)
        remote = _stage_ids(lambda p: s3.get_object(Bucket=bucket, Key=f"out/{p}")["Body"].read(), stage)
        assert remote[0] == local[0], f"{stage}: counts"
        assert remote[2] == local[2], f"{stage}: document ids"
        assert remote[1] == local[1], f"{stage}: texts"
        outputs[stage] = local[0]["output"]
    assert outputs["ingest"] >= 20 and outputs["dedup"] >= 5, outputs
    assert "out/run-state.json" in keys



def test_run_killed_on_s3_resumes_to_the_clean_result(s3, endpoint, tmp_path):
    """SIGKILL mid-ingest with --out on S3; the rerun takes over the dead run's lock, reuses its
    finished units and ends with exactly the documents of an uninterrupted local run. Objects under
    final shard names at the moment of the kill are complete Parquet files."""
    from tailmine.pipelines.run import load_config, run

    write_jsonl_inputs(tmp_path / "in", files=16, docs=300, words=60)
    bucket = _make_bucket(s3, "resume")
    _upload(s3, bucket, "in", tmp_path / "in")
    cfg = _config(tmp_path / "cfg.json", [f"s3://{bucket}/in"], ingest={"unit_bytes": 100000})
    beam_args = [*TEST_BEAM_ARGS, f"--s3_endpoint_url={endpoint}", *KEYS]
    clean = run(load_config((tmp_path / "cfg.json").read_text(), cfg, str(tmp_path / "clean"), beam_args))

    command = [sys.executable, "-m", "tailmine", "run", cfg, "--out", f"s3://{bucket}/killed", "--", *beam_args]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline and process.poll() is None:
        if len([k for k in _keys(s3, bucket, "killed/ingest/_work/") if "/unit-" in k]) >= 3:
            break
        time.sleep(0.1)
    assert process.poll() is None, "the run finished before it could be killed: make the input bigger"
    process.send_signal(signal.SIGKILL)
    process.wait()
    keys = _keys(s3, bucket, "killed/")
    assert "killed/ingest/manifest.json" not in keys
    assert "killed/.tailmine-lock.json" in keys, "the dead run's lock is left behind"
    for key in keys:
        if key.startswith("killed/ingest/docs/") and "/.tmp-" not in key:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert pq.read_metadata(__import__("io").BytesIO(body)).num_rows > 0, f"{key} is visible but incomplete"

    resumed = run(load_config((tmp_path / "cfg.json").read_text(), cfg, f"s3://{bucket}/killed", beam_args))
    assert resumed["ingest"].counts == clean["ingest"].counts
    assert [(s.path, s.sha256) for s in resumed["ingest"].outputs] == [(s.path, s.sha256) for s in clean["ingest"].outputs]
    ids = _stage_ids(lambda p: s3.get_object(Bucket=bucket, Key=f"killed/{p}")["Body"].read(), "ingest")[2]
    assert len(ids) == len(set(ids)) == 16 * 300
    assert not [k for k in _keys(s3, bucket, "killed/") if "/.tmp-" in k or k.endswith(".tailmine-lock.json")]


@pytest.mark.parametrize(
    "options, message",
    [
        ([], r"s3://creds/in: no S3 credentials found; pass --s3_access_key_id=\.\.\. --s3_secret_access_key=\.\.\. after '--'"),
        (["--s3_endpoint_url=http://127.0.0.1:9", *KEYS], r"s3://creds/in: cannot reach the S3 endpoint http://127\.0\.0\.1:9 .*set --s3_endpoint_url"),
        (["--s3_access_key_id=testing", "--s3_secret_access_key=testing"], None),  # sanity: the same call works
    ],
)
def test_missing_credentials_or_unreachable_endpoint_fail_before_any_work(s3, endpoint, tmp_path, capsys, options, message):
    from tailmine.cli import main

    bucket = "creds"
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        _make_bucket(s3, bucket)
        s3.put_object(Bucket=bucket, Key="in/a.jsonl", Body=b'{"text": "one small document for the bucket"}\n')
    if not any(o.startswith("--s3_endpoint_url") for o in options):
        options = [*options, f"--s3_endpoint_url={endpoint}", "--s3_region_name=us-east-1"]
    started = time.time()
    rc = main(["ingest", f"s3://{bucket}/in", "--out", f"s3://{bucket}/out", "--force", "--", *TEST_BEAM_ARGS, *options])
    err = capsys.readouterr().err
    if message is None:
        assert rc == 0, err
        return
    assert rc == 2 and len(err.strip().splitlines()) == 1, err
    assert __import__("re").search(message, err), err
    assert time.time() - started < 30, "no retry loop before the error"
    assert not _keys(s3, bucket, "out/"), "nothing was written"


def test_s3_options_in_the_config_beam_args_are_enough(s3, endpoint, tmp_path):
    """`tailmine run` with the --s3_* options in the config's beam_args (nothing after `--`)."""
    from tailmine.cli import main

    bucket = _make_bucket(s3, "cfgopts")
    s3.put_object(Bucket=bucket, Key="in/a.jsonl", Body=b'{"text": "one small document in a bucket, long enough to keep"}\n')
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"inputs": [f"s3://{bucket}/in"], "report": False,
                               "beam_args": [*TEST_BEAM_ARGS, f"--s3_endpoint_url={endpoint}", *KEYS]}))
    assert main(["run", str(cfg), "--out", f"s3://{bucket}/out"]) == 0
    assert json.loads(s3.get_object(Bucket=bucket, Key="out/ingest/manifest.json")["Body"].read())["counts"]["input"] == 1
