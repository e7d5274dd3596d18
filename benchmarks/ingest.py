"""Benchmark the ingest stage end to end on real crawl, web-page and book files, per core.

    python benchmarks/ingest.py --corpora /work/shared/corpora [--work DIR] [--repeat 3] [--out results.json]

Inputs (all built under ``--work``, a temp dir by default; the corpora are only read):

* ``warc-pages``: the ~1,344 real HTML pages of ``web/html/*.tar.gz`` (Scrapinghub AEB, Mozilla
  Readability test pages, trafilatura eval + cache) packed into 4 WARC files the way Common Crawl
  writes them: one gzip member per record (zlib level 6), a warcinfo record, then a request +
  response pair per page with ``HTTP/1.1 200 OK`` and ``Content-Type: text/html`` (``; charset=``
  when the bytes are valid UTF-8 or the page declares one in ``<meta>``).
* ``warc-pages-xN`` (with ``--page-copies N``): the same 4 WARC files N times over (symlinks in N
  folders, so the ids differ by path), a ~40·N MB input on which Beam's fixed start-up weighs what it
  weighs in a real job (a Common Crawl WARC file alone is ~1 GB), next to the ~3-second runs above.
* ``warc-cc``: the real WARC files ``web/warc/*.warc.gz`` (about 0.65 MB), replicated ``--cc-copies``
  times through symlinks (the ids differ by path) so the run lasts more than Beam's start-up.
* ``wet``: one WET file (warcinfo + ``conversion`` records, gzip per record) of real text: the 128
  Gutenberg books cut into ~5 KB chunks at paragraph breaks, plus the CCNet documents.
* ``jsonl``: the same chunks and CCNet documents as one ``.jsonl.gz`` (one gzip stream, level 6).
* ``books``: ``books/gutenberg/`` as it is (128 ``.txt.gz`` books).

Each ingest runs in its own subprocess through ``tailmine.pipelines.ingest.run`` (the code behind
``tailmine ingest``) with one worker (``--direct_running_mode=in_memory --direct_num_workers=1``),
``--repeat`` times; the fastest run is reported. Time = the ``run()`` call (Beam pipeline start,
planning, reading, extraction, Parquet writing, manifest), not the interpreter start. Peak RSS = the
child's VmHWM (the driver, which does all the work with one in-memory worker); with the
multi-processing runner the largest worker's ``ru_maxrss`` is given too. MB/s is given for file bytes as stored (compressed) and
for decompressed bytes. One run per kind also uses the default multi-processing DirectRunner.

On the packed pages, the same run also gives: the end-to-end rate with each extractor
(``--extractor tailmine|resiliparse|trafilatura``), quality of the ingested text (mean token F1 on
Scrapinghub and Readability, snippet score on trafilatura's eval set, via the functions of
``benchmarks/extraction.py``), the extractors alone on the same pages (also from
``benchmarks/extraction.py``), an in-process stage breakdown (gzip, WARC parsing, decoding,
extraction, Parquet writing, Beam) and a cProfile top list of one single-worker run.
"""
from __future__ import annotations

import argparse
import cProfile
import gzip
import io
import json
import os
import platform
import pstats
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SINGLE = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
MULTI: list[str] = []  # tailmine's defaults: multi_processing, one worker per core
GZIP_LEVEL = 6
N_WARC_FILES = 4
CHUNK_CHARS = 5000
KINDS = ("warc-pages", "warc-cc", "wet", "jsonl", "books")
SET_PREFIX = {"scrapinghub": "http://scrapinghub.bench/", "readability": "http://readability.bench/",
              "trafilatura_eval": "http://trafilatura.bench/"}


# ----------------------------------------------------------------------------------------- inputs
def extract_tarballs(corpora: Path, dest: Path) -> dict[str, Path]:
    """``{set: dir}`` for each tarball of benchmarks/extraction.py found under ``corpora``."""
    from extraction import TARBALLS

    roots = {}
    for set_name, tarball in TARBALLS.items():
        tar_path = corpora / "web" / "html" / tarball
        if not tar_path.exists():
            print(f"[skip] {set_name}: {tar_path} not found", file=sys.stderr)
            continue
        root = dest / set_name
        if not root.exists():
            tmp = dest / f".{set_name}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            with tarfile.open(tar_path) as tf:
                tf.extractall(tmp, filter="data") if hasattr(tarfile, "data_filter") else tf.extractall(tmp)
            tmp.rename(root)
        roots[set_name] = root
    return roots


def page_uri(set_name: str, root: Path, path: Path) -> str:
    from urllib.parse import quote

    return SET_PREFIX[set_name] + quote(path.relative_to(root).as_posix())


