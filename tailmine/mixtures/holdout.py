"""A held-out set that is truly held out (longtail-methods.md §4.2).

* :func:`domain_key`: the unit that is split — a book's *work* (normalised author + title from the
  Gutenberg metadata, so two editions of one book share it), else the registered domain of the URL
  (by the Public Suffix List: :func:`tailmine.domains.registered_domain`), else the source file.
* :func:`offered_groups` / :func:`choose_holdout_groups`: whole groups, offered in the order of a hash
  of their key, until the held-out tokens reach the requested share (±20%, else an error); decided
  before any reweighting. Only groups small enough to be taken are offered, and only a prefix of
  them in hash order that is sure to reach the target, so the choice needs a bounded prefix of the
  per-group totals, merged across workers, never every group; on lumpy input (books first in hash
  order, small sites after) it reaches as far down the hash order as it must.
* :class:`ContaminationIndex`: word 13-gram hashes and MinHash LSH bands of the held-out documents;
  a mixture document is dropped when it shares ≥ ``min_ngrams`` 13-grams (or at least half of its
  own) with the held-out set, or when its MinHash Jaccard with a held-out document is ≥ ``jaccard``.
* :func:`bits_per_byte`: BPB = Σ NLL (nats) / (ln 2 · UTF-8 bytes), tokenizer-independent; and
  :func:`evaluate_bits_per_byte`, which runs a model over the held-out token shards.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Callable, Optional

import numpy as np

from tailmine.domains import registered_domain
from tailmine.fileio import stable_file_key

NGRAM = 13
_WS = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _WS.sub(" ", (text or "").strip().casefold())


def domain_key(source: str, url: Optional[str], metadata: Optional[str], source_file: str) -> str:
    meta = {}
    if metadata:
        try:
            meta = json.loads(metadata)
        except ValueError:
            meta = {}
    if not isinstance(meta, dict):
        meta = {}
    if source == "gutenberg" or ("author" in meta and "title" in meta and ("ebook_number" in meta or source == "gutenberg")):
        author, title = _norm(str(meta.get("author", ""))), _norm(str(meta.get("title", "")))
        if author or title:
            return f"work:{author}|{title}"
        if meta.get("ebook_number") is not None:
            return f"ebook:{meta['ebook_number']}"
    if url and "://" in url:
        domain = registered_domain(url)
        if domain:
            return f"domain:{domain}"
    return f"file:{stable_file_key(source_file)}"


HOLDOUT_TOLERANCE = 0.2   # the held-out share must be within ±20% of the requested one
TOKENIZER_RANGE = 3.0     # groups with u(g) < 3·fraction never train the tokenizer (held-out groups almost always are)


def group_uniform(key: str, seed: int) -> float:
    """u(g) ∈ [0, 1) from blake2b(seed, key): the order in which groups are offered to the held-out set."""
    h = hashlib.blake2b(f"holdout\x1f{seed}\x1f{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(h, "little") / 2.0**64


def tokenizer_bound(fraction: float) -> float:
    return min(1.0, TOKENIZER_RANGE * fraction) if fraction > 0 else 0.0


def in_holdout(key: str, fraction: float, seed: int) -> bool:
    """True when group ``key`` is likely to be held out (u(g) < 3·fraction): the tokenizer, trained
    before the groups' token counts exist, never trains on these. The held-out groups are chosen later
    by :func:`choose_holdout_groups`; the recipe counts any that lie beyond this range."""
    return fraction > 0 and group_uniform(key, seed) < tokenizer_bound(fraction)


def offer_limit(total_tokens: int, fraction: float) -> tuple[float, float]:
    """(largest group that can be taken: the target + 10%, the target), from the requested share."""
    target = fraction * total_tokens
    return target * (1 + HOLDOUT_TOLERANCE / 2), target


def offered_groups(groups, total_tokens: int, fraction: float, seed: int) -> list[tuple[float, str, int]]:
    """The groups offered to the held-out set: the takeable ones (not above the target + 10%) in
    (u(g), key) order, up to the first at which the *small* ones (≤ 10% of the target) reach the target.

    Small groups always fit while the held-out set is under its target, so the greedy choice over this
    prefix always reaches the share when the input can; large groups before that point are offered too.
    ``groups``: {key: tokens}, (key, tokens) pairs or (u, key, tokens) triples. The prefix of a union
    is the prefix of the per-part prefixes, so a combiner applies this to partial sets and merges them
    (memory: the prefix, at most a few times the held-out groups plus 10/fraction large ones)."""
    largest, target = offer_limit(total_tokens, fraction)
    pairs = groups.items() if isinstance(groups, dict) else groups
    items = [g if len(g) == 3 else (group_uniform(g[0], seed), g[0], int(g[1])) for g in pairs]
    return prefix_reaching([g for g in items if g[2] <= largest], target)


def prefix_reaching(items: list, target: float) -> list[tuple[float, str, int]]:
    """The (u, key, tokens) items in order, up to and including the first at which the tokens of the
    items no larger than 10% of ``target`` reach ``target``."""
    small = target * HOLDOUT_TOLERANCE / 2
    out, tokens = [], 0
    for u, key, t in sorted(items):
        out.append((u, key, int(t)))
        tokens += int(t) if t <= small else 0
        if tokens >= target:
            break
    return out


def choose_holdout_groups(offered: list, total_tokens: int, fraction: float, seed: int) -> tuple[set, dict]:
    """The held-out groups: the offered groups (:func:`offered_groups`) in u(g) order, each taken while
    the held-out tokens stay under the target + 10%, until the target is reached.

    Raises :class:`ConfigError` when the share cannot come within ±20% of ``fraction`` (too few groups
    small enough); ``--holdout 0`` turns the split off."""
    from tailmine.errors import ConfigError

    if fraction <= 0:
        return set(), {"fraction": 0.0}
    target = fraction * total_tokens
    taken, held, beyond = 0, set(), 0
    for u, g, t in offered_groups(offered, total_tokens, fraction, seed):
        if taken >= target:
            break
        if taken + t <= target * (1 + HOLDOUT_TOLERANCE / 2):
            held.add(g)
            taken += t
            beyond += u >= tokenizer_bound(fraction)
    share = taken / total_tokens if total_tokens else 0.0
    summary = {"fraction": fraction, "share": share, "tokens": int(taken), "input_tokens": int(total_tokens), "groups": len(held),
               "candidate_groups": len(offered), "groups_seen_by_tokenizer": beyond}
    if abs(share - fraction) > HOLDOUT_TOLERANCE * fraction:
        raise ConfigError(
            f"mix holdout: could hold out only {share:.4%} of the {total_tokens:,} input tokens ({len(held)} of "
            f"{len(offered)} domains/works small enough to take) against the requested {fraction:.4%} ± 20%: the input has too "
            f"few domains and book works below {target * (1 + HOLDOUT_TOLERANCE / 2):,.0f} tokens for this share; change --holdout, or pass --holdout 0 for no held-out set")
    return held, summary


def ngram_hashes(text: str, n: int = NGRAM) -> np.ndarray:
    """Sorted unique uint64 hashes of the normalised word n-grams of ``text``."""
    from tailmine.concepts.extract import tokens

    words = tokens(text)
    if len(words) < n:
        return np.zeros(0, np.uint64)
    out = np.empty(len(words) - n + 1, np.uint64)
    for i in range(len(out)):
        out[i] = int.from_bytes(hashlib.blake2b(" ".join(words[i : i + n]).encode(), digest_size=8).digest(), "little")
    return np.unique(out)


class ContaminationIndex:
    """The held-out side of decontamination; picklable (numbers only)."""

    def __init__(self, min_ngrams: int = 38, jaccard: float = 0.8, num_perm: int = 128, bands: int = 16, seed: int = 42):
        self.min_ngrams, self.jaccard, self.num_perm, self.bands, self.seed = min_ngrams, jaccard, num_perm, bands, seed
        self.ngrams = np.zeros(0, np.uint64)
        self.signatures = np.zeros((0, num_perm), np.uint32)
        self._bands: dict[tuple[int, bytes], list[int]] = {}

    def _hasher(self):
        from tailmine.dedup.minhash import MinHasher

        return MinHasher(num_perm=self.num_perm, ngram=5, seed=self.seed)

    def add(self, texts: list[str]) -> None:
        if not texts:
            return
        grams = [ngram_hashes(t) for t in texts]
        self.ngrams = np.unique(np.concatenate([self.ngrams] + grams))
        sig = self._hasher().signatures(texts)
        start = len(self.signatures)
        self.signatures = np.concatenate([self.signatures, sig])
        rows = self.num_perm // self.bands
        for j in range(len(sig)):
            for b in range(self.bands):
                self._bands.setdefault((b, sig[j, b * rows : (b + 1) * rows].tobytes()), []).append(start + j)

    def __len__(self) -> int:
        return len(self.signatures)

    def check(self, texts: list[str]) -> list[Optional[str]]:
        """Per text: ``contaminated_ngram``, ``near_duplicate_of_holdout`` or None."""
        if not len(self):
            return [None] * len(texts)
        from tailmine.dedup.minhash import estimate_jaccard

        sig = self._hasher().signatures(texts)
        rows = self.num_perm // self.bands
        out: list[Optional[str]] = []
        for j, text in enumerate(texts):
            grams = ngram_hashes(text)
            shared = int(np.isin(grams, self.ngrams, assume_unique=True).sum()) if len(grams) else 0
            if shared and (shared >= self.min_ngrams or shared * 2 >= len(grams)):
                out.append("contaminated_ngram")
                continue
            candidates = set()
            for b in range(self.bands):
                candidates.update(self._bands.get((b, sig[j, b * rows : (b + 1) * rows].tobytes()), ()))
            if candidates and float(estimate_jaccard(self.signatures[sorted(candidates)], sig[j]).max()) >= self.jaccard:
                out.append("near_duplicate_of_holdout")
            else:
                out.append(None)
        return out


def bits_per_byte(total_nll_nats: float, total_bytes: int) -> float:
    """BPB = Σ NLL / (ln 2 · bytes): comparable across tokenizers."""
    if total_bytes <= 0:
        raise ValueError("bits per byte needs a positive byte count")
    return total_nll_nats / (math.log(2) * total_bytes)


def evaluate_bits_per_byte(directory: str, sequence_nll: Callable[[np.ndarray], float],
                           recipe_name: str = "holdout.json") -> dict:
    """Run ``sequence_nll(tokens) -> total NLL in nats of predicting tokens[1:]`` over every held-out
    sequence and return bits per byte (bytes from the lineage), per-token NLL and perplexity."""
    import pyarrow.parquet as pq

    from tailmine.fileio import join, open_raw
    from tailmine.mixtures.reader import iter_sequences, shard_names

    names = shard_names(directory, recipe_name)
    nll, predicted, nbytes = 0.0, 0, 0
    for name in names:
        with open_raw(join(directory, f"{name}.lineage.parquet")) as handle:
            nbytes += int(pq.read_table(handle, columns=["utf8_bytes"]).column(0).to_numpy().sum())
        for seq in iter_sequences(directory, [name]):
            nll += float(sequence_nll(seq))
            predicted += max(0, len(seq) - 1)
    mean = nll / predicted if predicted else float("nan")
    return {"bits_per_byte": bits_per_byte(nll, nbytes), "nll_per_token": mean, "perplexity": math.exp(mean) if predicted else None,
            "tokens": predicted, "bytes": nbytes, "sequences_shards": len(names)}
