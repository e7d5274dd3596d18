"""Benchmark HTML main-text extractors: quality and speed per core.

    python benchmarks/extraction.py --corpora /work/shared/corpora [--out results.json] [--extractors a,b]

Reads three tarballs under ``<corpora>/web/html/`` (extracted to a temp dir; a missing one is
skipped):

* ``scrapinghub-aeb-pages.tar.gz``: Scrapinghub article-extraction benchmark; mean token F1
  (lower-cased whitespace tokens, bag-of-words) against ``ground-truth.json``'s articleBody.
* ``readability-test-pages.tar.gz``: Mozilla Readability test pages; mean token F1 against the
  text of ``expected.html``.
* ``trafilatura-eval-pages.tar.gz``: trafilatura's eval set; share of "with" snippets present
  in the output, share of "without" snippets absent, and their mean.

Speed: single process, only the extractor call is timed, after a warm-up call; MB/s counts
raw HTML bytes as stored. Every extractor runs on the same pages in the same run, the extractors in
turn (A B C A B C ...), best of ``--repeat`` (trafilatura: ``--slow-repeat``). A missing reference
library stops the benchmark (the extractor wrappers would otherwise return empty texts).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tailmine.ingest.extract import EXTRACTORS, get_extractor  # noqa: E402

TARBALLS = {
    "scrapinghub": "scrapinghub-aeb-pages.tar.gz",
    "readability": "readability-test-pages.tar.gz",
    "trafilatura_eval": "trafilatura-eval-pages.tar.gz",
}


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            from resiliparse.parse.encoding import bytes_to_str, detect_encoding

            return bytes_to_str(raw, detect_encoding(raw))
        except Exception:  # noqa: BLE001
            return raw.decode("utf-8", errors="replace")


def token_f1(pred: str, gold: str) -> float:
    p, g = Counter(pred.lower().split()), Counter(gold.lower().split())
    if not p or not g:
        return float(not p and not g)
    common = sum((p & g).values())
    if not common:
        return 0.0
    precision, recall = common / sum(p.values()), common / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def find(root: Path, name: str) -> Path | None:
    hits = sorted(root.rglob(name), key=lambda p: len(p.parts))
    return hits[0] if hits else None


def load_scrapinghub(root: Path) -> list[dict]:
    gt_path = find(root, "ground-truth.json")
    if gt_path is None:
        return []
    gt = json.loads(gt_path.read_text(encoding="utf-8"))
    pages = []
    for key, entry in sorted(gt.items()):
        path = gt_path.parent / "html" / f"{key}.html"
        if path.exists():
            raw = path.read_bytes()
            pages.append({"html": decode(raw), "bytes": len(raw), "gold": entry["articleBody"], "url": entry.get("url")})
    return pages


def load_readability(root: Path) -> list[dict]:
    import lxml.html

    pages = []
    for src in sorted(root.rglob("source.html")):
        exp = src.parent / "expected.html"
        if not exp.exists():
            continue
        exp_html = exp.read_bytes().decode("utf-8", errors="replace")
        gold = lxml.html.fromstring(exp_html).text_content() if exp_html.strip() else ""
        raw = src.read_bytes()
        pages.append({"html": decode(raw), "bytes": len(raw), "gold": gold, "url": None})
    return pages


def load_trafilatura_eval(root: Path) -> list[dict]:
    meta_path = find(root, "evaldata.json")
    if meta_path is None:
        return []
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    items = meta.items() if isinstance(meta, dict) else ((e.get("url"), e) for e in meta)
    pages = []
    for url, entry in items:
        for sub in ("eval", "cache"):
            path = meta_path.parent / sub / entry["file"]
            if path.exists():
                raw = path.read_bytes()
                pages.append({"html": decode(raw), "bytes": len(raw), "with": entry.get("with") or [],
                              "without": entry.get("without") or [], "url": url})
                break
    return pages


LOADERS = {"scrapinghub": load_scrapinghub, "readability": load_readability, "trafilatura_eval": load_trafilatura_eval}


def run_extractor(fn, pages: list[dict]) -> tuple[list[str], float]:
    fn(pages[0]["html"])  # warm-up (imports, caches)
    outputs, elapsed = [], 0.0
    for page in pages:
        t0 = time.perf_counter()
        result = fn(page["html"])
        elapsed += time.perf_counter() - t0
        outputs.append(result.text)
    return outputs, elapsed


def time_extractors(fns: dict, pages: list[dict], repeat: int, slow_repeat: int = 1) -> dict[str, tuple[list[str], float, int]]:
    """``{name: (outputs, best seconds, runs)}``: the extractors called in turn over the pages
    (A B C A B C ...), ``repeat`` runs each (``slow_repeat`` for trafilatura, in the first rounds)."""
    runs = {name: slow_repeat if name == "trafilatura" else repeat for name in fns}
    best: dict[str, tuple[list[str], float, int]] = {}
    for r in range(max(runs.values())):
        for name, fn in fns.items():
            if r < runs[name]:
                outputs, elapsed = run_extractor(fn, pages)
                if name not in best or elapsed < best[name][1]:
                    best[name] = (outputs, elapsed, runs[name])
    return best


def evaluate(set_name: str, pages: list[dict], outputs: list[str]) -> dict:
    if set_name == "trafilatura_eval":
        found = total_with = absent = total_without = 0
        for page, out in zip(pages, outputs):
            total_with += len(page["with"])
            found += sum(s in out for s in page["with"])
            total_without += len(page["without"])
            absent += sum(s not in out for s in page["without"])
        recall = found / max(1, total_with)
        precision = absent / max(1, total_without)
        return {"score": (recall + precision) / 2, "with_found": recall, "without_absent": precision}
    scores = [token_f1(out, page["gold"]) for page, out in zip(pages, outputs)]
    return {"score": sum(scores) / len(scores), "mean_f1": sum(scores) / len(scores)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", type=Path, required=True, help="root holding web/html/*.tar.gz")
    ap.add_argument("--out", type=Path, help="write results as JSON here (and a .md table beside it)")
    ap.add_argument("--extractors", default="tailmine,resiliparse,trafilatura",
                    help=f"comma-separated, from: {', '.join(EXTRACTORS)}")
    ap.add_argument("--repeat", "--repeats", dest="repeat", type=int, default=3, help="runs per extractor, in turn; the fastest counts")
    ap.add_argument("--slow-repeat", type=int, default=1, help="runs of trafilatura (about 20x slower)")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.extractors.split(",") if n.strip()]
    fns = {n: get_extractor(n) for n in names}
    from timing import reference_tool

    # the extractor wrappers never raise (a missing library would read as empty texts): check first
    for name, module in (("trafilatura", "trafilatura"), ("resiliparse", "resiliparse.extract.html2text")):
        if name in fns or (name == "resiliparse" and "tailmine" in fns):
            reference_tool(name, lambda module=module: __import__(module), "install it, or leave it out of --extractors")

    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="extraction-bench-") as tmp:
        for set_name, tarball in TARBALLS.items():
            tar_path = args.corpora / "web" / "html" / tarball
            if not tar_path.exists():
                tar_path = next(iter(glob.glob(str(args.corpora / "**" / tarball), recursive=True)), None)
                tar_path = Path(tar_path) if tar_path else None
            if tar_path is None:
                print(f"[skip] {set_name}: {tarball} not found under {args.corpora}", file=sys.stderr)
                continue
            dest = Path(tmp) / set_name
            dest.mkdir()
            try:
                with tarfile.open(tar_path) as tf:
                    tf.extractall(dest, filter="data") if hasattr(tarfile, "data_filter") else tf.extractall(dest)
                pages = LOADERS[set_name](dest)
            except Exception as exc:  # noqa: BLE001
                print(f"[skip] {set_name}: cannot read {tar_path}: {exc}", file=sys.stderr)
                continue
            if not pages:
                print(f"[skip] {set_name}: no pages found in {tar_path}", file=sys.stderr)
                continue
            mb = sum(p["bytes"] for p in pages) / 1e6
            for name, (outputs, elapsed, runs) in time_extractors(fns, pages, args.repeat, args.slow_repeat).items():
                row = {"set": set_name, "extractor": name, "pages": len(pages), "html_mb": round(mb, 2),
                       "mb_per_s": mb / elapsed, "pages_per_s": len(pages) / elapsed, "runs": runs}
                row.update(evaluate(set_name, pages, outputs))
                results.append(row)
                print(f"{set_name:17s} {name:12s} score={row['score']:.4f} {row['mb_per_s']:7.1f} MB/s "
                      f"{row['pages_per_s']:7.1f} pages/s", flush=True)

    lines = ["| set | extractor | score | with found | without absent | MB/s/core | pages/s |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['set']} | {r['extractor']} | {r['score']:.4f} | {r.get('with_found', float('nan')):.3f} | "
                     f"{r.get('without_absent', float('nan')):.3f} | {r['mb_per_s']:.1f} | {r['pages_per_s']:.1f} |")
    table = "\n".join(lines)
    print("\nscore = mean token F1 (scrapinghub, readability) or mean(with found, without absent)\n")
    print(table)
    if args.out:
        args.out.write_text(json.dumps({"results": results, "cpu_count": os.cpu_count()}, indent=2))
        args.out.with_suffix(".md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
