"""Benchmark the filter stage per core: Gopher quality + repetition beside datatrove's filters (same
documents, same run), the agreement of every rule's decisions with datatrove's Gopher, C4 and FineWeb
filters per language group (English, Chinese, Japanese, other), the word segmenters' speed, then the
whole filter stage end to end on the English pages (language ID, every signal, rules, PII redaction)
with one in-process Beam worker, and its peak RSS.

    python benchmarks/filters.py --corpora /work/shared/corpora [--repeat 3] [--docs 1200]
        [--dt-python /tmp/dt-venv/bin/python] [--out results.json]

Corpus: the main text of the real web pages in ``web/html`` (trafilatura eval pages, Scrapinghub AEB,
Mozilla Readability), extracted with tailmine's extractor, in sorted file order; documents under 200
characters are left out (they are not what a quality filter is tuned on); plus the HTML responses of
the real WARC files in ``web/warc`` (the Chinese and Japanese pages). Each document's language is
tailmine's language ID; both tools then judge it at tailmine's web-page thresholds for that language
(datatrove with its own tokenizer for Chinese, Japanese and Thai, and the same stop-word list). Speed
figures are on the English pages only, in MB of UTF-8 text
per CPU-second of one process (``time.process_time``), best of ``--repeat``, tailmine and datatrove in
turn (A B A B ...). datatrove (0.10.x with spaCy) runs in its own virtualenv in a child process on the
same JSONL (one timing pass per round): it is timed there the same way, each filter on its own (each
tokenizes with spaCy, as in a datatrove pipeline). What differs in the work: tailmine splits words
with its compiled splitter once per document for both Gopher filters, datatrove runs spaCy's
tokenizer in each filter; datatrove's filters return at a document's first failing rule (the later
signals are never computed), tailmine computes every signal of both filters and then names the first
failing rule. tailmine's Gopher figure covers one tokenization and both filters' signals and
decisions; its "all signals" figure computes every signal of every filter family. A missing or failing datatrove stops the benchmark
(``--skip-datatrove`` leaves it out on purpose). The decontamination benchmark is
``benchmarks/decontam.py``.
"""
from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from timing import best_of  # noqa: E402
from tailmine.filters.langid import LanguageIdentifier  # noqa: E402
SINGLE = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
TARBALLS = ("trafilatura-eval-pages.tar.gz", "scrapinghub-aeb-pages.tar.gz", "readability-test-pages.tar.gz")

