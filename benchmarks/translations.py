"""A real labelled multilingual corpus: Debian's translated manuals, one page per language per section.

Build it (about 50 MB of .deb downloads, ~1 minute), then measure language ID and translation parity::

    python benchmarks/translations.py [--cache ~/.cache/tailmine/translations] [--repeat 3] [--out results.json]

Sources (Debian 12 packages, fetched with ``apt-get download``, unpacked with ``dpkg-deb -x``; neither is
among the web-page fixtures of ``shared/corpora``):

* ``installation-guide-amd64``: the Debian installation guide, DocBook HTML, 88 pages in each of 19
  languages, every translation complete.
* ``debian-handbook``: *The Debian Administrator's Handbook*, 127 pages in each of 26 languages (Arabic and
  Persian among them); some translations are partial and fall back to English paragraphs.

Each page's main text comes from tailmine's own HTML extractor (``tailmine.ingest.extract``), as ingest
would produce it. A page is labelled with its folder's language, mapped to lid.176's codes (``zh_CN`` ->
``zh``, ``pt-BR`` -> ``pt``, ``nb-NO`` -> ``no``). Pages that are not real translations are left out, each
counted under its reason in ``manifest.json``: under 200 characters (title and navigation pages), or, for a
translation, ``untranslated`` when more than 15% of its characters are English prose copied verbatim from the
English page of the same section (the partial handbook translations; commands, paths and names, verbatim
in every translation, do not count). The labels never come from a language
identifier, so they can grade one.

The built corpus is ``pages.jsonl`` (``id, source, section, lang, folder, text``, sorted) plus
``manifest.json`` (package versions, counts, exclusions) in the cache folder; a second build with the same
packages writes the same bytes. ``translation_parity`` is the measure the parity test and this benchmark
share: where the English page is kept, the share of its translations kept, per language.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_CACHE = Path(os.environ.get("TAILMINE_TRANSLATIONS", Path.home() / ".cache" / "tailmine" / "translations"))
FORMAT = 2
"""Bumped when the corpus layout or the selection changes, so an old cache is rebuilt."""
MIN_CHARS = 200
UNTRANSLATED_SHARE = 0.15
MIN_LINE_CHARS = 20
ENGLISH = "en"


@dataclass(frozen=True)
class Source:
    package: str
    root: str
    """Folder in the package holding one sub-folder of HTML pages per language."""
    english: str
    """The English folder's name."""


SOURCES = (
    Source("installation-guide-amd64", "usr/share/doc/installation-guide-amd64", "en"),
    Source("debian-handbook", "usr/share/doc/debian-handbook/html", "en-US"),
)

LID_CODES = {"nb": "no", "zh_CN": "zh", "zh_TW": "zh", "zh-CN": "zh", "zh-TW": "zh", "pt_BR": "pt", "pt-BR": "pt"}


def lid_code(folder: str) -> str:
    """A translation folder's name (``ja``, ``ar-MA``, ``zh_CN``) as lid.176 labels that language."""
    if folder in LID_CODES:
        return LID_CODES[folder]
    base = folder.replace("_", "-").split("-")[0]
    return LID_CODES.get(base, base)


class CorpusUnavailable(RuntimeError):
    """The Debian packages could not be fetched or unpacked (no registry access, no apt)."""


def fetch(packages: Iterable[str], into: Path) -> dict[str, Path]:
    """``apt-get download`` each package into ``into`` (kept: a rebuild reuses them); name -> .deb path.

    A fresh machine may have no package lists yet: when a download fails and we are root (as CI is),
    ``apt-get update`` runs once and the download is tried again."""
    into.mkdir(parents=True, exist_ok=True)
    found, updated = {}, False
    for package in packages:
        debs = sorted(into.glob(f"{package}_*.deb"))
        if not debs:
            if not shutil.which("apt-get"):
                raise CorpusUnavailable(f"apt-get not found: cannot fetch {package}")
            proc = subprocess.run(["apt-get", "download", package], cwd=into, capture_output=True, text=True)
            if proc.returncode != 0 and not updated and hasattr(os, "geteuid") and os.geteuid() == 0:
                updated = True
                subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True)
                proc = subprocess.run(["apt-get", "download", package], cwd=into, capture_output=True, text=True)
            debs = sorted(into.glob(f"{package}_*.deb"))
            if proc.returncode != 0 or not debs:
                raise CorpusUnavailable(f"apt-get download {package} failed (rc {proc.returncode}): {proc.stderr.strip()[-500:]}")
        found[package] = debs[-1]
    return found


