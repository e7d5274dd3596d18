"""Issue 21: does tail upweighting pay on *real* text? The tail experiment on Gutenberg books and web pages.

The pool is real text from the shared corpora: the opening ``book_chars`` characters of English
Gutenberg books (header and licence kept, so ingest parses them as books) and the CCNet JSONL and
Common Crawl WET documents. It is split **before mixing** by the mix stage's own group key
(:func:`tailmine.mixtures.holdout.domain_key`: a book's work, so two editions fall together, else the
web page's registered domain), whole groups offered in hash order by
:func:`~tailmine.mixtures.holdout.choose_holdout_groups` until ~``holdout`` of the tokens are held
out. Splitting first, not with ``mix --holdout``, keeps one held-out set for every seed and arm (the
mixer draws its split from its seed) and lets ``concepts`` count document frequencies over the
training pool alone, so the mixer's buckets and the evaluation's head/torso/tail share one df.
Each side then runs ingest → filter → dedup, the training side also concepts.

Evaluation (:func:`evaluate_heldout`): held-out bits per byte, and per-token loss on the tokens of
concept mentions (the entity spans that the mixer buckets on, found by tailmine's own
:class:`~tailmine.concepts.extract.EntitySpanExtractor`, mapped to tokens with the tokenizer's
character offsets), bucketed by the concept's training-pool document frequency
(:func:`concept_buckets`). The pass rule is :func:`passes`, fixed before the first run.
"""
from __future__ import annotations

import gzip
import json
import math
import os
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from tailmine.errors import ConfigError
from tailmine.experiments.sweep import ModelRunConfig

BUCKETS = ("head", "torso", "tail", "once", "unseen")
HEAD_SHARE = 0.05       # head: the top 5% of the pool's concepts by document frequency
TAIL_DF = (2, 10)       # tail: seen in 2..10 training documents
PASS_RULE = ("an upweighted arm passes at a budget if, in EACH seed, (a) its mean per-token loss on the held-out tokens of "
             "tail-concept mentions (concepts seen in 2-10 training documents) is at least 3% lower than the passive arm's "
             "(same seed and budget), (b) its overall held-out bits per byte is at most 1% higher, and (c) its head-concept "
             "token loss is at most 1% higher")
TAIL_LOSS_GAIN = 0.03
BPB_SLACK = 0.01
HEAD_LOSS_SLACK = 0.01


def passes(arm: dict, passive: dict) -> dict:
    """The pre-registered rule of issue 21 for one seed: ``arm`` and ``passive`` are evaluations of the
    same seed and budget (:func:`evaluate_heldout`). Fixed before the first run; changing it after
    seeing results would make the verdict meaningless."""
    gain = 1.0 - arm["tail"]["token_loss"] / passive["tail"]["token_loss"]
    bpb_cost = arm["bpb"] / passive["bpb"] - 1.0
    head_cost = arm["head"]["token_loss"] / passive["head"]["token_loss"] - 1.0
    return {"tail_loss_gain": gain, "bpb_cost": bpb_cost, "head_loss_cost": head_cost,
            "pass": bool(gain >= TAIL_LOSS_GAIN and bpb_cost <= BPB_SLACK and head_cost <= HEAD_LOSS_SLACK)}


# ---------------------------------------------------------------------------------------------- the pool

CORPUS_BOOKS = "books/gutenberg"
CORPUS_WEB = ("web/ccnet/dolma-cc_en_head-0091.jsonl.gz", "web/ccnet/dolma-cc_en_head-0174.jsonl.gz",
              "web/warc/whirlwind-cc-main-2024-22.wet.gz")


def english_books(corpora: Path) -> list[Path]:
    """The English Gutenberg files (SOURCES.md: ``fr__*`` are French, pg24823 Spanish), sorted by name."""
    return sorted(p for p in (corpora / CORPUS_BOOKS).glob("*.txt.gz") if not p.name.startswith("fr__") and p.name != "pg24823.txt.gz")