DATATROVE = r"""
import json, sys, time
from datatrove.data import Document
from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
from datatrove.pipeline.filters.c4_filters import C4QualityFilter
from datatrove.pipeline.filters.fineweb_quality_filter import FineWebQualityFilter
docs = [json.loads(line) for line in open(sys.argv[1])]
repeat = int(sys.argv[3])
SEGMENTED = {"zh": "cmn_Hani", "ja": "jpn_Jpan", "th": "tha_Thai"}  # FineWeb2 codes: jieba, Sudachi, PyThaiNLP; else English spaCy

def filters(d):
    t, lang = d["thresholds"], d["lang"]
    language = SEGMENTED.get(lang, "en")
    n = lambda name: t[name] if t[name] is not None else None
    out = {
        "repetition": GopherRepetitionFilter(
            dup_line_frac=n("gopher_dup_line_frac"), dup_para_frac=n("gopher_dup_para_frac"),
            dup_line_char_frac=n("gopher_dup_line_char_frac"), dup_para_char_frac=n("gopher_dup_para_char_frac"),
            top_n_grams=tuple((k, t[f"gopher_top_{k}gram"]) for k in (2, 3, 4) if t[f"gopher_top_{k}gram"] is not None),
            dup_n_grams=tuple((k, t[f"gopher_dup_{k}gram"]) for k in range(5, 11) if t[f"gopher_dup_{k}gram"] is not None),
            language=language),
        "quality": GopherQualityFilter(
            min_doc_words=n("gopher_short_doc"), max_doc_words=n("gopher_long_doc"),
            min_avg_word_length=n("gopher_below_avg_word_length"), max_avg_word_length=n("gopher_above_avg_word_length"),
            max_symbol_word_ratio=n("gopher_too_many_hashes"), max_bullet_lines_ratio=n("gopher_too_many_bullets"),
            max_ellipsis_lines_ratio=n("gopher_too_many_end_ellipsis"), max_non_alpha_words_ratio=n("gopher_below_alpha_threshold"),
            min_stop_words=n("gopher_too_few_stop_words") if d["stop_words"] else None,
            stop_words=d["stop_words"] or None, language=language),
        "fineweb": FineWebQualityFilter(
            line_punct_thr=t["fineweb_line_punct_ratio"] or 0, short_line_thr=t["fineweb_short_line_ratio"] or 1e9,
            char_duplicates_ratio=t["fineweb_char_dup_ratio"] or 1e9, new_line_ratio=t["fineweb_list_ratio"] or 1e9,
            language=language),
    }
    if t["c4_too_few_sentences"] is not None:  # C4 runs where tailmine's policy runs it (English pages)
        out["c4"] = C4QualityFilter(language=language)
    return out

out = {"decisions": {}, "seconds": {}}
for d in (docs if sys.argv[4] == "decisions" else []):
    for name, flt in filters(d).items():
        r = flt.filter(Document(text=d["text"], id=d["id"]))
        out["decisions"].setdefault(name, {})[d["id"]] = None if r is True else (r[1] if isinstance(r, tuple) else "dropped")
english = [d for d in docs if d["lang"] == "en"]
for name, flt in (("repetition", GopherRepetitionFilter()), ("quality", GopherQualityFilter()),
                  ("c4", C4QualityFilter()), ("fineweb", FineWebQualityFilter())):
    best = None
    for _ in range(repeat):
        t = time.process_time()
        for d in english:
            flt.filter(Document(text=d["text"], id=d["id"]))
        el = time.process_time() - t
        best = el if best is None else min(best, el)
    out["seconds"][name] = best
from datatrove.utils.word_tokenizers import load_word_tokenizer
for lang in ("zh", "ja"):
    texts = [d["text"] for d in docs if d["lang"] == lang]
    tok = load_word_tokenizer(SEGMENTED[lang])
    tok.word_tokenize("warm up")
    t = time.process_time()
    for x in texts:
        tok.word_tokenize(x)
    out["seconds"][f"tokenize_{lang}"] = time.process_time() - t
json.dump(out, open(sys.argv[2], "w"))
"""

# datatrove's drop reasons -> tailmine's rule names
DT_REASON = {
    "dup_para_frac": "gopher_dup_para_frac", "dup_para_char_frac": "gopher_dup_para_char_frac",
    "dup_line_frac": "gopher_dup_line_frac", "dup_line_char_frac": "gopher_dup_line_char_frac",
    **{f"top_{n}_gram": f"gopher_top_{n}gram" for n in (2, 3, 4)},
    **{f"duplicated_{n}_n_grams": f"gopher_dup_{n}gram" for n in range(5, 11)},
    "gopher_below_avg_threshold": "gopher_below_avg_word_length", "gopher_above_avg_threshold": "gopher_above_avg_word_length",
    "gopher_enough_stop_words": "gopher_too_few_stop_words",
    "lorem_ipsum": "c4_lorem_ipsum", "curly_bracket": "c4_curly_bracket", "too_few_sentences": "c4_too_few_sentences",
    **{k: f"fineweb_{k}" for k in ("line_punct_ratio", "short_line_ratio", "char_dup_ratio", "list_ratio")},
    "empty": "gopher_short_doc",
}
FAMILIES = {
    "repetition": ("gopher_dup", "gopher_top"),
    "quality": ("gopher_short", "gopher_long", "gopher_below", "gopher_above", "gopher_too"),
    "c4": ("c4_",),
    "fineweb": ("fineweb_",),
}

STAGE = r"""
import json, resource, sys, time
from tailmine.pipelines import filters
t0, c0 = time.perf_counter(), time.process_time()
m = filters.run(sys.argv[1], sys.argv[2], None, {single!r}, force=True, progress=False)
print(json.dumps({{"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                   "output": m.counts.output, "dropped": m.counts.dropped,
                   "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}}))
"""