def unpack(deb: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["dpkg-deb", "-x", str(deb), str(into)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CorpusUnavailable(f"dpkg-deb -x {deb} failed: {proc.stderr.strip()[-500:]}")
    return into


def page_text(path: Path) -> str:
    from tailmine.ingest.extract import extract_main_text

    return extract_main_text(path.read_bytes().decode("utf-8", "replace")).text


def long_lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if len(line.strip()) >= MIN_LINE_CHARS]


ENGLISH_FUNCTION_WORDS = frozenset("the of and to is in that for this with are be you it on can".split())


def reads_as_english(line: str) -> bool:
    """At least three distinct English function words: prose, not a command, path or name (those stay
    verbatim in every translation)."""
    return len(ENGLISH_FUNCTION_WORDS.intersection(re.findall(r"[a-z]+", line.lower()))) >= 3


def english_share(text: str, english: str) -> float:
    """Share of a translation's characters (in lines of >= 20 characters) that are English prose copied
    verbatim from the English page of the same section: what a partial translation left untranslated."""
    english_lines = set(long_lines(english))
    lines = long_lines(text)
    total = sum(map(len, lines))
    copied = sum(len(line) for line in lines if line in english_lines and reads_as_english(line))
    return copied / total if total else 0.0


def pages_of(source: Source, tree: Path, excluded: collections.Counter) -> list[dict]:
    root = tree / source.root
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.html")))
    english = {p.name: page_text(p) for p in sorted((root / source.english).glob("*.html"))}
    rows = []
    for folder in folders:
        lang = lid_code(folder)
        for path in sorted((root / folder).glob("*.html")):
            text = page_text(path)
            reason = None
            if len(text) < MIN_CHARS:
                reason = "short"
            elif folder != source.english and english_share(text, english.get(path.name, "")) > UNTRANSLATED_SHARE:
                reason = "untranslated"
            if reason:
                excluded[f"{source.package}:{reason}"] += 1
                continue
            rows.append({"id": f"{source.package}/{folder}/{path.name}", "source": source.package,
                         "section": path.name, "lang": lang, "folder": folder, "text": text})
    return rows


def build(cache: Path = DEFAULT_CACHE, quiet: bool = True) -> Path:
    """Build (or reuse) the corpus under ``cache``; return the path of ``pages.jsonl``.

    Raises :class:`CorpusUnavailable` when the packages cannot be fetched or unpacked.
    """
    cache = Path(cache)
    pages, manifest_path = cache / "pages.jsonl", cache / "manifest.json"
    if pages.is_file() and manifest_path.is_file():
        try:
            if json.loads(manifest_path.read_text()).get("format") == FORMAT:
                return pages
        except ValueError:
            pass
    debs = fetch([s.package for s in SOURCES], cache / "debs")
    rows, excluded = [], collections.Counter()
    with tempfile.TemporaryDirectory(prefix="tailmine-translations-") as tmp:
        for source in SOURCES:
            if not quiet:
                print(f"unpacking and extracting {debs[source.package].name}", file=sys.stderr)
            tree = unpack(debs[source.package], Path(tmp) / source.package)
            rows += pages_of(source, tree, excluded)
    rows.sort(key=lambda r: r["id"])
    body = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode("utf-8")
    manifest = {
        "format": FORMAT,
        "packages": {p: d.name for p, d in sorted(debs.items())},
        "pages": len(rows),
        "languages": dict(sorted(collections.Counter(r["lang"] for r in rows).items())),
        "excluded": dict(sorted(excluded.items())),
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    tmp_pages = pages.with_suffix(".tmp")
    tmp_pages.write_bytes(body)
    os.replace(tmp_pages, pages)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return pages


def load(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# --- measures shared by the tests and this benchmark ----------------------------------------------

def lid_accuracy(pages: list[dict], identify: Callable[[str], tuple[str, float]]) -> tuple[float, dict[str, float], list[tuple[str, str, str]]]:
    """Overall accuracy, accuracy per labelled language, and the misses as (id, label, found)."""
    hits, per_lang, misses = 0, collections.defaultdict(lambda: [0, 0]), []
    for page in pages:
        found = identify(page["text"])[0]
        ok = found == page["lang"]
        hits += ok
        per_lang[page["lang"]][0] += ok
        per_lang[page["lang"]][1] += 1
        if not ok:
            misses.append((page["id"], page["lang"], found))
    return hits / len(pages), {k: a / n for k, (a, n) in sorted(per_lang.items())}, misses


def filter_decisions(pages: list[dict], cfg=None) -> dict[str, Optional[str]]:
    """Page id -> the drop reason ``tailmine filter`` gives it (None: kept), with the stage's own
    annotate and decide on an Arrow table of the pages (no Beam: the same code path per shard)."""
    import pyarrow as pa

    from tailmine.pipelines.filters import FilterStep

    step = FilterStep(cfg)
    step.setup()
    table = pa.table({"id": [p["id"] for p in pages], "text": [p["text"] for p in pages]})
    reasons = step.decide(step.annotate(table))
    return dict(zip((p["id"] for p in pages), reasons))


@dataclass(frozen=True)
class Parity:
    lang: str
    pairs: int
    """Sections whose English page is kept and that have a page in this language."""
    kept: int
    reasons: dict[str, int]
    """Drop reason -> count among those translations."""

    @property
    def rate(self) -> float:
        return self.kept / self.pairs if self.pairs else float("nan")


def translation_parity(pages: list[dict], decisions: dict[str, Optional[str]]) -> dict[str, Parity]:
    """Per language: where the English page of a section (same source, same file name) is kept, how many
    of its translations into that language are kept, and why the others were dropped. Languages are the
    pages' labels (``zh`` pools Simplified and Traditional Chinese)."""
    english_kept = {(p["source"], p["section"]) for p in pages if p["lang"] == ENGLISH and decisions[p["id"]] is None}
    pairs, kept, reasons = collections.Counter(), collections.Counter(), collections.defaultdict(collections.Counter)
    for p in pages:
        if p["lang"] == ENGLISH or (p["source"], p["section"]) not in english_kept:
            continue
        pairs[p["lang"]] += 1
        reason = decisions[p["id"]]
        if reason is None:
            kept[p["lang"]] += 1
        else:
            reasons[p["lang"]][reason] += 1
    return {lang: Parity(lang, pairs[lang], kept[lang], dict(reasons[lang].most_common())) for lang in sorted(pairs)}


# --- benchmark -----------------------------------------------------------------------------------

def _time_lid(identify: Callable[[str], tuple[str, float]], texts: list[str], repeat: int) -> float:
    from timing import best_of

    seconds, _ = best_of(lambda: [identify(t) for t in texts], repeat, time.process_time)
    return seconds / len(texts)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    pages = load(build(args.cache, quiet=False))
    manifest = json.loads((args.cache / "manifest.json").read_text())
    print(f"corpus: {len(pages)} pages in {len(manifest['languages'])} languages; excluded {manifest['excluded']}")

    from py3langid.langid import MODEL_FILE, LanguageIdentifier as Py3LangId

    from tailmine.filters.langid import LanguageIdentifier

    fasttext_lid = LanguageIdentifier()
    fasttext_lid.setup()
    py3 = Py3LangId.from_model_file(MODEL_FILE, norm_probs=True)
    max_chars = fasttext_lid.max_chars

    def py3langid(text: str) -> tuple[str, float]:  # the identifier tailmine used before, same sample
        return py3.classify(text[:max_chars])

    results: dict = {"pages": len(pages), "languages": manifest["languages"], "lid": {}}
    texts = [p["text"] for p in pages]
    per_doc = collections.defaultdict(list)
    for _ in range(args.repeat):  # alternate the two tools, best of --repeat each
        for name, fn in (("fasttext-lid.176", fasttext_lid.identify), ("py3langid", py3langid)):
            per_doc[name].append(_time_lid(fn, texts, 1))
    for name, fn in (("fasttext-lid.176", fasttext_lid.identify), ("py3langid", py3langid)):
        accuracy, per_lang, misses = lid_accuracy(pages, fn)
        ms = min(per_doc[name]) * 1e3
        results["lid"][name] = {"accuracy": accuracy, "ms_per_doc": ms, "per_language": per_lang,
                                "misses": collections.Counter(f"{label}->{found}" for _, label, found in misses).most_common(10)}
        print(f"LID {name:17s} accuracy {accuracy:.4f} ({len(pages) - len(misses)}/{len(pages)})  {ms:.3f} ms/doc CPU")
        print("   worst languages: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(per_lang.items(), key=lambda kv: kv[1])[:5]))
        print("   top misses: " + ", ".join(f"{k} x{n}" for k, n in results["lid"][name]["misses"]))
    speedup = results["lid"]["py3langid"]["ms_per_doc"] / results["lid"]["fasttext-lid.176"]["ms_per_doc"]
    print(f"fastText lid.176 is {speedup:.2f}x py3langid's speed per document")

    decisions = filter_decisions(pages)
    english = [p for p in pages if p["lang"] == ENGLISH]
    kept_en = sum(decisions[p["id"]] is None for p in english)
    print(f"\ntranslation parity (tailmine filter defaults): English pages kept {kept_en}/{len(english)}")
    results["parity"] = {}
    for lang, par in translation_parity(pages, decisions).items():
        results["parity"][lang] = {"pairs": par.pairs, "kept": par.kept, "rate": par.rate, "reasons": par.reasons}
        flag = "" if par.rate >= 0.9 else "  < 0.90"
        top = ", ".join(f"{r} {n}" for r, n in list(par.reasons.items())[:4])
        print(f"  {lang:3s} {par.kept:4d}/{par.pairs:<4d} {par.rate:6.1%}{flag}  {top}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