def page_files(roots: dict[str, Path]) -> list[tuple[str, Path]]:
    """(uri, path) of every real HTML page in the three sets (not the expected.html answers)."""
    pages = []
    for set_name, root in roots.items():
        if set_name == "readability":
            files = sorted(root.rglob("source.html"))
        elif set_name == "scrapinghub":
            files = sorted(p for p in root.rglob("*.html") if p.parent.name == "html")
        else:
            files = sorted(p for p in root.rglob("*") if p.is_file() and p.parent.name in ("eval", "cache"))
        for path in files:
            pages.append((page_uri(set_name, root, path), path))
    return pages


def _warcinfo(name: str):
    from tailmine.demo.sample import WarcRecord

    fields = f"software: tailmine benchmarks/ingest.py\r\nformat: WARC File Format 1.0\r\nfilename: {name}\r\n"
    return WarcRecord("warcinfo", payload=fields.encode(), content_type="application/warc-fields")


def _member(record) -> bytes:
    from tailmine.demo.sample import warc_record_bytes

    return gzip.compress(warc_record_bytes(record, gzip=False), GZIP_LEVEL, mtime=0)


def _charset(raw: bytes) -> str | None:
    from tailmine.ingest.decode import meta_charset, normalize_encoding

    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        declared = meta_charset(raw)
        return declared if normalize_encoding(declared) else None