def corpus(corpora: Path, n_docs: int) -> list[dict]:
    from tailmine.ingest.decode import decode_text
    from tailmine.ingest.extract import get_extractor

    extract = get_extractor("tailmine")
    docs = []
    for name in TARBALLS:
        with tarfile.open(corpora / "web" / "html" / name) as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                if not member.isfile() or not member.name.endswith(".html") or member.name.endswith("expected.html"):
                    continue
                text = extract(decode_text(tar.extractfile(member).read(), html=True)[0]).text
                if len(text) >= 200:
                    docs.append({"id": f"{name.split('-')[0]}/{member.name}", "text": text})
    docs += warc_pages(corpora, extract)
    docs = docs[:n_docs] if n_docs else docs
    ident = LanguageIdentifier()
    for d in docs:
        d["lang"] = ident.identify(d["text"])[0]
    return docs


def warc_pages(corpora: Path, extract) -> list[dict]:
    """The HTML responses of the real WARC files (Common Crawl excerpts, Dolma's sample, ClueWeb09's
    Japanese pages) as documents of >= 200 characters: the Chinese and Japanese pages of the corpus."""
    from tailmine.ingest.config import IngestConfig
    from tailmine.ingest.warc import read_warc

    docs = []
    for path in sorted((corpora / "web" / "warc").glob("*.warc.gz")):
        for i, d in enumerate(read_warc(str(path), IngestConfig(), extract)):
            if isinstance(d, dict) and len(d["text"]) >= 200:
                docs.append({"id": f"{path.name}/{i}", "text": d["text"]})
    return docs


def decisions_tailmine(docs: list[dict]) -> dict[str, dict]:
    """Per filter family, per document: the first failed rule at the web-page thresholds of the
    document's language, or None."""
    from tailmine.filters.config import FilterConfig
    from tailmine.filters.quality import quality_signals
    from tailmine.filters.rules import RULES

    cfg = FilterConfig()
    out: dict[str, dict] = {family: {} for family in FAMILIES}
    for d in docs:
        limits = cfg.thresholds_for("web", d["lang"])
        signals = quality_signals(d["text"], d["lang"])
        for family, prefixes in FAMILIES.items():
            rules = [r for r in RULES if r.name.startswith(prefixes)]
            out[family][d["id"]] = next((r.name for r in rules if r.fails(signals[r.signal[:-3]], limits[r.name])), None)
    return out


def per_rule_agreement(docs: list[dict], ours: dict, theirs: dict) -> dict:
    """Per rule R (and per language group): the share of documents on which both tools agree whether R
    is the reason the document is dropped; and the keep/drop agreement per filter family."""
    groups = {"all": docs, "en": [d for d in docs if d["lang"] == "en"], "zh": [d for d in docs if d["lang"] == "zh"],
              "ja": [d for d in docs if d["lang"] == "ja"], "other": [d for d in docs if d["lang"] not in ("en", "zh", "ja")]}
    result: dict = {}
    for family in FAMILIES:
        if family not in theirs:
            continue
        ids = set(theirs[family])
        for group, members in groups.items():
            members = [d for d in members if d["id"] in ids]
            if not members:
                continue
            a = [ours[family][d["id"]] for d in members]
            b = [DT_REASON.get(theirs[family][d["id"]], theirs[family][d["id"]]) for d in members]
            row = agreement(a, b)
            rules = sorted({x for x in a + b if x})
            row["per_rule"] = {r: round(sum((x == r) == (y == r) for x, y in zip(a, b)) / len(a), 4) for r in rules}
            result[f"{family}/{group}"] = row
    return result


def letter_words_threshold(docs: list[dict]) -> dict:
    """The ``too_few_letter_words`` threshold (tailmine/filters/rules.py) by quantile matching on the
    English pages: the share of them Gopher's 0.8 (datatrove's count) drops, and the value of the
    letter-word ratio that drops the same share."""
    from tailmine.filters.calibrate import dropped_share, rule_threshold
    from tailmine.filters.quality import quality_signals

    signals = [quality_signals(d["text"], "en") for d in docs if d["lang"] == "en"]
    share = dropped_share((s["gopher_alpha_words_ratio"] for s in signals), "min", 0.8)
    value = rule_threshold((s["alpha_words_ratio"] for s in signals), "min", share, 0.8)
    return {"english_pages": len(signals), "share_gopher_0.8_drops": round(share, 4), "matched_threshold": round(value, 4)}