def book_excerpt(raw: str, chars: int) -> str:
    """The file with its body cut to its first ``chars`` characters at a paragraph end: header, START
    line, body excerpt, END line and licence, so ingest still recognises and strips a Gutenberg book."""
    from tailmine.ingest.gutenberg import _END, _START

    raw = raw.replace("\r\n", "\n")
    start = _START.search(raw)
    end = _END.search(raw, start.end()) if start else None
    if not start or not end:
        raise ConfigError("book without Gutenberg START/END lines: cannot cut an excerpt that ingest parses as a book")
    body = raw[start.end() : end.start()]
    cut = body.rfind("\n\n", 0, chars)
    body = body[: cut if cut > chars // 2 else chars]
    return raw[: start.end()] + body + "\n\n" + raw[end.start() :]


def _group_of_book(text: str, path: str) -> str:
    from tailmine.ingest.gutenberg import parse_book
    from tailmine.mixtures.holdout import domain_key

    book = parse_book(text)
    return domain_key("gutenberg", None, json.dumps(book.metadata), path)


def _jsonl_records(path: Path) -> list[tuple[str, str]]:
    """(line, group key) per record of a JSONL(.gz): the key from its URL, as ingest reads it (``url``,
    else Dolma's ``metadata.url``, else an ``id`` that is a URL)."""
    from tailmine.mixtures.holdout import domain_key

    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            url = rec.get("url") or (rec.get("metadata") or {}).get("url") or rec.get("id")
            out.append((line if line.endswith("\n") else line + "\n", domain_key("jsonl", str(url or ""), None, str(path))))
    return out


def write_split_raw(corpora: Path, root: Path, books: int, book_chars: int, holdout: float, seed: int = 0,
                    web_docs: int = 1 << 30) -> dict:
    """Write the pool's raw files as ``root/raw-train`` and ``root/raw-heldout`` (whole groups on one
    side); returns the split's summary. ``books``: how many English books, taken in the order of a
    hash of their file name (a spread of authors, not the alphabet's first); ``web_docs``: at most
    this many CCNet records (file order)."""
    from tailmine.mixtures.holdout import choose_holdout_groups

    files = sorted(english_books(corpora), key=lambda p: (zlib.crc32(p.name.encode()), p.name))[:books]
    items = []  # (side-independent) (group, kind, name, payload)
    for p in files:
        text = book_excerpt(gzip.open(p, "rt", encoding="utf-8-sig").read(), book_chars)
        name = p.name[: -len(".gz")]
        items.append((_group_of_book(text, name), "file", name, text))
    for rel in CORPUS_WEB:
        p = corpora / rel
        if rel.endswith(".jsonl.gz"):
            for line, key in _jsonl_records(p)[: max(0, web_docs - sum(k == "jsonl" for _g, k, _n, _p in items))]:
                items.append((key, "jsonl", p.name[: -len(".gz")], line))
        else:  # one WET file: its conversion records stay together, on the training side
            items.append(("file:" + p.name, "copy", p.name, str(p)))
    sizes: dict = {}
    for key, _kind, _name, payload in items:
        sizes[key] = sizes.get(key, 0) + (len(payload.encode()) if _kind != "copy" else os.path.getsize(payload))
    candidates = {k: v // 4 for k, v in sizes.items() if not k.startswith("file:whirlwind")}  # ~4 bytes a token
    held, info = choose_holdout_groups(candidates, sum(v // 4 for v in sizes.values()), holdout, seed)
    for side in ("raw-train", "raw-heldout"):
        (root / side).mkdir(parents=True, exist_ok=True)
    jsonl: dict = {}
    for key, kind, name, payload in items:
        side = root / ("raw-heldout" if key in held else "raw-train")
        if kind == "file":
            (side / name).write_text(payload, encoding="utf-8")
        elif kind == "copy":
            (side / name).write_bytes(Path(payload).read_bytes())
        else:
            jsonl.setdefault(side / name, []).append(payload)
    for path, lines in jsonl.items():
        path.write_text("".join(lines), encoding="utf-8")
    return {**info, "held_groups": sorted(held), "groups": len(sizes), "books": len(files), "book_chars": book_chars}


def curate(raw: Path, root: Path, name: str, concepts: bool) -> str:
    """ingest → filter → dedup (→ concepts) of one side; returns the last stage's folder."""
    from tailmine.concepts.config import ConceptConfig
    from tailmine.dedup.config import DedupConfig
    from tailmine.experiments.tail import BEAM
    from tailmine.filters.config import FilterConfig
    from tailmine.ingest.config import IngestConfig
    from tailmine.pipelines import concepts as concepts_stage
    from tailmine.pipelines import dedup, filters, ingest

    inputs = sorted(str(p) for p in raw.iterdir())
    d = {s: str(root / f"{name}-{s}") for s in ("ingest", "filter", "dedup", "concepts")}
    ingest.run(inputs, d["ingest"], IngestConfig(), BEAM, force=True, progress=False)
    filters.run(d["ingest"], d["filter"], FilterConfig(), BEAM, force=True, progress=False)
    dedup.run(d["filter"], d["dedup"], DedupConfig(), BEAM, force=True, progress=False)
    if not concepts:
        return d["dedup"]
    concepts_stage.run(d["dedup"], d["concepts"], ConceptConfig(bootstrap=0), BEAM, force=True, progress=False)
    return d["concepts"]


def stage_documents(stage_dir: str) -> list[tuple[str, str]]:
    """(id, text) of every document of a finished stage, in manifest order."""
    from tailmine.fileio import join, open_raw
    from tailmine.runtime import stage_shards

    out = []
    for shard in stage_shards(stage_dir)[1]:
        with open_raw(join(stage_dir, shard.path)) as handle:
            import pyarrow.parquet as pq

            t = pq.ParquetFile(handle).read(columns=["id", "text"])
        out += list(zip(t.column("id").to_pylist(), t.column("text").to_pylist()))
    return out


def concept_dfs(concepts_dir: str, kind: str = "e") -> dict[str, int]:
    """Training-pool document frequency of every concept of ``kind`` (the concepts stage's table)."""
    from tailmine.concepts.tables import iter_concept_tables

    prefix = kind + ":"
    return {c: int(v) for t in iter_concept_tables(concepts_dir, ["concept", "df"])
            for c, v in zip(t.column(0).to_pylist(), t.column(1).to_pylist()) if c.startswith(prefix)}


def concept_buckets(dfs: dict[str, int], head_share: float = HEAD_SHARE, tail_df: tuple = TAIL_DF) -> tuple[dict, dict]:
    """concept -> bucket (head, torso, tail, once), and the thresholds. Head: the top ``head_share`` of
    the concepts seen in ≥ 2 documents, by df (ties by name); tail: df in ``tail_df`` and not head;
    torso: the rest seen in more documents; once: df 1 (as often a typo as knowledge, reported apart).
    A concept absent from ``dfs`` is *unseen*."""
    seen = sorted((c for c, d in dfs.items() if d >= 2), key=lambda c: (-dfs[c], c))
    n_head = max(1, int(round(head_share * len(seen)))) if seen else 0
    head = set(seen[:n_head])
    out = {}
    for c, d in dfs.items():
        out[c] = "head" if c in head else "once" if d < 2 else "tail" if tail_df[0] <= d <= tail_df[1] else "torso"
    info = {"concepts": len(dfs), "seen_twice": len(seen), "head": n_head, "head_min_df": dfs[seen[n_head - 1]] if n_head else None,
            "tail_df": list(tail_df)}
    return out, info


# ---------------------------------------------------------------------------------------------- evaluation


def mentions(text: str) -> list[tuple[int, int, str]]:
    """(char start, char end, concept) of every entity-span mention in NFKC ``text``, found the way the
    concepts stage and the mixer find them (:class:`EntitySpanExtractor`)."""
    from tailmine.concepts.extract import EntitySpanExtractor
    from tailmine.concepts.lexicon import SPAN

    ex = EntitySpanExtractor()
    out = []
    for m in SPAN.finditer(text):
        c = ex.from_match(text, m.start(), m.group())
        if c is not None:
            out.append((m.start(), m.end(), c))
    return out


def heldout_texts(stage_dir: str) -> list[str]:
    """The held-out documents' text, NFKC-normalised (the entity extractor's offsets are into NFKC text)."""
    return [unicodedata.normalize("NFKC", t) for _i, t in stage_documents(stage_dir) if t and t.strip()]


def token_losses(model, seqs: list[list[int]], batch: int = 64, device: str = "cpu") -> list[np.ndarray]:
    """Per-token NLL (nats) of every token after the first of each sequence, in windows of the model's
    context (stride = context: each token is predicted once, from up to ``context`` tokens before it
    in its window)."""
    import torch  # here, not at import: `tailmine experiment real --help` stays light

    with torch.no_grad():
        return _token_losses(model, seqs, batch, device)


def _token_losses(model, seqs, batch, device) -> list[np.ndarray]:
    import torch
    import torch.nn.functional as F

    ctx = model.cfg.context
    windows = []  # (sequence, first target position, ids)
    for i, s in enumerate(seqs):
        for a in range(0, max(len(s) - 1, 0), ctx):
            windows.append((i, a + 1, s[a : a + ctx + 1]))
    out = [np.zeros(max(len(s) - 1, 0)) for s in seqs]
    model.to(device)
    for b0 in range(0, len(windows), batch):
        chunk = windows[b0 : b0 + batch]
        width = max(len(w) for _i, _a, w in chunk)
        x = torch.zeros(len(chunk), width, dtype=torch.long)
        for j, (_i, _a, w) in enumerate(chunk):
            x[j, : len(w)] = torch.tensor(w)
        x = x.to(device)
        logp = F.log_softmax(model(x[:, :-1]).float(), dim=-1)
        nll = -logp.gather(-1, x[:, 1:, None])[..., 0].cpu().numpy()
        for j, (i, a, w) in enumerate(chunk):
            out[i][a - 1 : a - 1 + len(w) - 1] = nll[j, : len(w) - 1]
    return out


@dataclass
class HeldOut:
    """The held-out set, tokenised once: ids, the concept and bucket of each mention's tokens."""

    texts: list
    ids: list
    mention_tokens: list   # per document: [(token indices, concept, bucket)]
    utf8_bytes: int

    @classmethod
    def build(cls, texts: list[str], encoder, buckets: dict) -> "HeldOut":
        encs = encoder.tokenizer.encode_batch(texts, add_special_tokens=False)
        fast = encoder.encode_batch(texts)
        ids, men = [], []
        for text, enc, ref in zip(texts, encs, fast):
            if list(enc.ids) != list(ref):
                raise ConfigError("tokenizers and the mixer's encoder disagree on a held-out document: offsets would be wrong")
            starts = np.array([a for a, _b in enc.offsets]) if enc.offsets else np.zeros(0, int)
            ends = np.array([b for _a, b in enc.offsets]) if enc.offsets else np.zeros(0, int)
            doc = []
            for a, b, c in mentions(text):
                toks = np.nonzero((starts < b) & (ends > a))[0]
                if len(toks):
                    doc.append((toks, c, buckets.get(c, "unseen")))
            ids.append(list(enc.ids))
            men.append(doc)
        return cls(texts, ids, men, sum(len(t.encode("utf-8")) for t in texts))


def evaluate_heldout(model, encoder, held: HeldOut, device: str = "cpu") -> dict:
    """Bits per byte over the held-out set, and mean per-token loss (nats) on concept-mention tokens
    per bucket; ``per_concept``: the summed loss and token count per mentioned concept (for the
    loss-vs-exposures curve)."""
    eos = encoder.eos_id
    losses = token_losses(model, [[eos] + ids + [eos] for ids in held.ids], device=device)
    total = float(sum(float(x.sum()) for x in losses))
    out: dict = {"bpb": total / math.log(2) / held.utf8_bytes, "heldout_tokens": int(sum(len(x) for x in losses))}
    sums = {b: [0.0, 0, 0] for b in BUCKETS}  # loss, tokens, mentions
    per_concept: dict = {}
    for doc_loss, doc in zip(losses, held.mention_tokens):
        for toks, concept, bucket in doc:
            s = float(doc_loss[toks].sum())  # token t of the document is target t of [EOS] + ids
            sums[bucket][0] += s
            sums[bucket][1] += len(toks)
            sums[bucket][2] += 1
            pc = per_concept.setdefault(concept, [0.0, 0])
            pc[0] += s
            pc[1] += len(toks)
    for b, (s, n, m) in sums.items():
        out[b] = {"token_loss": s / n if n else math.nan, "tokens": n, "mentions": m}
    out["per_concept"] = {c: [round(v[0], 4), v[1]] for c, v in per_concept.items()}
    return out


def concept_exposures(mix_dir: str, doc_text: dict, concepts: set, max_sequences: int) -> dict[str, int]:
    """How many of the first ``max_sequences`` mixture sequences (what training consumed) mention each
    of ``concepts`` (entity spans of the unit's text, as the mixer extracts them)."""
    from tailmine.concepts.extract import EntitySpanExtractor

    ex = EntitySpanExtractor()
    recipe = json.loads((Path(mix_dir) / "recipe.json").read_text())
    counts: dict = {}
    cache: dict = {}
    seen = 0
    for s in recipe["shards"]:
        import pyarrow.parquet as pq

        t = pq.read_table(os.path.join(mix_dir, s["name"] + ".lineage.parquet"), columns=["id", "char_start", "char_end"])
        for key in zip(*(t.column(c).to_pylist() for c in t.column_names)):
            if seen >= max_sequences:
                return counts
            seen += 1
            if key not in cache:
                text = unicodedata.normalize("NFKC", doc_text[key[0]][key[1] : key[2]])
                cache[key] = ex.extract(text) & concepts
            for c in cache[key]:
                counts[c] = counts.get(c, 0) + 1
    return counts


EXPOSURE_EDGES = (0, 1, 2, 4, 8, 16, 32, 1 << 30)


def loss_vs_exposures(rows: list[tuple[str, dict, dict, dict]]) -> list[dict]:
    """Mean tail-concept token loss against training exposures of the concept, binned, per arm.
    ``rows``: (arm, per_concept loss from :func:`evaluate_heldout`, exposures per concept, bucket per
    concept); only tail concepts count."""
    out = []
    for lo, hi in zip(EXPOSURE_EDGES[:-1], EXPOSURE_EDGES[1:]):
        acc: dict = {}
        for arm, per_concept, expo, bucket in rows:
            s = acc.setdefault(arm, [0.0, 0])
            for c, (loss, toks) in per_concept.items():
                if bucket.get(c) == "tail" and lo <= expo.get(c, 0) < hi:
                    s[0] += loss
                    s[1] += toks
        row: dict = {"exposures": f"[{lo},{hi})" if hi < (1 << 30) else f">={lo}"}
        row.update({arm: (round(s / n, 4) if n else None, n) for arm, (s, n) in acc.items()})
        out.append(row)
    return out


def line_chart(name: str, series: dict[str, list], xlabels: list[str], ylabel: str, width: int = 560, height: int = 280) -> str:
    """A small inline SVG line chart: one polyline per series over categorical x positions (None: gap)."""
    from tailmine.reports.html import _e, nice_ticks

    vals = [v for ys in series.values() for v in ys if v is not None]
    if not vals:
        return f'<p class="muted" data-plot="{_e(name)}">no data</p>'
    left, bottom, pad = 56, 40, 12
    pw, ph = width - left - pad, height - bottom - pad
    ticks = nice_ticks(min(vals), max(vals))
    y0, y1 = min(ticks[0], min(vals)), max(ticks[-1], max(vals))
    y1 = y1 if y1 > y0 else y0 + 1
    sx = lambda i: left + pw * (i + 0.5) / len(xlabels)  # noqa: E731
    sy = lambda v: pad + ph * (1 - (v - y0) / (y1 - y0))  # noqa: E731
    colors = ["#3b6fd8", "#e0703a", "#2a9d6f", "#8e44ad"]
    parts = [f'<svg data-plot="{_e(name)}" width="{width}" height="{height}" role="img" aria-label="{_e(name)}">',
             f'<rect x="{left}" y="{pad}" width="{pw}" height="{ph}" fill="none" stroke="#ccc"/>']
    for t in ticks:
        parts.append(f'<text x="{left - 4}" y="{sy(t) + 4:.1f}" font-size="11" text-anchor="end">{t:g}</text>')
    for i, lab in enumerate(xlabels):
        parts.append(f'<text x="{sx(i):.1f}" y="{pad + ph + 14}" font-size="11" text-anchor="middle">{_e(lab)}</text>')
    for k, (label, ys) in enumerate(series.items()):
        col = colors[k % len(colors)]
        pts = " ".join(f"{sx(i):.1f},{sy(v):.1f}" for i, v in enumerate(ys) if v is not None)
        parts.append(f'<polyline data-series="{_e(label)}" fill="none" stroke="{col}" stroke-width="2" points="{pts}"/>')
        parts.append(f'<text x="{left + 8}" y="{pad + 14 + 14 * k}" font-size="12" fill="{col}">{_e(label)}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 6}" font-size="12" text-anchor="middle">training exposures of the concept</text>')
    parts.append(f'<text x="12" y="{pad + ph / 2}" font-size="12" transform="rotate(-90 12 {pad + ph / 2})" text-anchor="middle">{_e(ylabel)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------- the sweep


@dataclass(frozen=True)
class RealConfig(ModelRunConfig):
    """What shapes a run of ``experiment real``. ``epochs``, ``arms`` and ``seeds`` only choose which runs
    to do (and ``corpora``, ``threads``, ``device`` where they run); everything else must match the
    results already in the folder."""

    SELECTION: ClassVar[tuple] = ("epochs", "arms", "seeds", "threads", "device", "corpora")
    epochs: tuple = (0.5, 1.0, 2.0)
    """Budgets as passes over the training pool: tokens = epochs × the pool's tokens (passive's epochs)."""
    arms: tuple = ("passive", "l1_b0.25_E4", "l1_b0.5_E4")
    corpora: str = ""
    """The shared corpora folder (SOURCES.md); empty: ../shared/corpora beside the working directory."""
    books: int = 50
    book_chars: int = 10_000
    web_docs: int = 20
    """CCNet documents (both shared files hold 20); the one WET page always trains."""
    holdout: float = 0.05
    vocab: int = 2048
    unit_tokens: int = 256
    batch: int = 8

    def __post_init__(self):
        super().__post_init__()
        if not self.epochs or min(self.epochs) <= 0:
            raise ConfigError("experiment real: give positive --epochs")
        if self.books < 1 or self.book_chars < 1000 or self.web_docs < 0:
            raise ConfigError("experiment real: --books >= 1, --book-chars >= 1000 and --web-docs >= 0")


@dataclass
class _RealContext:
    cfg: RealConfig
    work: Path
    concepts_dir: str
    tokenizer: str
    held: HeldOut
    buckets: dict
    doc_text: dict
    log: object = print


def prepare_pool(cfg: RealConfig, work: Path, log=print) -> dict:
    """Raw split → curated stages → tokenizer; skipped when ``work/pool.json`` says it is done."""
    from tailmine.pipelines import tokenizer as tok_stage

    done = work / "pool.json"
    if done.exists():
        return json.loads(done.read_text())
    corpora = Path(cfg.corpora) if cfg.corpora else Path.cwd().parent / "shared" / "corpora"
    if not (corpora / "SOURCES.md").exists():
        raise ConfigError(f"{corpora}: not the shared corpora folder (no SOURCES.md); give --corpora DIR")
    work.mkdir(parents=True, exist_ok=True)
    split = write_split_raw(corpora, work, cfg.books, cfg.book_chars, cfg.holdout, web_docs=cfg.web_docs)
    train_dir = curate(work / "raw-train", work, "train", concepts=True)
    held_dir = curate(work / "raw-heldout", work, "heldout", concepts=False)
    tok = tok_stage.train([train_dir], str(work / "tokenizer.json"), vocab_size=cfg.vocab)
    from tailmine.mixtures.tokenize import Encoder

    enc = Encoder(str(work / "tokenizer.json"))
    docs = stage_documents(train_dir)
    pool_tokens = int(sum(len(ids) + 1 for ids in enc.encode_batch([t for _i, t in docs])))
    held = heldout_texts(held_dir)
    info = {"split": split, "train_dir": train_dir, "heldout_dir": held_dir, "tokenizer": str(work / "tokenizer.json"),
            "tokenizer_info": tok, "train_documents": len(docs), "pool_tokens": pool_tokens, "heldout_documents": len(held),
            "heldout_tokens": int(sum(len(ids) + 1 for ids in enc.encode_batch(held)))}
    done.write_text(json.dumps(info, indent=1))
    log(f"pool: {len(docs)} training documents, {pool_tokens:,} tokens; held out {len(held)} documents, "
        f"{info['heldout_tokens']:,} tokens ({info['heldout_tokens'] / (pool_tokens + info['heldout_tokens']):.1%})")
    return info


def _run_real_arm(ctx: _RealContext, arm, tokens: int, seed: int) -> dict:
    from tailmine.experiments.sweep import mix_and_train

    cfg = ctx.cfg
    mix_dir, recipe, encoder, model, tr, t_mix, used = mix_and_train(ctx, arm, tokens, seed, unit_tokens=cfg.unit_tokens)
    ev = evaluate_heldout(model, encoder, ctx.held, device=cfg.device)
    seqs = _sequences_for(mix_dir, used)
    expo = concept_exposures(str(mix_dir), ctx.doc_text, set(ev["per_concept"]), seqs)
    res = {"arm": arm.name, "seed": seed, "tokens": tokens, "params": model.n_params(), "mix_seconds": round(t_mix, 1), **tr,
           "recipe": {"tokens_total": recipe["tokens_total"], "max_epochs_realised": recipe["repetition_profile"]["max_epochs"],
                      "cov_10": recipe["tail_metrics"]["mixture"]["cov_10"]},
           "exposures": expo, **ev}
    ctx.log(f"  {arm.name:12s} seed {seed} B={tokens:,}: {tr['steps']} steps ({tr['seconds']:.0f}s train, {t_mix:.0f}s mix) "
            f"bpb {ev['bpb']:.4f} | " + " | ".join(f"{b} {ev[b]['token_loss']:.3f}" for b in BUCKETS))
    return res


def _sequences_for(mix_dir, used_tokens: int) -> int:
    from tailmine.experiments.tail import sequences_in_tokens

    return sequences_in_tokens(str(mix_dir), used_tokens)


VERDICT_KEYS = {"tail_loss_gain": "min", "bpb_cost": "max", "head_loss_cost": "max"}


def summarise(results: dict) -> dict:
    from tailmine.experiments.sweep import verdicts

    results["verdict"] = verdicts(results["runs"], passes, VERDICT_KEYS)
    best = best_arm(results)
    rows = [(r["arm"], r["per_concept"], r["exposures"], results["buckets"]) for r in results["runs"] if r["arm"] in ("passive", best)]
    results["loss_vs_exposures"] = loss_vs_exposures(rows) if rows else []
    results["best_arm"] = best
    return results


def best_arm(results: dict):
    """The upweighted arm with the largest mean tail-loss gain over budgets (the curve's second line)."""
    gains: dict = {}
    for arms in results.get("verdict", {}).values():
        for arm, v in arms.items():
            if v["tail_loss_gain_mean"] is not None:
                gains.setdefault(arm, []).append(v["tail_loss_gain_mean"])
    return max(gains, key=lambda a: (float(np.mean(gains[a])), a)) if gains else None


def verdict_rows(results: dict) -> list[list]:
    rows = []
    for budget, arms in results.get("verdict", {}).items():
        for arm, v in arms.items():
            if not v["per_seed"]:
                continue
            rows.append([f"{int(budget):,}", f"{int(budget) / results['pool']['pool_tokens']:.2g}", arm,
                         f"{v['tail_loss_gain_min']:+.1%}", f"{v['tail_loss_gain_mean']:+.1%}", f"{v['bpb_cost_max']:+.2%}",
                         f"{v['head_loss_cost_max']:+.2%}", f"{sum(s['pass'] for s in v['per_seed'])}/{v['seeds_run']}"
                         + ("" if v["complete"] else " (incomplete)"), "PASS" if v["pass"] else "fail"])
    return rows


def run_rows(results: dict) -> list[list]:
    rows = []
    for r in results["runs"]:
        v = next((s for s in results.get("verdict", {}).get(str(r["tokens"]), {}).get(r["arm"], {}).get("per_seed", [])
                  if s["seed"] == r["seed"]), None)
        rows.append([r["arm"], r["seed"], f"{r['tokens']:,}", r["steps"], f"{r['bpb']:.4f}"]
                    + [f"{r[b]['token_loss']:.3f}" for b in BUCKETS]
                    + ([f"{v['tail_loss_gain']:+.1%}", f"{v['bpb_cost']:+.2%}", f"{v['head_loss_cost']:+.2%}", "yes" if v["pass"] else "no"]
                       if v else ["–"] * 4))
    return rows


VERDICT_HEAD = ["budget (tokens)", "passive epochs", "arm", "tail loss gain, worst seed", "mean", "bpb cost, worst seed",
                "head loss cost, worst seed", "seeds passing", "verdict"]
RUN_HEAD = ["arm", "seed", "B (tokens)", "steps", "held-out bpb"] + [f"{b} loss" for b in BUCKETS] \
    + ["tail gain vs passive", "bpb cost", "head cost", "pass"]


def _md_table(head: list, rows: list) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def markdown(results: dict) -> str:
    pool, b = results["pool"], results["bucket_info"]
    lines = [f"Pool: {pool['train_documents']} training documents, {pool['pool_tokens']:,} tokens; held out "
             f"{pool['heldout_documents']} documents, {pool['heldout_tokens']:,} tokens. Concepts (entity spans) in the pool: "
             f"{b['concepts']:,}, {b['seen_twice']:,} seen in >= 2 documents; head = top {b['head']} (df >= {b['head_min_df']}), "
             f"tail = df {b['tail_df'][0]}-{b['tail_df'][1]}.", ""]
    lines += _md_table(VERDICT_HEAD, verdict_rows(results)) + [""] + _md_table(RUN_HEAD, run_rows(results))
    if results.get("loss_vs_exposures"):
        arms = [k for k in results["loss_vs_exposures"][0] if k != "exposures"]
        rows = [[row["exposures"]] + ["–" if row[a][0] is None else f"{row[a][0]:.3f} (n={row[a][1]})" for a in arms]
                for row in results["loss_vs_exposures"]]
        lines += ["", "Tail-concept token loss (nats) against training exposures of the concept, pooled over seeds and budgets:", ""]
        lines += _md_table(["exposures"] + arms, rows)
    return "\n".join(lines)


def render_html(results: dict) -> str:
    from tailmine.reports.html import CSS, _e, _section, _table

    sections = [_section("rule", "Pass rule (fixed before the run)", f"<p>{_e(results['pass_rule'])}</p>"),
                _section("verdict", "Verdict per budget and arm", _table(VERDICT_HEAD, verdict_rows(results))),
                _section("runs", "Every run", _table(RUN_HEAD, run_rows(results), numeric=(1, 3, 4)))]
    curve = results.get("loss_vs_exposures") or []
    if curve:
        arms = [k for k in curve[0] if k != "exposures"]
        series = {a: [row[a][0] for row in curve] for a in arms}
        sections.append(_section("exposures", "Tail-concept token loss against exposures",
                                 line_chart("tail-loss-vs-exposures", series, [row["exposures"] for row in curve], "tail-concept token loss (nats)")))
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>tailmine real-text tail experiment</title>"
            f"<style>{CSS}</style></head><body><main><h1>Does tail upweighting pay on real text?</h1>"
            f"<p class=\"muted\">{_e(json.dumps(results['pool']['split']))}</p>{''.join(sections)}</main></body></html>")


def run_real(cfg: RealConfig, out_dir: str, log=print) -> dict:
    """Run (or resume) the real-text sweep into ``out_dir`` (results.json after every run, results.md,
    report.html at the end)."""
    from tailmine.experiments.sweep import RESULTS, load_results, run_plan, write_results
    from tailmine.mixtures.tokenize import Encoder

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS
    results = load_results(path, cfg.shape())
    work = out / "work"
    pool = prepare_pool(cfg, work, log)
    buckets, bucket_info = concept_buckets(concept_dfs(pool["train_dir"]))
    encoder = Encoder(pool["tokenizer"])
    held = HeldOut.build(heldout_texts(pool["heldout_dir"]), encoder, buckets)
    if results is None:
        results = {"pass_rule": PASS_RULE, "shape": cfg.shape(), "calibration": [], "runs": []}
    results.update(config={k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()}, pool=pool,
                   bucket_info=bucket_info,
                   buckets={c: b for doc in held.mention_tokens for _t, c, b in doc})  # the held-out concepts' buckets
    ctx = _RealContext(cfg, work, pool["train_dir"], pool["tokenizer"], held, buckets,
                       dict(stage_documents(pool["train_dir"])), log)

    def save():
        write_results(path, summarise(results))

    budgets = [int(round(e * pool["pool_tokens"])) for e in cfg.epochs]
    plan = [("runs", arm, b, s) for b in budgets for s in cfg.seeds for arm in cfg.arm_list()]
    run_plan(results, plan, lambda arm, b, s: _run_real_arm(ctx, arm, b, s), save, log, PASS_RULE, path)
    save()
    (out / "results.md").write_text(markdown(results) + "\n")
    (out / "report.html").write_text(render_html(results))
    return results