def build_warc_pages(pages: list[tuple[str, Path]], out: Path) -> dict:
    from tailmine.demo.sample import WarcRecord

    out.mkdir(parents=True, exist_ok=True)
    per_file = -(-len(pages) // N_WARC_FILES)
    raw_html = decompressed = 0
    for i in range(N_WARC_FILES):
        name = f"pages-{i:02d}.warc.gz"
        members = [_member(_warcinfo(name))]
        for uri, path in pages[i * per_file:(i + 1) * per_file]:
            raw = path.read_bytes()
            raw_html += len(raw)
            charset = _charset(raw)
            ctype = f"text/html; charset={charset}" if charset else "text/html"
            host = uri.split("/")[2]
            members.append(_member(WarcRecord("request", uri, http_method="GET",
                                              http_headers=(("Host", host), ("User-Agent", "tailmine-bench/1.0")))))
            members.append(_member(WarcRecord("response", uri, payload=raw, http_status=200,
                                              http_headers=(("Content-Type", ctype), ("Content-Length", str(len(raw)))))))
        data = b"".join(members)
        decompressed += gunzip_len(data)
        (out / name).write_bytes(data)
    return {"pages": len(pages), "html_bytes": raw_html, "decompressed_bytes": decompressed}


def text_chunks(corpora: Path) -> list[tuple[str, str]]:
    """(url, text): Gutenberg books (licence kept: it is real text too) in ~5 KB paragraph chunks, then CCNet docs."""
    chunks = []
    for book in sorted((corpora / "books" / "gutenberg").glob("*.txt.gz")):
        text = gzip.decompress(book.read_bytes()).decode("utf-8-sig", "replace").replace("\r\n", "\n")
        buf, size, n = [], 0, 0
        for para in re.split(r"\n\s*\n", text):
            para = para.strip()
            if not para:
                continue
            buf.append(para)
            size += len(para) + 2
            if size >= CHUNK_CHARS:
                chunks.append((f"http://gutenberg.bench/{book.name}/{n}", "\n\n".join(buf)))
                buf, size, n = [], 0, n + 1
        if buf:
            chunks.append((f"http://gutenberg.bench/{book.name}/{n}", "\n\n".join(buf)))
    for shard in sorted((corpora / "web" / "ccnet").glob("*.jsonl.gz")):
        for line in gzip.decompress(shard.read_bytes()).splitlines():
            if line.strip():
                obj = json.loads(line)
                chunks.append((obj.get("metadata", {}).get("url") or obj["id"], obj["text"]))
    return chunks


def build_wet(chunks: list[tuple[str, str]], path: Path) -> dict:
    from tailmine.demo.sample import WarcRecord

    members = [_member(_warcinfo(path.name))]
    for url, text in chunks:
        members.append(_member(WarcRecord("conversion", url, payload=text.encode("utf-8"), content_type="text/plain",
                                          warc_headers=(("WARC-Identified-Content-Language", "eng"),))))
    data = b"".join(members)
    path.write_bytes(data)
    return {"records": len(chunks), "decompressed_bytes": gunzip_len(data)}


def build_jsonl(chunks: list[tuple[str, str]], path: Path) -> dict:
    raw = b"".join(json.dumps({"id": f"bench-{i}", "url": url, "text": text, "source": "bench"},
                              ensure_ascii=False).encode() + b"\n" for i, (url, text) in enumerate(chunks))
    path.write_bytes(gzip.compress(raw, GZIP_LEVEL, mtime=0))
    return {"records": len(chunks), "decompressed_bytes": len(raw)}


def gunzip_len(data: bytes) -> int:
    """Decompressed size of (multi-member) gzip data, counting what is readable of a truncated file."""
    total = 0
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
        try:
            while chunk := handle.read(1 << 13):
                total += len(chunk)
        except (EOFError, OSError):
            pass
    return total


def link_copies(files: list[Path], out: Path, copies: int) -> None:
    """``files`` ``copies`` times over as symlinks in ``out/copyNN/`` (the ids differ by path)."""
    for c in range(copies):
        d = out / f"copy{c:02d}"
        d.mkdir(parents=True, exist_ok=True)
        for f in files:
            link = d / f.name
            if not link.exists():
                link.symlink_to(f)


def build_cc(corpora: Path, out: Path, copies: int) -> dict:
    files = sorted((corpora / "web" / "warc").glob("*.warc.gz"))
    decompressed = sum(gunzip_len(f.read_bytes()) for f in files)
    link_copies(files, out, copies)
    return {"files": len(files) * copies, "decompressed_bytes": decompressed * copies}


def build_page_copies(work: Path, copies: int) -> dict:
    """``warc-pages`` ``copies`` times over, as symlinks (built on top of a finished ``build_inputs``)."""
    out = work / f"warc-pages-x{copies}"
    link_copies(sorted((work / "warc-pages").glob("*.warc.gz")), out, copies)
    return {"inputs": [str(out)], "copies": copies}


def build_inputs(corpora: Path, work: Path, roots: dict[str, Path], cc_copies: int) -> dict[str, dict]:
    """``{kind: {"inputs": [...], "file_bytes", "decompressed_bytes", ...}}``; a kind missing its data is left out."""
    inputs: dict[str, dict] = {}
    marker = work / "inputs.json"
    if marker.exists():  # built by an earlier run with the same --work
        return json.loads(marker.read_text())
    t0 = time.perf_counter()
    pages = page_files(roots)
    if pages:
        info = build_warc_pages(pages, work / "warc-pages")
        inputs["warc-pages"] = {"inputs": [str(work / "warc-pages")], **info}
    if list((corpora / "web" / "warc").glob("*.warc.gz")):
        info = build_cc(corpora, work / "warc-cc", cc_copies)
        inputs["warc-cc"] = {"inputs": [str(work / "warc-cc")], "copies": cc_copies, **info}
    if (corpora / "books" / "gutenberg").is_dir():
        chunks = text_chunks(corpora)
        (work / "wet").mkdir(exist_ok=True)
        (work / "jsonl").mkdir(exist_ok=True)
        inputs["wet"] = {"inputs": [str(work / "wet")], **build_wet(chunks, work / "wet" / "text.warc.wet.gz")}
        inputs["jsonl"] = {"inputs": [str(work / "jsonl")], **build_jsonl(chunks, work / "jsonl" / "text.jsonl.gz")}
        books = sorted((corpora / "books" / "gutenberg").glob("*"))
        inputs["books"] = {"inputs": [str(corpora / "books" / "gutenberg")], "records": len(books),
                           "decompressed_bytes": sum(gunzip_len(b.read_bytes()) if b.suffix == ".gz"
                                                     else b.stat().st_size for b in books)}
    for info in inputs.values():
        info["file_bytes"] = sum(f.stat().st_size for d in info["inputs"] for f in Path(d).rglob("*") if f.is_file())
    print(f"[inputs] built in {time.perf_counter() - t0:.1f}s: " +
          ", ".join(f"{k} {v['file_bytes'] / 1e6:.1f} MB" for k, v in inputs.items()), file=sys.stderr)
    marker.write_text(json.dumps(inputs, indent=2))
    return inputs


# ------------------------------------------------------------------------------------ ingest runs
PLAIN = ("plain-resiliparse", "plain-tailmine-extractor")


def plain_loop(inputs: list[str], out: str, extractor: str) -> dict:
    """The reference a user would write without tailmine: fastwarc over each WARC file (response records
    only), resiliparse's encoding detection, the HTML extractor, and one zstd Parquet file of
    ``(url, text)`` per input file. ``extractor``: ``resiliparse`` (``extract_plain_text(main_content=True)``)
    or ``tailmine`` (tailmine's extractor function, nothing else of tailmine)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding
    from resiliparse.parse.html import HTMLTree

    from tailmine.ingest.extract import extract_main_text

    files = sorted(str(f) for d in inputs for f in (Path(d).rglob("*.warc.gz") if Path(d).is_dir() else [Path(d)]))
    Path(out).mkdir(parents=True, exist_ok=True)
    docs = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for i, path in enumerate(files):
        urls, texts = [], []
        with open(path, "rb") as stream:
            for rec in ArchiveIterator(stream, record_types=WarcRecordType.response, parse_http=True):
                body = rec.reader.read()
                html = bytes_to_str(body, detect_encoding(body))
                if extractor == "resiliparse":
                    text = extract_plain_text(HTMLTree.parse(html), main_content=True)
                else:
                    text = extract_main_text(html).text
                if text.strip():
                    urls.append(rec.headers.get("WARC-Target-URI"))
                    texts.append(text)
        pq.write_table(pa.table({"url": urls, "text": texts}), f"{out}/part-{i:05d}.parquet", compression="zstd")
        docs += len(texts)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "counts": {"output": docs, "input": docs}}


def child(spec_path: str) -> int:
    """Run one ingest (or the plain reference loop) as told by the spec file; print one JSON line."""
    import logging

    logging.disable(logging.WARNING)
    spec = json.loads(Path(spec_path).read_text())
    if spec["extractor"] in PLAIN:
        import fastwarc.warc, pyarrow.parquet, resiliparse.extract.html2text  # noqa: E401,F401 - imports outside the timing
        import tailmine.ingest.extract  # noqa: F401

        result = plain_loop(spec["inputs"], spec["out"], spec["extractor"].rsplit("-", 1)[-1] if spec["extractor"] == "plain-resiliparse" else "tailmine")
        hwm = next((int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")), 0)
        print("RESULT " + json.dumps({**result, "peak_rss_mb": hwm / 1024, "worker_rss_mb": 0}))
        return 0
    from tailmine.ingest.config import IngestConfig
    from tailmine.pipelines.ingest import run

    cfg = IngestConfig(extractor=spec["extractor"])
    profiler = cProfile.Profile() if spec.get("profile") else None
    t0, c0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    manifest = run(spec["inputs"], spec["out"], cfg, spec["beam_args"], force=True, progress=False)
    if profiler:
        profiler.disable()
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    if profiler:
        profiler.dump_stats(spec["profile"])
    import resource

    hwm = next((int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")), 0)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print("RESULT " + json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "counts": manifest.counts.to_dict(),
                                  "peak_rss_mb": hwm / 1024, "worker_rss_mb": workers / 1024}))
    return 0


def run_ingest_rss(inputs, out, beam_args, extractor="tailmine", profile=None) -> dict:
    """run_ingest, reaping the child with os.wait4 to get its peak RSS."""
    spec = {"inputs": inputs, "out": str(out), "beam_args": beam_args, "extractor": extractor, "profile": profile}
    out.parent.mkdir(parents=True, exist_ok=True)
    spec_path = out.parent / f".spec-{out.name}.json"
    spec_path.write_text(json.dumps(spec))
    log_path = out.parent / f".log-{out.name}.txt"
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        pid = subprocess.Popen([sys.executable, __file__, "--_child", str(spec_path)],
                               stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT)).pid
        _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    text = log_path.read_text(errors="replace")
    if status != 0:
        raise RuntimeError(f"ingest child failed (status {status}):\n{text[-3000:]}")
    line = next(l for l in text.splitlines() if l.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    result["process_seconds"] = wall
    # ru_maxrss of a child survives exec on Linux (it would include this parent's RSS at fork), so
    # the child reports its own VmHWM (peak RSS since exec); workers: their largest ru_maxrss.
    return result


def best_of(n: int, fn, *args, **kwargs) -> dict:
    return alternating({"only": (n, lambda: fn(*args, **kwargs))})["only"]


def alternating(runs: dict[str, tuple[int, object]]) -> dict[str, dict]:
    """``{name: best run}`` of ``{name: (rounds, fn)}``, the runs called in turn (A B C A B C ...; a
    slow tool with fewer rounds takes part in the first ones only), so that every tool meets the same
    load on a shared machine. Best = fastest; RSS = the largest over the runs."""
    done: dict[str, list[dict]] = {name: [] for name in runs}
    for r in range(max(n for n, _ in runs.values())):
        for name, (n, fn) in runs.items():
            if r < n:
                done[name].append(fn())
    out = {}
    for name, results in done.items():
        best = dict(min(results, key=lambda x: x["seconds"]))
        best["all_seconds"] = [round(x["seconds"], 3) for x in results]
        best["cpu_seconds"] = min(x.get("cpu_seconds", float("inf")) for x in results)
        best["peak_rss_mb"] = max(x["peak_rss_mb"] for x in results)
        best["worker_rss_mb"] = max(x["worker_rss_mb"] for x in results)
        out[name] = best
    return out


def rate_row(kind: str, info: dict, res: dict, runner: str, extractor: str = "tailmine") -> dict:
    s = res["seconds"]
    docs = res["counts"]["output"]
    return {"kind": kind, "runner": runner, "extractor": extractor, "file_mb": info["file_bytes"] / 1e6,
            "decompressed_mb": info["decompressed_bytes"] / 1e6, "seconds": s, "all_seconds": res.get("all_seconds"),
            "file_mb_per_s": info["file_bytes"] / 1e6 / s, "decompressed_mb_per_s": info["decompressed_bytes"] / 1e6 / s,
            "docs": docs, "records_in": res["counts"]["input"], "docs_per_s": docs / s,
            "peak_rss_mb": res["peak_rss_mb"], "worker_rss_mb": res["worker_rss_mb"], "process_seconds": res["process_seconds"],
            "cpu_seconds": res.get("cpu_seconds")}


def vs_plain_loop(rows: list[dict], fixed_cost: dict) -> dict:
    """tailmine's single-worker ingest (default extractor) against the plain loops, per WARC input:
    end to end, and net of tailmine's fixed cost (Beam start-up on a 1-document input, measured in the
    same run), which a real run pays once per job, not per file; by wall seconds and by CPU seconds of
    the timed part (on a loaded machine the CPU ratio is the steadier one)."""
    out = {}
    for kind in sorted({r["kind"] for r in rows}):
        tm = next((r for r in rows if r["kind"] == kind and r["extractor"] == "tailmine" and r["runner"] == "single worker"), None)
        for ref in PLAIN:
            pl = next((r for r in rows if r["kind"] == kind and r["extractor"] == ref), None)
            if tm and pl:
                out[f"{kind} vs {ref}"] = {"end_to_end": round(pl["seconds"] / tm["seconds"], 2),
                                           "net_of_fixed_cost": round(pl["seconds"] / (tm["seconds"] - fixed_cost["seconds"]), 2),
                                           "cpu_end_to_end": round(pl["cpu_seconds"] / tm["cpu_seconds"], 2),
                                           "cpu_net_of_fixed_cost": round(pl["cpu_seconds"] / (tm["cpu_seconds"] - fixed_cost["cpu_seconds"]), 2)}
    return out


# ------------------------------------------------------------------------------ quality of output
def ingest_quality(out_dir: Path, roots: dict[str, Path]) -> dict:
    """Score the ingested text of the packed pages with benchmarks/extraction.py's metrics."""
    import lxml.html
    import pyarrow.parquet as pq
    from extraction import evaluate, find

    texts: dict[str, str] = {}
    for shard in sorted((out_dir / "docs").glob("*.parquet")):
        table = pq.read_table(shard, columns=["url", "text"])
        texts.update(zip(table.column("url").to_pylist(), table.column("text").to_pylist()))
    scores = {}
    for set_name, root in roots.items():
        pages, outputs = [], []
        if set_name == "scrapinghub":
            gt_path = find(root, "ground-truth.json")
            for key, entry in sorted(json.loads(gt_path.read_text(encoding="utf-8")).items()):
                uri = page_uri(set_name, root, gt_path.parent / "html" / f"{key}.html")
                pages.append({"gold": entry["articleBody"]})
                outputs.append(texts.get(uri, ""))
        elif set_name == "readability":
            for src in sorted(root.rglob("source.html")):
                exp = src.parent / "expected.html"
                if not exp.exists():
                    continue
                exp_html = exp.read_bytes().decode("utf-8", errors="replace")
                pages.append({"gold": lxml.html.fromstring(exp_html).text_content() if exp_html.strip() else ""})
                outputs.append(texts.get(page_uri(set_name, root, src), ""))
        else:
            meta_path = find(root, "evaldata.json")
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            items = meta.items() if isinstance(meta, dict) else ((e.get("url"), e) for e in meta)
            for _, entry in items:
                for sub in ("eval", "cache"):
                    path = meta_path.parent / sub / entry["file"]
                    if path.exists():
                        pages.append({"with": entry.get("with") or [], "without": entry.get("without") or []})
                        outputs.append(texts.get(page_uri(set_name, root, path), ""))
                        break
        if pages:
            scores[set_name] = {"pages": len(pages), "missing": sum(not o for o in outputs),
                                **evaluate(set_name, pages, outputs)}
    return scores