def segmenter_speed(docs: list[dict], repeat: int) -> dict:
    """MB/s per CPU-second of tailmine's segmenters on the Chinese and Japanese pages."""
    from tailmine.filters.segment import Segmenters

    seg, out = Segmenters(), {}
    for lang in ("zh", "ja"):
        texts = [d["text"] for d in docs if d["lang"] == lang]
        if texts:
            seg.spans("warm up", lang)
            t = best_of(lambda: [seg.spans(x, lang) for x in texts], repeat, time.process_time)[0]
            out[f"{lang}_docs"] = len(texts)
            out[f"{lang}_MBps"] = round(sum(len(x.encode()) for x in texts) / 1e6 / t, 2)
    return out


def gopher_tailmine(texts: list[str]) -> tuple[list, list]:
    """Both Gopher filters' decisions (first failed rule or None) from one tokenization per document."""
    from tailmine.filters.quality import gopher_quality_signals, gopher_repetition_signals, word_stats
    from tailmine.filters.rules import RULES

    rep = [r for r in RULES if r.name.startswith(("gopher_dup", "gopher_top"))]
    qual = [r for r in RULES if r.name.startswith("gopher_") and r not in rep]
    rep_dec, qual_dec = [], []
    for text in texts:
        stats = word_stats(text, "en")
        s = gopher_repetition_signals(text, stats)
        rep_dec.append(next((r.name for r in rep if r.fails(s[r.signal[:-3]], r.default)), None))
        s = gopher_quality_signals(text, stats, "en")
        qual_dec.append(next((r.name for r in qual if r.fails(s[r.signal[:-3]], r.default)), None))
    return rep_dec, qual_dec


def agreement(ours: list, theirs: list) -> dict:
    same = sum((a is None) == (b is None) for a, b in zip(ours, theirs))
    disagreements = collections.Counter(f"datatrove={b} tailmine={a}" for a, b in zip(ours, theirs) if (a is None) != (b is None))
    return {
        "docs": len(ours),
        "same_decision": round(same / len(ours), 4),
        "dropped_tailmine": sum(a is not None for a in ours),
        "dropped_datatrove": sum(b is not None for b in theirs),
        "disagreements": dict(disagreements.most_common(8)),
    }


def bench_gopher(docs: list[dict], repeat: int, dt_python: str, work: Path) -> dict:
    from tailmine.filters.config import FilterConfig
    from tailmine.filters.quality import STOP_WORDS, quality_signals

    english = [d for d in docs if d["lang"] == "en"]
    texts = [d["text"] for d in english]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    cfg = FilterConfig()
    path = work / "docs.jsonl"
    path.write_text("".join(json.dumps({**d, "thresholds": cfg.thresholds_for("web", d["lang"]),
                                        "stop_words": sorted(STOP_WORDS.get(d["lang"], ()))}) + "\n" for d in docs))
    quality_signals("Warm up the compiled kernels.")
    results: dict = {"docs": len(docs), "languages": dict(collections.Counter(d["lang"] for d in docs).most_common(12)),
                     "english_docs": len(english), "english_MB": round(mb, 2)}
    def datatrove(round_: int) -> dict:
        """One timing pass of datatrove's filters in its venv (its decisions too, on the first round)."""
        proc = subprocess.run([dt_python, "-c", DATATROVE, str(path), str(work / "dt.json"), "1",
                               "decisions" if round_ == 0 else "timing"], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"benchmark stopped: reference tool datatrove failed ({dt_python}); --skip-datatrove to leave it out:\n"
                             + proc.stderr[-1500:])
        return json.loads((work / "dt.json").read_text())

    # tailmine and datatrove in turn (A B A B ...), best of `repeat` CPU seconds each
    best = {"gopher": float("inf"), "signals": float("inf")}
    dt = None
    for round_ in range(repeat):
        best["gopher"] = min(best["gopher"], best_of(lambda: gopher_tailmine(texts), 1, time.process_time)[0])
        best["signals"] = min(best["signals"], best_of(lambda: [quality_signals(x) for x in texts], 1, time.process_time)[0])
        if dt_python:
            this = datatrove(round_)
            if dt is None:
                dt = this
            else:
                dt["seconds"] = {k: min(v, this["seconds"][k]) for k, v in dt["seconds"].items()}
    results["tailmine_gopher_both_MBps"] = round(mb / best["gopher"], 2)
    results["tailmine_all_signals_MBps"] = round(mb / best["signals"], 2)
    results["segmenters"] = segmenter_speed(docs, repeat)
    results["letter_words_threshold"] = letter_words_threshold(docs)
    ours = decisions_tailmine(docs)
    if dt is None:
        results["datatrove"] = "left out (--skip-datatrove)"
        return results
    for name in ("repetition", "quality"):
        results[f"datatrove_{name}_MBps"] = round(mb / dt["seconds"][name], 3)
    for lang in ("zh", "ja"):
        if f"{lang}_MBps" in results["segmenters"]:
            lang_mb = sum(len(d["text"].encode()) for d in docs if d["lang"] == lang) / 1e6
            results["segmenters"][f"{lang}_datatrove_spacy_MBps"] = round(lang_mb / dt["seconds"][f"tokenize_{lang}"], 2)
    results["agreement"] = per_rule_agreement(docs, ours, dt["decisions"])
    all_four = sum(dt["seconds"][k] for k in ("repetition", "quality", "c4", "fineweb"))
    results["datatrove_all_four_MBps"] = round(mb / all_four, 3)
    results["speedup_all_signals_vs_datatrove_all_four"] = round(results["tailmine_all_signals_MBps"] / results["datatrove_all_four_MBps"], 1)
    both = dt["seconds"]["repetition"] + dt["seconds"]["quality"]
    results["datatrove_both_MBps"] = round(mb / both, 3)
    results["speedup_vs_datatrove_both"] = round(results["tailmine_gopher_both_MBps"] / results["datatrove_both_MBps"], 1)
    results["speedup_vs_datatrove_slower_filter"] = round(
        results["tailmine_gopher_both_MBps"] / min(results["datatrove_repetition_MBps"], results["datatrove_quality_MBps"]), 1)
    return results


