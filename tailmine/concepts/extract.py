"""Pluggable, versioned concept extractors: a document -> the SET of its concepts.

A concept is a string ``"<kind>:<normalised surface form>"`` (``w:bank of england``,
``e:bank of england``, ``c:17``); the kind prefix keeps extractors from colliding and the string
hashes to a stable 64-bit id (:func:`tailmine.concepts.sketches.stable_hash64`) with no global
dictionary. Document frequency, not term frequency, is what selection needs, so ``extract`` returns
a set. Each extractor has a ``name`` and ``version``; the stage records them in its parameters, and
changing what an extractor emits means bumping its version. What a token, a phrase and an entity span
are is defined once in :mod:`tailmine.concepts.lexicon`, shared with the compiled kernels.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np
import pyarrow as pa

from tailmine.concepts.lexicon import CJK_CHAR, SENTENCE_END, SPAN, STOP_WORDS, normalize, phrases, tokens  # noqa: F401 (re-exported)
from tailmine.errors import ConfigError
from tailmine.textnorm import nfkc


class ConceptExtractor:
    """One kind of concept. Subclasses set ``name``, ``version`` and ``kind`` and implement
    :meth:`extract`; they must be picklable (build heavy state lazily in :meth:`setup`)."""

    name = "base"
    version = 1
    kind = "x"

    def parameters(self) -> dict:
        return {"name": self.name, "version": self.version}

    def setup(self) -> None:
        pass

    def extract(self, text: str) -> set[str]:
        raise NotImplementedError

    def fast_ok(self) -> bool:
        """Whether :meth:`ConceptSet.extract_hashed` may run this one in a compiled kernel."""
        return False

    def fast_stop_words(self):
        if getattr(self, "_fast_stop", None) is None:
            from tailmine.concepts.fast import StopWords

            self._fast_stop = StopWords(self.stop_words)
        return self._fast_stop


class NgramExtractor(ConceptExtractor):
    """Word 1..max_n-grams after normalisation. Unigrams must not be stop words, pure digits or
    single Latin letters; longer n-grams must not start or end with a stop word (``bank of england``
    stays, ``of the`` goes). Tokens longer than ``max_token_chars`` (base64, hashes) break n-grams."""

    name = "ngram"
    version = 1
    kind = "w"

    def __init__(self, max_n: int = 3, max_token_chars: int = 40, stop_words: Iterable[str] = STOP_WORDS):
        if not 1 <= max_n <= 5:
            raise ConfigError(f"ngram max_n must be in 1..5, got {max_n}")
        self.max_n, self.max_token_chars, self.stop_words = max_n, max_token_chars, frozenset(stop_words)

    def parameters(self) -> dict:
        return {**super().parameters(), "max_n": self.max_n, "max_token_chars": self.max_token_chars, "stop_words": len(self.stop_words)}

    def fast_ok(self) -> bool:
        return type(self).extract is NgramExtractor.extract  # a subclass with its own rules is not the kernel's

    def extract(self, text: str) -> set[str]:
        stop, limit = self.stop_words, self.max_token_chars
        out: set[str] = set()
        for toks in phrases(text):
            bad = [t in stop or len(t) > limit for t in toks]
            out.update(
                "w:" + t for t, b in zip(toks, bad) if not b and not t.isdigit() and (len(t) > 1 or CJK_CHAR.match(t))
            )
            for n in range(2, min(self.max_n, len(toks)) + 1):
                for i in range(len(toks) - n + 1):
                    if bad[i] or bad[i + n - 1] or (n == 3 and len(toks[i + 1]) > limit):
                        continue
                    out.add("w:" + " ".join(toks[i : i + n]))
        return out


class EntitySpanExtractor(ConceptExtractor):
    """Entity-like spans: runs of capitalised words, possibly joined by ``of``/``de``/``von``...
    (``Bank of England``, ``Leo Tolstoy``). A single capitalised word counts only when it does not
    open a sentence (``However`` would), and leading stop words (``The``) are stripped. Scripts
    without case (CJK) yield nothing here; the n-gram extractor covers them."""

    name = "entity"
    version = 1
    kind = "e"

    def __init__(self, max_words: int = 6, stop_words: Iterable[str] = STOP_WORDS):
        self.max_words, self.stop_words = max_words, frozenset(stop_words)

    def parameters(self) -> dict:
        return {**super().parameters(), "max_words": self.max_words}

    def extract(self, text: str) -> set[str]:
        text = nfkc(text)
        out = set()
        for m in SPAN.finditer(text):
            concept = self.from_match(text, m.start(), m.group())
            if concept is not None:
                out.add(concept)
        return out

    def from_match(self, text: str, start: int, group: str) -> Optional[str]:
        """The concept of one ``SPAN`` match at ``start`` of the NFKC ``text`` (None: not an entity)."""
        words = group.split()
        for suffix in ("’s", "'s"):
            if words[-1].endswith(suffix):
                words[-1] = words[-1][: -len(suffix)]
        before = text[max(0, start - 40) : start]
        prev = before.rstrip()
        start_of_sentence = not prev or prev[-1] in SENTENCE_END or "\n\n" in before[len(prev) :].replace("\r", "")
        if len(words) > 1 and all(w.isupper() for w in words):
            return None  # SHOUTED HEADINGS AND LICENCE TEXT, not names
        while words and words[0].casefold() in self.stop_words:
            words, start_of_sentence = words[1:], False
        while words and words[-1].casefold() in self.stop_words:
            words = words[:-1]
        if not words or len(words) > self.max_words:
            return None
        if len(words) == 1 and (start_of_sentence or len(words[0]) < 2):
            return None
        return "e:" + normalize(" ".join(words))

    def fast_ok(self) -> bool:
        return type(self).extract is EntitySpanExtractor.extract and type(self).from_match is EntitySpanExtractor.from_match


class ClusterExtractor(ConceptExtractor):
    """Hook for embedding-cluster concepts (longtail-methods.md §1.2, tier 2): a subclass embeds the
    text and returns its cluster id via :meth:`assign` (load the model and centroids in
    :meth:`setup`); the concept is ``c:<id>``. Not registered by default: it needs a trained model."""

    name = "cluster"
    kind = "c"

    def assign(self, text: str) -> int:
        raise NotImplementedError("a ClusterExtractor subclass must implement assign(text) -> cluster id")

    def extract(self, text: str) -> set[str]:
        return {f"c:{int(self.assign(text))}"}


EXTRACTORS = {"ngram": NgramExtractor, "entity": EntitySpanExtractor}


class ConceptSet:
    """Several extractors as one: the union of their concept sets."""

    def __init__(self, extractors: Sequence[ConceptExtractor]):
        if not extractors:
            raise ConfigError("at least one concept extractor is needed (known: " + ", ".join(EXTRACTORS) + ")")
        self.extractors = list(extractors)

    def parameters(self) -> list[dict]:
        return [e.parameters() for e in self.extractors]

    def setup(self) -> None:
        for e in self.extractors:
            e.setup()

    def extract(self, text: str) -> set[str]:
        out: set[str] = set()
        for e in self.extractors:
            out |= e.extract(text or "")
        return out

    def extract_hashed(self, texts: Sequence[Optional[str]], seed: int = 0) -> "HashedBatch":
        """The concept sets of a batch as concept ids, without a Python string per concept.

        Document i gets ``stable_hash64(sorted(self.extract(texts[i])), seed)``, sorted: the n-gram
        and entity extractors run in the compiled kernels of :mod:`tailmine.concepts.fast` (entity
        spans with characters other than ASCII and ’ go through :meth:`EntitySpanExtractor.from_match`),
        any other extractor through :meth:`extract`. Texts go to the kernels in groups of about
        ``GROUP_CHARS`` characters, which bounds the working memory whatever the batch."""
        texts = [t or "" for t in texts]
        groups, start, chars = [], 0, 0
        for i, t in enumerate(texts):
            if chars and chars + len(t) > GROUP_CHARS:
                groups.append((start, i))
                start, chars = i, 0
            chars += len(t)
        groups.append((start, len(texts)))
        if len(groups) == 1:
            return self._extract_group(texts, seed)
        return HashedBatch.concat([self._extract_group(texts[a:b], seed) for a, b in groups])

    def _extract_group(self, texts: list[str], seed: int) -> "HashedBatch":
        from tailmine.concepts import fast

        ndoc = len(texts)
        docs = np.arange(ndoc, dtype=np.int64)
        hashes, doc_of, source = [], [], []
        ngrams, entities, strings = None, None, []
        normalized = None
        for e in self.extractors:
            if ngrams is None and isinstance(e, NgramExtractor) and e.fast_ok():
                if normalized is None:
                    normalized = [nfkc(t) for t in texts]
                cps, offsets = fast.codepoints([t.casefold() for t in normalized])
                stop = e.fast_stop_words()
                tok_s, tok_e, h, first, size, per_doc = fast.ngram_kernel(
                    cps, offsets, fast.char_table(), stop.hashes, stop.cps, stop.lens, e.max_n, e.max_token_chars, fast.keyed_state(seed)
                )
                ngrams = (cps, tok_s, tok_e, first, size, e.max_token_chars)
                hashes.append(h)
                doc_of.append(np.repeat(docs, per_doc))
                source.append(np.arange(len(h), dtype=np.int64))
            elif entities is None and isinstance(e, EntitySpanExtractor) and e.fast_ok():
                if normalized is None:
                    normalized = [nfkc(t) for t in texts]
                cps, offsets = fast.codepoints(normalized)
                stop = e.fast_stop_words()
                h, span_s, span_e, per_doc, slow = fast.entity_kernel(
                    cps, offsets, fast.entity_table(), stop.hashes, stop.cps, stop.lens, fast.connect_codes(), e.max_words, fast.keyed_state(seed)
                )
                entities = (cps, span_s, span_e)
                hashes.append(h)
                doc_of.append(np.repeat(docs, per_doc))
                source.append(ENTITY_BASE + np.arange(len(h), dtype=np.int64))
                flat, flat_doc = [], []
                for d, a, b in slow.tolist():  # spans with other characters: the Python rules
                    base = int(offsets[d])
                    concept = e.from_match(normalized[d], a - base, normalized[d][a - base : b - base])
                    if concept is not None:
                        flat.append(concept)
                        flat_doc.append(d)
                _add_strings(flat, np.asarray(flat_doc, np.int64), seed, hashes, doc_of, source, strings)
            else:
                sets = [sorted(e.extract(t)) for t in texts]
                flat = [c for one in sets for c in one]
                _add_strings(flat, np.repeat(docs, [len(one) for one in sets]), seed, hashes, doc_of, source, strings)
        h = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
        d = np.concatenate(doc_of) if doc_of else np.zeros(0, np.int64)
        src = np.concatenate(source) if source else np.zeros(0, np.int64)
        h, offsets, src = fast.group_by_document(h, d, src, ndoc)  # a concept twice in a document counts once
        return HashedBatch(h, offsets, src, ngrams, entities, strings)


def _add_strings(flat, flat_doc, seed, hashes, doc_of, source, strings):
    from tailmine.concepts.sketches import stable_hash64

    hashes.append(stable_hash64(flat, seed))
    doc_of.append(np.asarray(flat_doc, np.int64))
    source.append(-1 - (len(strings) + np.arange(len(flat), dtype=np.int64)))
    strings.extend(flat)


GROUP_CHARS = 1 << 21  # characters per kernel call (~100 MB of working memory at most)
ENTITY_BASE = 1 << 62  # HashedBatch sources: < 0 a Python string, < ENTITY_BASE an n-gram, else an entity span


class HashedBatch:
    """Concept ids of a batch of documents: ``hashes[offsets[i]:offsets[i+1]]`` are document i's
    distinct concept ids (sorted); :meth:`strings` builds the concept strings of chosen positions."""

    def __init__(self, hashes, offsets, source, ngrams, entities, strings):
        self.hashes, self.offsets, self._source = hashes, offsets, source
        self._ngrams, self._entities, self._strings = ngrams, entities, strings
        self._parts: list = []  # (first position, HashedBatch) when made by concat

    @classmethod
    def concat(cls, parts: Sequence["HashedBatch"]) -> "HashedBatch":
        starts = np.cumsum([0] + [len(p.hashes) for p in parts])
        offsets = np.concatenate([[0]] + [p.offsets[1:] + s for p, s in zip(parts, starts[:-1])]).astype(np.int64)
        out = cls(np.concatenate([p.hashes for p in parts]), offsets, None, None, None, [])
        out._parts = list(zip(starts[:-1].tolist(), parts))
        return out

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def strings(self, positions) -> pa.Array:
        """The concept strings at ``positions`` (indices into ``hashes``), as an Arrow string array."""
        from tailmine.concepts import fast

        positions = np.asarray(positions, np.int64)
        if self._parts:
            bounds = np.array([start for start, _ in self._parts[1:]], np.int64)
            which = np.searchsorted(bounds, positions, side="right")
            pieces, index, done = [], np.empty(len(positions), np.int64), 0
            for k, (start, part) in enumerate(self._parts):
                chosen = which == k
                count = int(chosen.sum())
                if count:
                    pieces.append(part.strings(positions[chosen] - start))
                    index[chosen] = done + np.arange(count)
                    done += count
            if not pieces:
                return pa.array([], pa.string())
            return pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces).take(pa.array(index))
        src = self._source[positions]
        parts = []
        index = np.empty(len(positions), np.int64)
        done = 0
        for kind in (src < 0, (src >= 0) & (src < ENTITY_BASE), src >= ENTITY_BASE):
            count = int(kind.sum())
            if not count:
                continue
            sel = src[kind]
            if sel[0] < 0:
                parts.append(pa.array([self._strings[-1 - i] for i in sel.tolist()], pa.string()))
            elif sel[0] < ENTITY_BASE:
                cps, tok_s, tok_e, first, size, limit = self._ngrams
                parts.append(fast.string_array(*fast.ngram_strings(cps, tok_s, tok_e, first[sel], size[sel], limit)))
            else:
                cps, span_s, span_e = self._entities
                sel = sel - ENTITY_BASE
                parts.append(fast.string_array(*fast.entity_strings(cps, span_s[sel], span_e[sel])))
            index[kind] = done + np.arange(count)
            done += count
        if not parts:
            return pa.array([], pa.string())
        if len(parts) == 1:
            return parts[0]
        return pa.concat_arrays(parts).take(pa.array(index))


def build_extractors(names: Sequence[str], max_n: int = 3) -> ConceptSet:
    """Extractors by registry name (``ngram``, ``entity``); a clear error names an unknown one."""
    built = []
    for name in names:
        if name not in EXTRACTORS:
            raise ConfigError(f"unknown concept extractor {name!r}; known: {', '.join(sorted(EXTRACTORS))}")
        built.append(NgramExtractor(max_n=max_n) if name == "ngram" else EXTRACTORS[name]())
    return ConceptSet(built)
