"""A longer fuzz run of every ingest reader than the tests do: no crash, every record accounted for.

    python benchmarks/fuzz.py [--iterations 2000] [--seed 0] [--seconds 600]

For each reader (WARC, gzip WARC, WET, ARC, HTML, Gutenberg, JSONL, gzip/zstd JSONL, Parquet) a valid
input is built, then mutated at random (seeded): bytes flipped, ranges deleted or duplicated, the
file cut short, junk inserted. Each mutant runs through ``run_unit`` — the real per-unit ingest path,
shard writing and manifest counts included — and must (1) not raise, (2) balance its counts
(input = output + dropped + quarantined), and (3) give only known reasons. The first failure is
saved under ``--out`` with the seed that made it, so it can be replayed.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import shutil
import sys
import tempfile
import time
import traceback

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from tailmine.demo.sample import WarcRecord, warc_record_bytes
from tailmine.ingest import records as r
from tailmine.ingest.config import IngestConfig
from tailmine.ingest.extract import get_extractor
from tailmine.ingest.unit import Slice, WorkUnit, run_unit

KNOWN = {v for k, v in vars(r).items() if k.isupper() and isinstance(v, str) and v not in (r.DROPPED, r.QUARANTINED)}


def seeds_of_formats() -> dict[str, tuple[str, str, bytes]]:
    page = b"<html><head><title>T</title></head><body><article>" + b"<p>Words of a real enough paragraph here.</p>" * 20 + b"</article></body></html>"
    warc = b"".join(
        warc_record_bytes(rec, gzip=False)
        for rec in [
            WarcRecord("warcinfo", None, b"software: fuzz\r\n", content_type="application/warc-fields"),
            WarcRecord("request", "http://f/a", b"", http_method="GET"),
            WarcRecord("response", "http://f/a", page, http_status=200, http_headers=(("Content-Type", "text/html; charset=utf-8"),)),
            WarcRecord("response", "http://f/b", gzip.compress(page), http_status=200,
                       http_headers=(("Content-Type", "text/html"), ("Content-Encoding", "gzip"))),
            WarcRecord("response", "http://f/c", b"4\r\nabcd\r\n0\r\n\r\n", http_status=200,
                       http_headers=(("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked"))),
        ]
    )
    wet = b"".join(warc_record_bytes(WarcRecord("conversion", f"http://f/{i}", f"plain text number {i} ".encode() * 30, content_type="text/plain")) for i in range(5))
    jsonl = b"".join(json.dumps({"id": i, "text": f"line {i} " * 20, "extra": [i]}).encode() + b"\n" for i in range(50))
    book = ("The Project Gutenberg EBook of X, by Y\n\nTitle: X\n\nAuthor: Y\n\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\n"
            + "A chapter of the book. " * 400 + "\n*** END OF THIS PROJECT GUTENBERG EBOOK X ***\nlicence text\n").encode()
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": [str(i) for i in range(50)], "text": [f"row {i} " * 10 for i in range(50)]}), buf, row_group_size=10)
    arc = b"filedesc://fuzz.arc 0.0.0.0 20080430204825 text/plain 76\n1 0 Fuzz\nURL IP-address Archive-date Content-type Archive-length\n\n" \
          b"http://f/a 1.2.3.4 20080430204825 text/html " + str(len(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + page)).encode() \
          + b"\nHTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + page + b"\n"
    return {
        "warc": ("warc", "f.warc", warc),
        "warc.gz": ("warc", "f.warc.gz", b"".join(gzip.compress(warc_record_bytes(WarcRecord("response", f"http://f/{i}", page, http_status=200, http_headers=(("Content-Type", "text/html"),)), gzip=False), mtime=0) for i in range(4))),
        "wet": ("warc", "f.warc.wet.gz", wet),
        "arc": ("arc", "f.arc", arc),
        "html": ("html", "f.html", page),
        "gutenberg": ("gutenberg", "f.txt", book),
        "jsonl": ("jsonl", "f.jsonl", jsonl),
        "jsonl.gz": ("jsonl", "f.jsonl.gz", gzip.compress(jsonl, mtime=0)),
        "jsonl.zst": ("jsonl", "f.jsonl.zst", zstandard.ZstdCompressor().compress(jsonl)),
        "parquet": ("parquet", "f.parquet", buf.getvalue()),
    }


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        if not out:
            break
        op = rng.random()
        pos = rng.randrange(len(out))
        if op < 0.35:
            out[pos] = rng.randrange(256)
        elif op < 0.55:
            del out[pos : pos + rng.randint(1, 200)]
        elif op < 0.7:
            out[pos:pos] = out[pos : pos + rng.randint(1, 200)]
        elif op < 0.85:
            out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        else:
            del out[pos:]
    return bytes(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000, help="mutants per format")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=600, help="stop after this long in total")
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "tailmine-fuzz-failures"),
                        help="failing inputs are kept here (default: under the temp dir, not in the checkout)")
    args = parser.parse_args(argv)
    cfg = IngestConfig(max_doc_bytes=1 << 20)
    extractor = get_extractor("tailmine")
    started = time.time()
    results = {}
    failures = 0
    work = tempfile.mkdtemp(prefix="tailmine-fuzz-")
    try:
        for name, (fmt, filename, valid) in seeds_of_formats().items():
            done = records = 0
            reasons: dict[str, int] = {}
            for i in range(args.iterations):
                if time.time() - started > args.seconds:
                    break
                seed = (args.seed * 1_000_003 + i) * 31 + len(name)
                rng = random.Random(seed)
                data = mutate(valid, rng)
                case = os.path.join(work, f"{name}-{i}")
                os.makedirs(case)
                path = os.path.join(case, filename)
                with open(path, "wb") as handle:
                    handle.write(data)
                unit = WorkUnit(0, (Slice(path, len(data), fmt, weight=len(data)),))
                try:
                    summary = run_unit(unit, cfg, os.path.join(case, "out"), extractor)
                    counts = summary["counts"]
                    assert counts["input"] == counts["output"] + sum(counts["dropped"].values()) + sum(counts["quarantined"].values())
                    unknown = (set(counts["dropped"]) | set(counts["quarantined"])) - KNOWN
                    assert not unknown, f"unknown reasons {unknown}"
                    records += counts["input"]
                    for reason, n in {**counts["dropped"], **counts["quarantined"]}.items():
                        reasons[reason] = reasons.get(reason, 0) + n
                except Exception:
                    failures += 1
                    os.makedirs(args.out, exist_ok=True)
                    keep = os.path.join(args.out, f"{name}-seed{seed}-{filename}")
                    shutil.copy(path, keep)
                    print(f"FAIL {name} iteration {i} seed {seed}: saved {keep}\n{traceback.format_exc()}", file=sys.stderr)
                finally:
                    shutil.rmtree(case, ignore_errors=True)
                done += 1
            results[name] = {"mutants": done, "records": records, "reasons": dict(sorted(reasons.items()))}
            print(f"{name:<10} {done:>6} mutants  {records:>8} records  {json.dumps(results[name]['reasons'])}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{sum(r['mutants'] for r in results.values())} mutants, {failures} failures, {time.time() - started:.0f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