def bench_stage(docs: list[dict], work: Path, copies: int) -> dict:
    from tailmine.ingest.config import IngestConfig
    from tailmine.pipelines import ingest

    src = work / "stage.jsonl"
    with open(src, "w") as f:
        for c in range(copies):
            for d in docs:
                f.write(json.dumps({"id": f"c{c}/{d['id']}", "text": d["text"]}) + "\n")
    ingest.run([str(src)], str(work / "ingest"), IngestConfig(), SINGLE, force=True, progress=False)
    mb = copies * sum(len(d["text"].encode()) for d in docs) / 1e6
    proc = subprocess.run([sys.executable, "-c", STAGE.format(single=SINGLE), str(work / "ingest"), str(work / "filter")],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"benchmark stopped: the filter stage failed:\n{proc.stderr[-2000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["MB"] = round(mb, 2)
    row["MBps_per_core_wall"] = round(mb / row["seconds"], 2)
    row["MBps_per_cpu_second"] = round(mb / row["cpu_seconds"], 2)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    ap.add_argument("--docs", type=int, default=0, help="use the first N documents (0: all)")
    ap.add_argument("--repeat", "--repeats", dest="repeat", type=int, default=3, help="rounds; tailmine and datatrove alternate, best of each")
    ap.add_argument("--copies", type=int, default=2, help="the end-to-end run reads the corpus this many times")
    ap.add_argument("--dt-python", default="/tmp/dt-venv/bin/python",
                    help="python of a virtualenv with datatrove, spaCy, jieba, sudachipy + sudachidict-core, pythainlp")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--skip-datatrove", action="store_true", help="leave datatrove out (it otherwise must run)")
    args = ap.parse_args(argv)
    from timing import reference_tool

    if not args.skip_datatrove:
        reference_tool("datatrove", lambda: Path(args.dt_python).resolve(strict=True), "pass --dt-python, or --skip-datatrove")
    work = args.work or Path(tempfile.mkdtemp(prefix="tailmine-filter-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    docs = corpus(args.corpora, args.docs)
    results = {"gopher": bench_gopher(docs, args.repeat, None if args.skip_datatrove else args.dt_python, work)}
    print(json.dumps(results["gopher"], indent=1), flush=True)
    results["stage"] = bench_stage([d for d in docs if d["lang"] == "en"], work, args.copies)
    print(json.dumps(results["stage"], indent=1), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
