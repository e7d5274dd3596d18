"""Hostile input: decompression and size bombs, records that break parsers, inputs that cannot be read.

Every case is generated here, at test time, and never stored inflated: a 2 GiB bomb is one small
compressed member of zeros written many times (gzip members, zstd frames and bzip2 streams may be
concatenated), the 1 GiB JSONL line is a hole in a sparse file. One ``tailmine ingest`` run over all
of them, in a child process, must stay under 1 GiB of peak RSS, finish without a traceback, and count
every record of every file under its expected reason.
"""
from __future__ import annotations

import bz2
import gzip
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

GiB = 1 << 30
MiB = 1 << 20
RSS_LIMIT = GiB
MAX_DOC_BYTES = MiB  # the run's --max-doc-bytes: hostile cells and lines are judged against it
ZEROS = bytes(8 * MiB)
GOOD = [json.dumps({"id": f"good-{i}", "text": f"A good record number {i}, with some words in it."}).encode() + b"\n" for i in range(3)]

# ------------------------------------------------------------------------------- generators


def _repeat_member(path: Path, head: bytes, member: bytes, total: int) -> None:
    """``head`` then ``member`` (one compressed unit of ZEROS) repeated until ``total`` bytes inflate."""
    with open(path, "wb") as out:
        out.write(head)
        for _ in range(total // len(ZEROS)):
            out.write(member)


def zstd_bomb(path: Path, total: int = 2 * GiB) -> None:
    import zstandard

    c = zstandard.ZstdCompressor(level=3)
    _repeat_member(path, c.compress(b"".join(GOOD)), c.compress(ZEROS), total)


def gzip_bomb(path: Path, total: int = 2 * GiB) -> None:
    _repeat_member(path, gzip.compress(b"".join(GOOD), 1), gzip.compress(ZEROS, 1), total)


def bz2_bomb(path: Path, total: int = 128 * MiB) -> None:
    # bzip2 compresses slowly (~0.1 s per 8 MiB of zeros, once); 128 MiB passes the 64 MiB grace
    _repeat_member(path, bz2.compress(b"".join(GOOD)), bz2.compress(ZEROS), total)


HTML = b"<html><head><title>Fine page</title></head><body><article><p>" + b"A normal paragraph of text. " * 20 + b"</p></article></body></html>"


def warc_record(kind: str, uri: str, block_length: int, extra: str = "") -> bytes:
    return (
        f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Record-ID: <urn:uuid:{abs(hash(uri)) % 10**12:012d}-0000-0000-0000-000000000000>\r\n"
        f"WARC-Target-URI: {uri}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n{extra}Content-Length: {block_length}\r\n\r\n"
    ).encode()


def http_response(body: bytes, headers: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n{headers}Content-Length: {len(body)}\r\n\r\n".encode() + body


def good_response(uri: str) -> bytes:
    block = http_response(HTML)
    return warc_record("response", uri, len(block), "Content-Type: application/http; msgtype=response\r\n") + block + b"\r\n\r\n"


def bomb_head(total: int) -> bytes:
    """One good response, then the head of an HTTP response whose body is ``total`` bytes still to come
    (a response, not a resource record: only responses become documents, so only they reach the size limit)."""
    http = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {total}\r\n\r\n".encode()
    kind = "Content-Type: application/http; msgtype=response\r\n"
    return good_response("http://example.com/fine") + warc_record("response", "http://example.com/bomb", len(http) + total, kind) + http


def zstd_warc_bomb(path: Path, total: int = 2 * GiB) -> None:
    """One good response, then a response with a 2 GiB body of zeros: ~70 KB of zstd."""
    import zstandard

    c = zstandard.ZstdCompressor(level=3)
    head = bomb_head(total)
    zeros = c.compress(ZEROS)
    with open(path, "wb") as out:
        out.write(c.compress(head))
        for _ in range(total // len(ZEROS)):
            out.write(zeros)
        out.write(c.compress(b"\r\n\r\n"))


def bz2_warc_bomb(path: Path, total: int = 128 * MiB) -> None:
    """A .warc.bz2 (fastwarc cannot read bzip2: tailmine inflates it for fastwarc, under the limits)."""
    head = bomb_head(total)
    _repeat_member(path, bz2.compress(head), bz2.compress(ZEROS), total)
    with open(path, "ab") as out:
        out.write(bz2.compress(b"\r\n\r\n"))


def brotli_warc_bomb(path: Path, total: int = GiB) -> None:
    """A .warc.gz whose one response says Content-Encoding: br over ~1 GiB of brotli-packed bytes."""
    import brotli

    packer = brotli.Compressor(quality=1)  # ~190 KB for 1 GiB in 0.6 s (quality 11 packs it into ~700 bytes, slowly)
    chunk = b"a" * (8 * MiB)
    body = b"".join(packer.process(chunk) for _ in range(total // len(chunk))) + packer.finish()
    block = http_response(body, "Content-Encoding: br\r\n")
    record = warc_record("response", "http://example.com/br", len(block), "Content-Type: application/http; msgtype=response\r\n") + block + b"\r\n\r\n"
    path.write_bytes(gzip.compress(good_response("http://example.com/ok")) + gzip.compress(record))


def sparse_huge_line(path: Path, length: int = GiB) -> None:
    """Three good lines, one line of ``length`` NUL bytes (a hole: no disk used), three more good lines."""
    with open(path, "wb") as out:
        out.writelines(GOOD)
        out.write(b'{"text": "')
        out.seek(length, os.SEEK_CUR)
        out.write(b'"}\n')
        out.writelines(GOOD)


NESTED_LINES = [
    GOOD[0],
    GOOD[1],
    b"[" * 100_000 + b"\n",  # valid-looking JSON deeper than any parser's recursion limit
    GOOD[2],
    b'{"text": "a bad \\x escape"}\n',
    json.dumps({"text": "after the bad lines"}).encode() + b"\n",
    b'{"text": "a lone surrogate \\ud800"}\n',
]


def big_cell_parquet(path: Path, cell: int) -> None:
    """Row groups: [2 small], [one cell of ``cell`` bytes, 1 small], [one 2 MiB cell, 1 small]."""
    small = "A small Parquet document with enough words to keep."
    rows = [small, small, "x" * cell, small, "y" * (2 * MiB), small]
    table = pa.table({"text": rows, "n": list(range(len(rows)))})
    del rows
    pq.write_table(table, path, row_group_size=2, compression="zstd", use_dictionary=False)


# ------------------------------------------------------------------------------- the run


def run_measured(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``args`` in a child and return it with the peak RSS (bytes) of any process it waited for."""
    probe = (
        "import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
        "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(p.returncode)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", probe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    peak = [line for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KB")]
    assert peak, done.stderr[-2000:]
    return done, int(peak[-1].split()[1]) * 1024


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    inputs = root / "in"
    inputs.mkdir()
    zstd_bomb(inputs / "bomb.jsonl.zst")
    gzip_bomb(inputs / "bomb.jsonl.gz")
    bz2_bomb(inputs / "bomb.jsonl.bz2")
    zstd_warc_bomb(inputs / "bomb.warc.zst")
    bz2_warc_bomb(inputs / "bomb.warc.bz2")
    brotli_warc_bomb(inputs / "br-bomb.warc.gz")
    sparse_huge_line(inputs / "huge-line.jsonl")
    (inputs / "nested.jsonl").write_bytes(b"".join(NESTED_LINES))
    big_cell_parquet(inputs / "big-cell.parquet", 32 * MiB)  # over the 8 MiB read budget of a 1 MiB max_doc_bytes
    links = inputs / "links"
    links.mkdir()
    os.symlink("loop", links / "loop")  # a link to itself
    os.symlink("nowhere.jsonl", links / "dangling.jsonl")
    os.symlink("..", links / "up")  # a folder loop
    os.mkfifo(inputs / "pipe.jsonl")  # opening a FIFO would block forever; root cannot read it either
    with open(os.path.join(os.fsencode(inputs), b"caf\xe9-latin1.jsonl"), "wb") as out:
        out.write(GOOD[0])
    out_dir = root / "out"
    done, peak = run_measured(
        [sys.executable, "-m", "tailmine.cli", "ingest", str(inputs), "--out", str(out_dir), "--max-doc-bytes", str(MAX_DOC_BYTES), "--no-progress"],
        root,
    )
    manifest = json.loads((out_dir / "manifest.json").read_text()) if (out_dir / "manifest.json").exists() else None
    return {"done": done, "peak": peak, "manifest": manifest, "out": out_dir, "inputs": inputs}


def _table(out: Path, sub: str) -> pa.Table:
    files = sorted((out / sub).glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else pa.table({"source_file": pa.array([], pa.string())})


def test_peak_rss_stays_under_one_gib(hostile):
    assert hostile["done"].returncode == 0, hostile["done"].stderr[-3000:]
    assert hostile["peak"] <= RSS_LIMIT, f"peak RSS {hostile['peak'] / MiB:.0f} MiB"


def test_no_traceback_and_a_summary(hostile):
    done = hostile["done"]
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert done.stdout.startswith("ingest:")
    assert not list(hostile["out"].rglob(".tmp-*")), "a temporary shard was left behind"


EXPECTED = {
    # file name: Counter of outcome -> records (ok = a document)
    "bomb.jsonl.zst": {"ok": 3, "decompression_limit": 1},
    "bomb.jsonl.gz": {"ok": 3, "decompression_limit": 1},
    "bomb.jsonl.bz2": {"ok": 3, "decompression_limit": 1},
    "bomb.warc.zst": {"ok": 1, "document_too_large": 1},
    "bomb.warc.bz2": {"ok": 1, "document_too_large": 1, "decompression_limit": 1},
    "br-bomb.warc.gz": {"ok": 1, "document_too_large": 1},
    "huge-line.jsonl": {"ok": 6, "document_too_large": 1},
    "nested.jsonl": {"ok": 4, "invalid_json": 2, "undecodable_bytes": 1},
    "big-cell.parquet": {"ok": 3, "document_too_large": 3},
    "loop": {"broken_link": 1},
    "dangling.jsonl": {"broken_link": 1},
    "up": {"broken_link": 1},
    "pipe.jsonl": {"unreadable_file": 1},
    "caf\\xe9-latin1.jsonl": {"ok": 1},
}


def test_every_record_of_every_file_is_counted(hostile):
    manifest = hostile["manifest"]
    counts = manifest["counts"]
    assert counts["input"] == counts["output"] + sum(counts["dropped"].values()) + sum(counts["quarantined"].values())
    expected = Counter()
    for outcomes in EXPECTED.values():
        expected.update(outcomes)
    assert counts["input"] == sum(expected.values())
    assert counts["output"] == expected["ok"]
    got = Counter({**counts["dropped"], **counts["quarantined"]})
    assert got == Counter({k: v for k, v in expected.items() if k != "ok"})


def test_documents_and_quarantine_per_file(hostile):
    docs = Counter(Path(p).name for p in _table(hostile["out"], "docs").column("source_file").to_pylist())
    quarantine = _table(hostile["out"], "quarantine").to_pylist()
    for name, outcomes in EXPECTED.items():
        assert docs[name] == outcomes.get("ok", 0), name
        quarantined = Counter(q["reason"] for q in quarantine if Path(q["source_file"]).name == name)
        for reason, n in quarantined.items():
            assert outcomes.get(reason) == n, (name, reason)
    assert sum(docs.values()) == sum(o.get("ok", 0) for o in EXPECTED.values())


def test_unreadable_inputs_are_listed_with_their_problem(hostile):
    inputs = {Path(i["path"]).name: i for i in hostile["manifest"]["inputs"]}
    assert inputs["loop"]["problem"] == "broken_link" and "loop" in inputs["loop"]["detail"]
    assert "dangling" in inputs["dangling.jsonl"]["detail"]
    assert inputs["pipe.jsonl"]["problem"] == "unreadable_file"
    latin = inputs["caf\\xe9-latin1.jsonl"]
    assert bytes.fromhex(latin["path_bytes_hex"]).endswith(b"/caf\xe9-latin1.jsonl")  # the exact name bytes
    assert "problem" not in inputs["nested.jsonl"]


def test_parquet_giant_cell_is_never_decoded(tmp_path):
    """A 128 MiB cell (over the default 128 MiB read budget once its neighbour is added): decoding it
    would cost >= 128 MiB in the reader, skipping it from the page headers costs nothing. Compared with
    a reader of the same file without the cell, each in a child. (1 GiB would take ~10 s to write.)"""
    big, small = tmp_path / "big.parquet", tmp_path / "small.parquet"
    big_cell_parquet(big, 129 * MiB)
    big_cell_parquet(small, 1024)
    read = (
        "import sys; from collections import Counter; from tailmine.ingest.config import IngestConfig; "
        "from tailmine.ingest.parquet import read_parquet; "
        "print(sorted(Counter(getattr(o, 'reason', 'ok') for o in read_parquet(sys.argv[1], IngestConfig())).items()))"
    )
    runs = {}
    for path in (big, small):
        done, peak = run_measured([sys.executable, "-c", read, str(path)], tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        runs[path.name] = (done.stdout.strip(), peak)
    assert runs["big.parquet"][0] == "[('document_too_large', 2), ('ok', 4)]"
    assert runs["small.parquet"][0] == "[('ok', 6)]"
    assert runs["big.parquet"][1] - runs["small.parquet"][1] < 64 * MiB, {k: v[1] / MiB for k, v in runs.items()}


# ------------------------------------------------------------------------------- simulated failures


def test_unlistable_folder_is_quarantined(tmp_path, monkeypatch):
    """A folder without read permission (simulated: tests run as root in CI, and root reads anything)."""
    from tailmine import fileio

    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.jsonl").write_bytes(GOOD[0])
    (tmp_path / "locked").mkdir()
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    files = {Path(f.path).name: f for f in fileio.expand_inputs([str(tmp_path)])}
    assert files["a.jsonl"].problem == ""
    assert files["locked"].problem == "unreadable_file" and "Permission denied" in files["locked"].detail


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files and folders whatever their permission bits")
def test_unreadable_file_and_folder_by_permission(tmp_path):
    from tailmine import fileio

    (tmp_path / "secret.jsonl").write_bytes(GOOD[0])
    (tmp_path / "secret.jsonl").chmod(0)
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked").chmod(0)
    try:
        files = {Path(f.path).name: f.problem for f in fileio.expand_inputs([str(tmp_path)])}
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert files == {"secret.jsonl": "unreadable_file", "locked": "unreadable_file"}


def test_file_that_cannot_be_opened_is_unreadable_not_corrupt(tmp_path, monkeypatch):
    from tailmine.ingest import unit as unit_module
    from tailmine.ingest.config import IngestConfig
    from tailmine.ingest.unit import Slice

    path = tmp_path / "a.jsonl"
    path.write_bytes(GOOD[0])

    def refuse(p):
        raise PermissionError(13, "Permission denied", p)

    monkeypatch.setattr(unit_module, "open_raw", refuse)
    outcomes = list(unit_module._outcomes(Slice(str(path), path.stat().st_size, "jsonl"), IngestConfig(), None))
    assert [(o.reason, o.action) for o in outcomes] == [("unreadable_file", "quarantined")]


# ------------------------------------------------------------------------------- models and storage


def _tiny_fasttext_bin(tmp_path: Path) -> bytes:
    """A real model.bin, trained the project's way (in a child: fastText in a used process can hit NaN)."""
    from tailmine.classifiers.fasttext_model import FastTextParams, train_fasttext

    texts = [f"fine words number {i % 7}" for i in range(50)] + [f"spam click buy {i % 5}" for i in range(50)]
    train_fasttext(texts, [1] * 50 + [0] * 50, FastTextParams(dim=8, epoch=1, bucket=1000), 0, str(tmp_path / "model.bin"))
    return (tmp_path / "model.bin").read_bytes()


def _model_dir(root: Path, kind: str, files: dict[str, bytes]) -> str:
    """A model folder whose card carries the sha256 of ``files``: the hash matches, the content is hostile."""
    import hashlib

    root.mkdir()
    for name, data in files.items():
        (root / name).write_bytes(data)
    card = {"name": f"quality_{kind}_v1", "kind": kind, "metrics": {}, "files": {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}}
    (root / "card.json").write_text(json.dumps(card))
    return str(root)


class _RunsCode:
    """Unpickling this would run a shell command that leaves a marker file."""

    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.strip() and not line.startswith(("WARNING", "PEAK_RSS_KB"))]


def test_hostile_models_fail_as_one_line_before_any_work(tmp_path):
    """A 300-byte truncated fastText model.bin and a pickle that would run code, each with a card whose
    sha256 was updated to match: one error line naming the file, before any work. The fastText case runs
    the real command in a child (its old failure was a 6 GiB allocation); the pickle is checked in process."""
    import pickle

    from tailmine.classifiers.card import ModelError, verify_model_files

    truncated = _model_dir(tmp_path / "ft", "fasttext", {"model.bin": _tiny_fasttext_bin(tmp_path)[:300]})
    args = [sys.executable, "-m", "tailmine.cli", "classify", "score", "--in", str(tmp_path / "none"), "--model", truncated, "--out", str(tmp_path / "out")]
    done, peak = run_measured(args, tmp_path)
    lines = _error_lines(done)
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith(f"tailmine: error: {truncated}/model.bin: not a complete fastText model")
    assert peak < RSS_LIMIT  # (the unchecked fastText loader allocated 6 GiB for this file)
    _RunsCode.marker = str(tmp_path / "pwned")
    evil = _model_dir(tmp_path / "pt", "torch", {"vocab.json": b"{}", "model.pt": pickle.dumps({"weight": _RunsCode()})})
    with pytest.raises(ModelError) as caught:
        verify_model_files(evil)
    assert "\n" not in str(caught.value) and str(caught.value).startswith(f"{evil}/model.pt: not a torch checkpoint")
    assert not (tmp_path / "pwned").exists()


def test_model_loaders_check_structure_before_native_code(tmp_path):
    import torch

    from tailmine.classifiers.card import ModelError, check_weights
    from tailmine.classifiers.fasttext_model import check_fasttext_bin

    whole = _tiny_fasttext_bin(tmp_path)
    check_fasttext_bin(whole, "model.bin")  # a real model passes
    for cut in (300, len(whole) - 1):
        with pytest.raises(ModelError, match="not a complete fastText model"):
            check_fasttext_bin(whole[:cut], "model.bin")
    with pytest.raises(ModelError, match="bytes follow the output matrix"):
        check_fasttext_bin(whole + b"\0", "model.bin")
    _RunsCode.marker = str(tmp_path / "pwned")
    import io

    packed = io.BytesIO()
    torch.save({"weight": _RunsCode()}, packed)  # a real torch zip checkpoint whose pickle would run code
    with pytest.raises(ModelError) as caught:
        check_weights("torch", "m/model.pt", packed.getvalue())
    assert "\n" not in str(caught.value) and "cannot load the torch weights safely" in str(caught.value)
    assert not (tmp_path / "pwned").exists()
    good = io.BytesIO()
    torch.save({"weight": torch.zeros(2)}, good)
    check_weights("torch", "m/model.pt", good.getvalue())


def test_disk_full_and_permission_denied_are_one_line(tmp_path, monkeypatch, capsys):
    from conftest import TEST_BEAM_ARGS
    from tailmine import cli
    from tailmine.pipelines import ingest
    from tailmine.schemas import shards

    (tmp_path / "a.jsonl").write_bytes(b"".join(GOOD))

    def full(path):
        raise OSError(28, "No space left on device", path)

    monkeypatch.setattr(shards, "create_hashing", full)
    argv = ["ingest", str(tmp_path / "a.jsonl"), "--out", str(tmp_path / "out"), "--no-progress", "--", *TEST_BEAM_ARGS]
    assert cli.main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("tailmine: error: No space left on device") and "--resume" in err[0], err

    def refused(out_dir, force, resume):
        raise PermissionError(13, "Permission denied", out_dir)

    monkeypatch.setattr(ingest, "prepare_output", refused)
    assert cli.main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == [f"tailmine: error: Permission denied: {tmp_path / 'out'}; give this user access to it (write for --out, read for inputs and models) or choose another --out"]


def test_an_output_folder_that_cannot_be_written_fails_before_any_work(tmp_path, monkeypatch, capsys):
    """Checked on the driver with an unnamed temporary file: otherwise every worker fails and prints
    its traceback. (A read-only file system is simulated; root may write anywhere else.)"""
    import tempfile

    from tailmine import cli
    from tailmine.pipelines import ingest

    (tmp_path / "a.jsonl").write_bytes(GOOD[0])
    started = []
    monkeypatch.setattr(ingest, "run", lambda *a, **k: started.append(a))

    def read_only(dir=None, **kw):
        raise OSError(30, "Read-only file system", os.path.join(dir, "tmpXYZ"))

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    out = tmp_path / "not" / "yet" / "out"
    assert cli.main(["ingest", str(tmp_path / "a.jsonl"), "--out", str(out), "--no-progress"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"tailmine: error: Read-only file system: {out}; the file system is read-only: choose another --out"]
    assert not started and not (tmp_path / "not").exists()


def test_storage_errors_are_recognised_through_beam_wrapping():
    from tailmine.cli import storage_error_line

    wrapped = RuntimeError("Traceback (most recent call last):\n  ...\nOSError: [Errno 28] No space left on device: '/data/out/docs/.tmp-part-00000-000.parquet' [while running 'IngestUnit']")
    assert storage_error_line(wrapped).startswith("No space left on device: /data/out/docs/.tmp-part-00000-000.parquet; free some space")
    assert storage_error_line(ValueError("[Errno 2] No such file or directory: 'x'")) is None  # not a storage problem
    assert storage_error_line(KeyError("text")) is None


def test_inputs_that_must_be_read_fail_naming_each_broken_one(tmp_path):
    """Evaluation sets are not quarantined record by record: a broken entry stops decontaminate at once."""
    from tailmine.errors import InputError
    from tailmine.fileio import readable_inputs

    (tmp_path / "eval.jsonl").write_bytes(GOOD[0])
    os.symlink("gone.jsonl", tmp_path / "dangling.jsonl")
    with pytest.raises(InputError, match=r"cannot read: .*dangling\.jsonl \(broken_link: dangling symlink to 'gone\.jsonl'\)"):
        readable_inputs([str(tmp_path)])
    assert [Path(f.path).name for f in readable_inputs([str(tmp_path / "eval.jsonl")])] == ["eval.jsonl"]