# ------------------------------------------------------------------------------ extractors alone
def extractor_rows(roots: dict[str, Path], names: list[str], repeat: int, slow_repeat: int) -> list[dict]:
    from extraction import LOADERS, evaluate, time_extractors

    from tailmine.ingest.extract import get_extractor

    rows = []
    for set_name, root in roots.items():
        pages = LOADERS[set_name](root)
        if not pages:
            continue
        mb = sum(p["bytes"] for p in pages) / 1e6
        for name, (outputs, best, n) in time_extractors({name: get_extractor(name) for name in names}, pages, repeat, slow_repeat).items():
            row = {"set": set_name, "extractor": name, "pages": len(pages), "html_mb": mb, "mb_per_s": mb / best,
                   "pages_per_s": len(pages) / best, "repeats": n}
            row.update(evaluate(set_name, pages, outputs))
            rows.append(row)
            print(f"[extract] {set_name:17s} {name:12s} score={row['score']:.4f} {row['mb_per_s']:7.1f} MB/s",
                  file=sys.stderr, flush=True)
    return rows


# ------------------------------------------------------------------------- where WARC time goes
def stage_breakdown(warc_dir: Path, repeat: int) -> dict:
    """Cumulative in-process timings on the packed WARC files, single core; each step adds one stage."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from tailmine.fileio import expand_inputs
    from tailmine.ingest.config import IngestConfig
    from tailmine.ingest.decode import decode_text
    from tailmine.ingest.extract import extract_main_text
    from tailmine.ingest.unit import plan_units, run_unit
    from tailmine.ingest.warc import _mime

    files = sorted(str(p) for p in warc_dir.glob("*.warc.gz"))
    cfg = IngestConfig()

    def gunzip():
        for f in files:
            with gzip.open(f) as h:
                while h.read(1 << 20):
                    pass

    def parse(stage):
        def go():
            for f in files:
                for rec in ArchiveIterator(f, parse_http=True, auto_decode="none", fsspec_args=False):
                    if rec.record_type != WarcRecordType.response:
                        continue
                    body = rec.reader.read()
                    if stage == "parse":
                        continue
                    _, charset = _mime(rec.http_headers.get("Content-Type"))
                    text, _, _ = decode_text(body, charset, html=True)
                    if stage == "extract":
                        extract_main_text(text)
        return go

    def units():
        with tempfile.TemporaryDirectory(prefix="ingest-stage-") as tmp:
            for unit in plan_units(expand_inputs([str(warc_dir)]), cfg):
                run_unit(unit, cfg, tmp)

    steps = [("gzip decompression only (Python gzip)", gunzip),
             ("+ fastwarc record/HTTP parsing (own gzip)", parse("parse")),
             ("+ charset decoding", parse("decode")),
             ("+ HTML extraction (tailmine)", parse("extract")),
             ("run_unit: + checks, ids, metadata, Parquet (zstd) writing", units)]
    out = {}
    for label, fn in steps:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        out[label] = best
        print(f"[stages] {label}: {best:.2f}s", file=sys.stderr, flush=True)
    return out


def profile_summary(path: str, total: float, top: int = 20) -> dict:
    stats = pstats.Stats(path)
    entries = []
    for (filename, line, func), (cc, nc, tt, ct, callers) in stats.stats.items():
        entries.append({"function": f"{Path(filename).name}:{line}({func})" if line else func,
                        "calls": nc, "tottime": tt, "cumtime": ct})
    by_tot = sorted(entries, key=lambda e: -e["tottime"])[:top]

    def cum(pattern: str) -> float:
        return max((e["cumtime"] for e in entries if re.search(pattern, e["function"])), default=0.0)

    groups = {
        "run_unit (all work inside the DoFn)": cum(r"unit\.py:\d+\(run_unit\)"),
        "HTML extraction (extract_main_text)": cum(r"extract\.py:\d+\(extract_main_text\)"),
        "charset decoding (decode_text)": cum(r"decode\.py:\d+\(decode_text\)"),
        "binary sniffing (looks_binary)": cum(r"decode\.py:\d+\(looks_binary\)"),
        "Parquet writing (shard writers' close: flush + zstd + file)": cum(r"(unit|shards)\.py:\d+\(close\)"),
        "ids (generated_id)": cum(r"records\.py:\d+\(generated_id\)"),
    }
    groups["Beam + planning + manifest (total - run_unit)"] = total - groups["run_unit (all work inside the DoFn)"]
    return {"total_profiled_s": total, "groups_cumtime_s": groups, "top_by_tottime": by_tot}


# ---------------------------------------------------------------------------------------- report
def fmt_table(rows: list[dict]) -> str:
    lines = ["| input | runner | extractor | file MB | decompr. MB | docs | best s (of runs) | file MB/s | decompr. MB/s | docs/s | peak RSS MB (driver / largest worker) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        runs = "/".join(f"{s:.2f}" for s in (r["all_seconds"] or [r["seconds"]]))
        lines.append(f"| {r['kind']} | {r['runner']} | {r['extractor']} | {r['file_mb']:.1f} | {r['decompressed_mb']:.1f} | "
                     f"{r['docs']:,} | {r['seconds']:.2f} ({runs}) | {r['file_mb_per_s']:.1f} | "
                     f"{r['decompressed_mb_per_s']:.1f} | {r['docs_per_s']:,.0f} | {r['peak_rss_mb']:.0f}"
                     + (f" / {r['worker_rss_mb']:.0f}" if r["worker_rss_mb"] > 1 else "") + " |")
    return "\n".join(lines)


def fmt_extractors(rows: list[dict]) -> str:
    lines = ["| set | extractor | pages | score | MB/s/core (raw HTML) | pages/s | × resiliparse speed | × trafilatura speed |",
             "|---|---|---|---|---|---|---|---|"]
    speed = {(r["set"], r["extractor"]): r["mb_per_s"] for r in rows}
    for r in rows:
        rs, tr = speed.get((r["set"], "resiliparse")), speed.get((r["set"], "trafilatura"))
        lines.append(f"| {r['set']} | {r['extractor']} | {r['pages']} | {r['score']:.4f} | {r['mb_per_s']:.1f} | "
                     f"{r['pages_per_s']:.0f} | {r['mb_per_s'] / rs if rs else float('nan'):.2f} | "
                     f"{r['mb_per_s'] / tr if tr else float('nan'):.2f} |")
    return "\n".join(lines)


def fmt_quality(q: dict) -> str:
    lines = ["| ingest --extractor | scrapinghub F1 | readability F1 | trafilatura-eval score (with found / without absent) |",
             "|---|---|---|---|"]
    for ext, s in q.items():
        te = s.get("trafilatura_eval", {})
        lines.append(f"| {ext} | {s.get('scrapinghub', {}).get('score', float('nan')):.4f} | "
                     f"{s.get('readability', {}).get('score', float('nan')):.4f} | {te.get('score', float('nan')):.4f} "
                     f"({te.get('with_found', float('nan')):.3f} / {te.get('without_absent', float('nan')):.3f}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", type=Path, default=Path("/work/shared/corpora"))
    ap.add_argument("--work", type=Path, help="build inputs and outputs here (kept); default a temp dir (removed)")
    ap.add_argument("--repeat", "--repeats", dest="repeat", type=int, default=3, help="runs per measurement, tools in turn; the fastest is reported")
    ap.add_argument("--slow-repeat", type=int, default=1, help="runs for trafilatura (end to end and alone)")
    ap.add_argument("--cc-copies", type=int, default=20, help="replicas of the real CC WARC files")
    ap.add_argument("--page-copies", type=int, default=0,
                    help="also run warc-pages-xN: the packed pages N times over (N >= 2), where Beam's start-up weighs as in a real job")
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma list from {', '.join(KINDS)} (warc-pages-xN comes with --page-copies)")
    ap.add_argument("--no-multi", action="store_true", help="skip the multi-processing reference runs")
    ap.add_argument("--no-extractors", action="store_true", help="skip the extractor comparisons")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain fastwarc + resiliparse reference loops")
    ap.add_argument("--out", type=Path, help="write results as JSON here (and the tables as .md beside it)")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._child:
        return child(args._child)

    if not args.corpora.is_dir() or not any((args.corpora / p).exists() for p in ("web/html", "web/warc", "books/gutenberg")):
        print(f"[skip] corpora not found under {args.corpora}: nothing to benchmark", file=sys.stderr)
        return 0
    kinds = [k for k in args.kinds.split(",") if k]
    from timing import reference_tool

    reference_tool("fastwarc + resiliparse", lambda: __import__("resiliparse.extract.html2text") and __import__("fastwarc.warc"))
    if not args.no_extractors:  # tailmine's wrapper would turn a missing trafilatura into empty texts
        reference_tool("trafilatura", lambda: __import__("trafilatura"), "pip install trafilatura, or --no-extractors")
    tmp_ctx = tempfile.TemporaryDirectory(prefix="ingest-bench-") if args.work is None else None
    work = Path(tmp_ctx.name) if tmp_ctx else args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                                 "python": platform.python_version()},
                     "command": " ".join([Path(sys.executable).name, "benchmarks/ingest.py", *sys.argv[1:]]),
                     "repeat": args.repeat}
    try:
        roots = extract_tarballs(args.corpora, work / "src")
        inputs = build_inputs(args.corpora, work, roots, args.cc_copies)
        if args.page_copies >= 2 and "warc-pages" in inputs:
            big = f"warc-pages-x{args.page_copies}"
            base = inputs["warc-pages"]
            inputs[big] = {**base, **build_page_copies(work, args.page_copies),
                           **{k: base[k] * args.page_copies for k in ("pages", "html_bytes", "decompressed_bytes", "file_bytes")}}
            if big not in kinds:
                kinds.append(big)
        results["inputs"] = inputs
        outs = work / "out"
        rows = []
        # fixed cost: Beam start + one tiny file
        tiny = work / "tiny"
        tiny.mkdir(exist_ok=True)
        (tiny / "one.jsonl").write_text(json.dumps({"text": "hello world"}) + "\n")
        res = best_of(args.repeat, run_ingest_rss, [str(tiny)], outs / "tiny", SINGLE)
        results["fixed_cost_s"] = res["seconds"]
        results["fixed_cost_cpu_s"] = res["cpu_seconds"]
        results["fixed_cost_rss_mb"] = res["peak_rss_mb"]
        print(f"[ingest] fixed cost (1-doc JSONL, single worker): {res['seconds']:.2f}s, RSS {res['peak_rss_mb']:.0f} MB",
              file=sys.stderr, flush=True)
        quality = {}
        for kind in kinds:
            if kind not in inputs:
                print(f"[skip] {kind}: input data missing", file=sys.stderr)
                continue
            info = inputs[kind]
            extractors = ["tailmine", "resiliparse", "trafilatura"] if kind == "warc-pages" and not args.no_extractors else ["tailmine"]
            if kind.startswith("warc") and not args.no_plain:
                extractors += list(PLAIN)
            runs = {ext: (args.slow_repeat if ext == "trafilatura" else args.repeat,
                          (lambda ext=ext: run_ingest_rss(info["inputs"], outs / f"{kind}-{ext}", SINGLE, ext)))
                    for ext in extractors}
            best = alternating(runs)
            for ext in extractors:
                out = outs / f"{kind}-{ext}"
                res = best[ext]
                row = rate_row(kind, info, res, "plain loop, in process" if ext in PLAIN else "single worker", ext)
                rows.append(row)
                print(f"[ingest] {kind} {ext}: {row['file_mb_per_s']:.1f} file MB/s, {row['decompressed_mb_per_s']:.1f} "
                      f"decompressed MB/s, {row['docs_per_s']:.0f} docs/s, RSS {row['peak_rss_mb']:.0f} MB "
                      f"(runs {res['all_seconds']})", file=sys.stderr, flush=True)
                if kind == "warc-pages" and ext not in PLAIN:
                    quality[ext] = ingest_quality(out, roots)
                    print(f"[quality] {ext}: {json.dumps({k: round(v['score'], 4) for k, v in quality[ext].items()})}",
                          file=sys.stderr, flush=True)
            if not args.no_multi:
                res = best_of(1, run_ingest_rss, info["inputs"], outs / f"{kind}-multi", MULTI)
                rows.append(rate_row(kind, info, res, f"multi_processing ({os.cpu_count()} workers, 1 run)"))
        results["ingest"] = rows
        results["ingest_quality"] = quality
        results["vs_plain_loop"] = vs_plain_loop(rows, {"seconds": results["fixed_cost_s"], "cpu_seconds": results["fixed_cost_cpu_s"]})
        if "warc-pages" in inputs and "warc-pages" in kinds:
            prof_path = str(work / "warc-pages.prof")
            res = run_ingest_rss(inputs["warc-pages"]["inputs"], outs / "warc-pages-profile", SINGLE, "tailmine", prof_path)
            results["profile"] = profile_summary(prof_path, res["seconds"])
            results["stages_s"] = stage_breakdown(work / "warc-pages", args.repeat)
        if not args.no_extractors and roots:
            results["extractors"] = extractor_rows(roots, ["tailmine", "resiliparse", "trafilatura"], args.repeat,
                                                   args.slow_repeat)
    finally:
        if tmp_ctx:
            tmp_ctx.cleanup()

    if results.get("vs_plain_loop"):
        print("[vs plain loop] tailmine speed / plain loop speed: " + json.dumps(results["vs_plain_loop"]), file=sys.stderr)
    md = [f"Machine: {os.cpu_count()} vCPU; best of {args.repeat} runs (trafilatura: {args.slow_repeat}), tools in turn; "
          f"fixed cost of an ingest run (Beam start-up, 1-doc input): {results['fixed_cost_s']:.2f}s.", "",
          "### End to end (tailmine ingest), single worker unless noted", "", fmt_table(results["ingest"])]
    if results.get("ingest_quality"):
        md += ["", "### Quality of the ingested text of the packed pages", "", fmt_quality(results["ingest_quality"])]
    if results.get("stages_s"):
        md += ["", "### Where the WARC time goes (packed pages, in process, one core, cumulative)", "",
               "| stages | seconds | MB/s of WARC file bytes |", "|---|---|---|"]
        fb = inputs["warc-pages"]["file_bytes"] / 1e6
        for label, s in results["stages_s"].items():
            md.append(f"| {label} | {s:.2f} | {fb / s:.1f} |")
        p = results["profile"]
        md += ["", f"cProfile of one single-worker run ({p['total_profiled_s']:.2f}s under the profiler), cumulative:", "",
               "| part | seconds | share |", "|---|---|---|"]
        for label, s in p["groups_cumtime_s"].items():
            md.append(f"| {label} | {s:.2f} | {s / p['total_profiled_s']:.0%} |")
    if results.get("extractors"):
        md += ["", "### Extractors alone on the same pages (benchmarks/extraction.py functions)", "",
               fmt_extractors(results["extractors"])]
    if results.get("vs_plain_loop"):
        md += ["", "### tailmine ingest against the plain loop (speed ratio, > 1 = tailmine faster)", "",
               "| input vs reference | wall, end to end | wall, net of tailmine's fixed cost | CPU, end to end | CPU, net of fixed cost |",
               "|---|---|---|---|---|"]
        md += [f"| {k} | {v['end_to_end']:.2f} | {v['net_of_fixed_cost']:.2f} | {v['cpu_end_to_end']:.2f} | {v['cpu_net_of_fixed_cost']:.2f} |"
               for k, v in results["vs_plain_loop"].items()]
    table = "\n".join(md)
    print(table)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))
        args.out.with_suffix(".md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
