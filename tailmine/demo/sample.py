"""Deterministic synthetic multi-format sample corpus for ``tailmine demo`` and the tests.

Why this exists: the demo must exercise every stage (ingest -> dedup -> filters -> concept
counting -> mixtures) without a download and without shipping anybody else's text.  So instead of
copying pages or books we *generate* a small corpus: pseudo-English prose built from real English
function words plus invented content words, ~2,000 invented "concepts" whose document frequencies
follow a Zipf law (so the power-law fit and rare-concept reweighting downstream see a real
distribution), and a catalogue of deliberate defects (truncated WARC member, invalid JSON, bad
UTF-8, non-text responses, HTTP errors, duplicates, spam, non-English pages) so that every
quarantine and filter path has work to do.

Determinism is a hard requirement (same seed -> byte-identical files): every random choice comes
from a seeded ``random.Random``, dates are fixed constants, gzip members are written with
``mtime=0`` and no file name, WARC-Record-IDs are derived from a hash, and nothing iterates over
a ``set``.

The public entry points are :func:`write_sample` (the whole sample), :func:`sample_defects` (the
exact list of deliberate ingest defects, for asserting quarantine counts), and the small builders
:func:`warc_record_bytes`, :func:`write_warc`, :func:`synthetic_documents` and
:func:`build_vocabulary` that tests use to build adversarial inputs inline.
"""
from __future__ import annotations

import base64
import bisect
import datetime as _dt
import gzip as _gzip
import hashlib
import html as _html
import io
import json
import re
import struct
import textwrap
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Iterable, Sequence

__all__ = [
    "Defect",
    "Vocabulary",
    "WarcRecord",
    "ZIPF_EXPONENT",
    "build_vocabulary",
    "deterministic_record_id",
    "gzip_bytes",
    "sample_defects",
    "synthetic_documents",
    "truncate_last_gzip_member",
    "warc_record_bytes",
    "write_sample",
    "write_warc",
]

#: Exponent of the Zipf law that concept document frequencies follow (df_r ~ A * r**-s).
ZIPF_EXPONENT = 1.1
#: Fraction of documents that mention the most frequent concept.
_TOP_CONCEPT_DOC_FRACTION = 0.35
_N_CONCEPTS = 2000

# Fixed clock: every timestamp in the sample is derived from these, never from the wall clock.
_BASE_DATE = _dt.datetime(2023, 6, 1, 12, 0, 0)
_PUBLISH_BASE = _dt.date(2022, 1, 1)

# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------

# Real English function words make stop-word and quality heuristics see natural text.
_FUNCTION_DETS = ("the", "a", "this", "that", "their", "its", "each", "every", "some", "one", "another")
_PREPS = (
    "in", "of", "on", "with", "from", "for", "to", "by", "near", "under", "about", "across",
    "between", "without", "after", "before", "during", "against", "through", "among",
)
_CONJS = ("and", "but", "while", "because", "although", "so", "yet", "since", "whereas")

# Frequent content words are real English; the rare ones are invented jargon (as in real text).
_REAL_NOUNS = (
    "system", "water", "city", "year", "community", "report", "study", "market", "region", "method",
    "period", "council", "river", "village", "engine", "school", "letter", "family", "project",
    "season", "border", "harvest", "theory", "company", "house", "road", "record", "question",
    "island", "bridge", "century", "village", "museum", "library", "garden", "valley", "station",
    "model", "result", "problem", "language", "machine", "journal", "network", "process", "field",
    "story", "winter", "summer", "trade", "office", "court", "plan", "book", "paper", "team",
    "history", "member", "group", "line", "service", "law", "decision", "idea", "surface", "signal",
)
_REAL_ADJS = (
    "new", "old", "large", "small", "early", "late", "local", "public", "common", "several",
    "important", "different", "major", "recent", "general", "central", "northern", "southern",
    "formal", "simple", "careful", "open", "quiet", "strong", "narrow", "ancient", "modern",
)
# (base, third person singular, past)
_REAL_VERBS = (
    ("build", "builds", "built"), ("find", "finds", "found"), ("report", "reports", "reported"),
    ("move", "moves", "moved"), ("open", "opens", "opened"), ("study", "studies", "studied"),
    ("return", "returns", "returned"), ("become", "becomes", "became"), ("write", "writes", "wrote"),
    ("use", "uses", "used"), ("describe", "describes", "described"), ("hold", "holds", "held"),
    ("change", "changes", "changed"), ("follow", "follows", "followed"), ("show", "shows", "showed"),
    ("measure", "measures", "measured"), ("replace", "replaces", "replaced"),
    ("support", "supports", "supported"), ("reach", "reaches", "reached"), ("keep", "keeps", "kept"),
)
_REAL_ADVS = ("often", "rarely", "slowly", "quickly", "widely", "later", "again", "mostly", "still", "soon")

_ONSETS = (
    "", "", "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
    "br", "cr", "dr", "fl", "gr", "pl", "pr", "st", "tr", "th", "sh", "ch", "sk", "sl", "kl", "vr",
)
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "ou", "ie", "y")
_CODAS = ("", "", "", "n", "r", "l", "s", "t", "m", "nd", "rt", "st", "ck", "th", "lm", "rn", "x")
_NAME_ENDINGS = ("is", "ara", "en", "or", "eth", "wyn", "a", "o", "an", "iel", "ux", "ine", "ard", "ov")

_PLACE_PATTERNS = (
    "Port {}", "Lake {}", "Mount {}", "{} River", "{} Valley", "{} Bay", "{} Island", "{} Basin",
    "{} Heights", "{} Pass",
)
_ORG_PATTERNS = (
    "{} Institute", "{} Society", "{} Company", "University of {}", "{} Observatory", "{} Guild",
    "{} Foundation", "{} Railway",
)
_TECH_PATTERNS = (
    "{} coefficient", "{} transform", "{} lattice", "{} effect", "{} theorem", "{} protocol",
    "{} engine", "{} process", "{} equation", "{} index", "{} method", "{} cycle",
)
_EVENT_PATTERNS = ("Battle of {}", "{} Accord", "{} Festival", "Treaty of {}", "{} Expedition")


@dataclass(frozen=True)
class Vocabulary:
    """Word lists for the prose generator, all tuples so the object is immutable and hashable.

    ``concepts`` is in Zipf rank order: ``concepts[0]`` is the most frequent concept.  Every
    invented token is unique across all lists, so a concept string can only appear in a text
    where the generator planted it (tests rely on this to measure document frequencies).
    """

    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    adverbs: tuple[str, ...]
    verbs: tuple[tuple[str, str, str], ...]  # (base, 3sg, past)
    concepts: tuple[str, ...]
    authors: tuple[str, ...]
    site_names: tuple[str, ...]


def _syllable(rng: Random) -> str:
    return rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)


def _pseudo_word(rng: Random, used: set[str], *, min_syl: int = 1, max_syl: int = 3) -> str:
    """An unused pronounceable pseudo-word (3..10 letters); ``used`` is only a membership test."""
    while True:
        word = "".join(_syllable(rng) for _ in range(rng.randint(min_syl, max_syl)))
        if 3 <= len(word) <= 10 and word not in used and word.isalpha():
            used.add(word)
            return word


def _pseudo_name(rng: Random, used: set[str]) -> str:
    while True:
        stem = "".join(_syllable(rng) for _ in range(rng.randint(1, 2)))
        name = (stem + rng.choice(_NAME_ENDINGS)).capitalize()
        if 4 <= len(name) <= 11 and name.lower() not in used and name.isalpha():
            used.add(name.lower())
            return name


def _verb_forms(base: str) -> tuple[str, str, str]:
    if base.endswith("e"):
        return base, base + "s", base + "d"
    if base.endswith(("s", "x", "sh", "ch")):
        return base, base + "es", base + "ed"
    return base, base + "s", base + "ed"


def build_vocabulary(seed: int = 0) -> Vocabulary:
    """Deterministically invent the vocabulary (content words, ~2,000 concepts, authors, sites)."""
    rng = Random(f"tailmine-vocab-{seed}")
    used: set[str] = set(_REAL_NOUNS) | set(_REAL_ADJS) | set(_REAL_ADVS)
    used |= {w for forms in _REAL_VERBS for w in forms}
    used |= set(_FUNCTION_DETS) | set(_PREPS) | set(_CONJS)

    nouns = list(dict.fromkeys(_REAL_NOUNS)) + [_pseudo_word(rng, used, min_syl=1, max_syl=2) for _ in range(1200)]
    adj_suffixes = ("ic", "al", "ous", "ive", "ent", "ary", "ish", "ine")
    adjectives = list(_REAL_ADJS)
    while len(adjectives) < 600:
        word = _pseudo_word(rng, used, min_syl=1, max_syl=2)
        adj = word + rng.choice(adj_suffixes)
        if adj not in used and len(adj) <= 12:
            used.add(adj)
            adjectives.append(adj)
    adverbs = list(_REAL_ADVS)
    for adj in adjectives[len(_REAL_ADJS):len(_REAL_ADJS) + 150]:
        adverbs.append(adj + "ly")
    verbs = list(_REAL_VERBS) + [_verb_forms(_pseudo_word(rng, used, min_syl=1, max_syl=2)) for _ in range(500)]

    concepts: list[str] = []
    seen_concepts: set[str] = set()
    while len(concepts) < _N_CONCEPTS:
        kind = rng.random()
        if kind < 0.40:
            concept = f"{_pseudo_name(rng, used)} {_pseudo_name(rng, used)}"
        elif kind < 0.60:
            concept = rng.choice(_PLACE_PATTERNS).format(_pseudo_name(rng, used))
        elif kind < 0.75:
            concept = rng.choice(_ORG_PATTERNS).format(_pseudo_name(rng, used))
        elif kind < 0.93:
            concept = rng.choice(_TECH_PATTERNS).format(_pseudo_name(rng, used))
        else:
            concept = rng.choice(_EVENT_PATTERNS).format(_pseudo_name(rng, used))
        if concept not in seen_concepts:
            seen_concepts.add(concept)
            concepts.append(concept)
    # Rank must not correlate with concept kind or generation order.
    rng.shuffle(concepts)
    authors = tuple(f"{_pseudo_name(rng, used)} {_pseudo_name(rng, used)}" for _ in range(40))
    site_names = tuple(_pseudo_name(rng, used) for _ in range(12))
    return Vocabulary(
        nouns=tuple(nouns),
        adjectives=tuple(adjectives),
        adverbs=tuple(adverbs),
        verbs=tuple(verbs),
        concepts=tuple(concepts),
        authors=authors,
        site_names=site_names,
    )


# ---------------------------------------------------------------------------------------------
# Prose generator
# ---------------------------------------------------------------------------------------------

# Sentence templates.  Slots: {det} {adj} {noun} {nouns} {v3} {vbase} {vpast} {adv} {prep}
# {conj} {year} {num} {C} (a concept of this document).
_TEMPLATES_PLAIN = (
    "This {noun} {v3} that the {nouns} of the {noun} are {adj} and {adj}.",
    "In {year}, the {noun} {vpast} {num} {nouns} {prep} the {adj} {noun}.",
    "Most of the {nouns} were {adj}, but some {vpast} {prep} the {noun} {prep} {det} {noun}.",
    "There is no {noun} {prep} the {noun} that can be {vpast} without {det} {adj} {noun}.",
    "When the {noun} {vpast}, it {vpast} {det} {noun} {prep} their {nouns}.",
    "The {nouns} {vbase} {adv} {prep} the {noun}, {conj} the {noun} {v3} {adj}.",
    "However, {det} {adj} {noun} has been {vpast} by the {noun} for {num} years.",
    "Some {nouns}, such as the {noun} and the {noun}, are {adv} {adj}.",
    "It is {adj} to {vbase} the {noun} {prep} {det} {noun} {conj} the {nouns} {vbase}.",
    "We {vbase} {det} {adj} {noun} every {noun}, and we {adv} {vbase} the {nouns}.",
    "They {vpast} the {noun} {prep} the {noun} {conj} it was {adj}.",
    "The {adj} {noun} is not the same as {det} {adj} {noun}.",
    "Each {noun} {v3} about {num} {nouns}, which is more than the {noun} {v3}.",
    "You can {vbase} the {noun} if the {nouns} are {adj} enough.",
)
_TEMPLATES_CONCEPT = (
    "The {adj} {noun} of {C} {vpast} {prep} the {noun}.",
    "{C} {vpast} the {noun} in {year}, and the {noun} {vpast} {adv}.",
    "According to {C}, the {noun} {v3} {det} {adj} {noun} {prep} {det} {noun}.",
    "As {C} {vpast}, \"the {noun} is {adj} {prep} every {noun}.\"",
    "We {vbase} the {noun} {prep} {C} because it {v3} {adv}.",
    "The {noun} {prep} {C} {vpast} about {num} percent of the {nouns}.",
    "Many {nouns} {prep} the {noun} were {vpast} by {C} {prep} {year}.",
    "It was {C} that {adv} {vpast} the {adj} {noun}.",
    "The {nouns} of {C} {vbase} {prep} the {adj} {noun} {conj} the {noun} {v3}.",
)
_SLOT_RE = re.compile(r"\{(\w+)\}")
_A_AN_RE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")


def _zipf_cum_weights(n: int, exponent: float = 0.9) -> list[float]:
    total = 0.0
    out = []
    for i in range(n):
        total += 1.0 / (i + 1) ** exponent
        out.append(total)
    return out


class _Picker:
    """Zipf-weighted word picker over a vocabulary (frequent words first in each list)."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self._cw = {
            "noun": _zipf_cum_weights(len(vocab.nouns)),
            "adj": _zipf_cum_weights(len(vocab.adjectives)),
            "adv": _zipf_cum_weights(len(vocab.adverbs)),
            "verb": _zipf_cum_weights(len(vocab.verbs)),
        }

    def _pick(self, rng: Random, kind: str, items: Sequence):
        cw = self._cw[kind]
        return items[min(bisect.bisect(cw, rng.random() * cw[-1]), len(items) - 1)]

    def fill(self, rng: Random, slot: str, concept: str | None) -> str:
        v = self.vocab
        if slot == "noun":
            return self._pick(rng, "noun", v.nouns)
        if slot == "nouns":
            n = self._pick(rng, "noun", v.nouns)
            if n.endswith(("s", "x", "sh", "ch")):
                return n + "es"
            if n.endswith("y") and n[-2:-1] not in "aeiou":
                return n[:-1] + "ies"
            return n + "s"
        if slot == "adj":
            return self._pick(rng, "adj", v.adjectives)
        if slot == "adv":
            return self._pick(rng, "adv", v.adverbs)
        if slot in ("vbase", "v3", "vpast"):
            forms = self._pick(rng, "verb", v.verbs)
            return forms[("vbase", "v3", "vpast").index(slot)]
        if slot == "det":
            return rng.choice(_FUNCTION_DETS)
        if slot == "prep":
            return rng.choice(_PREPS)
        if slot == "conj":
            return rng.choice(_CONJS)
        if slot == "year":
            return str(rng.randint(1780, 2022))
        if slot == "num":
            return str(rng.choice((2, 3, 4, 5, 7, 10, 12, 15, 20, 25, 40, 60, 100, 250)))
        if slot == "C":
            assert concept is not None
            return concept
        raise KeyError(slot)


def _sentence(rng: Random, picker: _Picker, concept: str | None) -> str:
    template = rng.choice(_TEMPLATES_CONCEPT if concept is not None else _TEMPLATES_PLAIN)
    text = _SLOT_RE.sub(lambda m: picker.fill(rng, m.group(1), concept), template)
    text = _A_AN_RE.sub(lambda m: m.group(1) + "n ", text)
    return text[0].upper() + text[1:]


@dataclass(frozen=True)
class _Doc:
    title: str
    paragraphs: tuple[str, ...]
    concepts: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


def _zipf_concept_assignment(rng: Random, n_docs: int, n_concepts: int) -> list[list[int]]:
    """Give concept of rank r to ~A*r**-s documents chosen uniformly (stochastic rounding).

    Assigning document frequencies directly (rather than sampling mentions per document) keeps
    the top of the distribution from saturating, so df vs rank is a clean power law.
    """
    per_doc: list[list[int]] = [[] for _ in range(n_docs)]
    top = _TOP_CONCEPT_DOC_FRACTION * n_docs
    for rank in range(1, n_concepts + 1):
        lam = top * rank ** -ZIPF_EXPONENT
        k = int(lam)
        if rng.random() < lam - k:
            k += 1
        for d in sorted(rng.sample(range(n_docs), min(k, n_docs))):
            per_doc[d].append(rank - 1)
    return per_doc


def _title(rng: Random, picker: _Picker, concept: str | None) -> str:
    adj = picker.fill(rng, "adj", None)
    nouns = picker.fill(rng, "nouns", None)
    noun = picker.fill(rng, "noun", None)
    if concept is not None:
        pattern = rng.choice(("{A} {Ns} and {C}", "How {C} Changed the {N}", "{C}: {A} {Ns} Revisited",
                              "Notes on {C} and the {N}"))
    else:
        pattern = rng.choice(("The {A} {N}", "On {A} {Ns}", "Why the {N} Matters", "{A} {Ns} in Practice"))
    return pattern.format(A=adj.capitalize(), Ns=nouns.capitalize(), N=noun.capitalize(), C=concept)


def _make_doc(rng: Random, picker: _Picker, concepts: Sequence[str], *, min_par: int = 3, max_par: int = 8) -> _Doc:
    mentions = [c for c in concepts for _ in range(rng.randint(1, 3))]
    rng.shuffle(mentions)
    # Every assigned concept first appears once, in a deterministic order.
    first = list(concepts)
    rng.shuffle(first)
    queue = first + mentions[len(first):]
    n_par = rng.randint(min_par, max_par)
    paragraphs = []
    for p in range(n_par):
        sentences = []
        for _ in range(rng.randint(3, 7)):
            use_concept = bool(queue) and rng.random() < 0.45
            sentences.append(_sentence(rng, picker, queue.pop(0) if use_concept else None))
        if p == n_par - 1:
            while queue:
                sentences.append(_sentence(rng, picker, queue.pop(0)))
        paragraphs.append(" ".join(sentences))
    title = _title(rng, picker, concepts[0] if concepts else None)
    return _Doc(title=title, paragraphs=tuple(paragraphs), concepts=tuple(concepts))


def _generate_docs(n: int, *, seed: int, vocab: Vocabulary | None = None) -> list[_Doc]:
    vocab = vocab if vocab is not None else build_vocabulary(seed)
    rng = Random(f"tailmine-docs-{seed}-{n}")
    picker = _Picker(vocab)
    assignment = _zipf_concept_assignment(rng, n, len(vocab.concepts))
    return [_make_doc(rng, picker, [vocab.concepts[i] for i in assignment[d]]) for d in range(n)]


def synthetic_documents(n: int, *, seed: int = 0) -> list[str]:
    """``n`` pseudo-English documents (paragraphs separated by blank lines).

    Concept document frequencies follow df(rank) ~ 0.35*n * rank**-ZIPF_EXPONENT over the
    concepts of :func:`build_vocabulary` ``(seed)``, so downstream power-law fits are meaningful.
    """
    return [d.text for d in _generate_docs(n, seed=seed)]


# ---------------------------------------------------------------------------------------------
# Low-quality, duplicate and non-English variants
# ---------------------------------------------------------------------------------------------

_FR_FUNCTION = ("le", "la", "les", "de", "des", "du", "et", "est", "dans", "pour", "avec", "une", "un",
                "qui", "sur", "pas", "plus", "que", "au", "par", "ce", "cette", "sont")
_DE_FUNCTION = ("der", "die", "das", "und", "ist", "nicht", "mit", "von", "zu", "auf", "für", "eine",
                "ein", "sich", "auch", "dem", "den", "werden", "im", "über")


def _foreign_word(rng: Random, lang: str) -> str:
    if lang == "fr":
        stem = "".join(rng.choice(("d", "r", "l", "m", "p", "t", "v", "ç", "gr", "ch")) +
                       rng.choice(("é", "è", "a", "e", "i", "o", "ou", "ê", "â", "ô", "u"))
                       for _ in range(rng.randint(1, 3)))
        return stem + rng.choice(("", "ment", "eau", "ière", "tion", "eux", "ée", "ir", "er", "ité"))
    stem = "".join(rng.choice(("b", "g", "k", "schl", "str", "w", "z", "h", "pf", "st")) +
                   rng.choice(("ä", "ö", "ü", "a", "e", "i", "ei", "au", "o"))
                   + rng.choice(("", "r", "n", "ß", "ch", "l", "t"))
                   for _ in range(rng.randint(1, 3)))
    return stem + rng.choice(("ung", "heit", "keit", "schaft", "chen", "en", "er", "lich"))


def _foreign_doc(rng: Random, lang: str, n_par: int = 4) -> _Doc:
    """French-like or German-like pseudo-language prose (real function words, invented stems)."""
    func = _FR_FUNCTION if lang == "fr" else _DE_FUNCTION
    paragraphs = []
    for _ in range(n_par):
        sentences = []
        for _ in range(rng.randint(3, 6)):
            words = []
            for i in range(rng.randint(7, 16)):
                if i % 2 == 0 or rng.random() < 0.3:
                    words.append(rng.choice(func))
                else:
                    w = _foreign_word(rng, lang)
                    words.append(w.capitalize() if lang == "de" and rng.random() < 0.6 else w)
            s = " ".join(words)
            sentences.append(s[0].upper() + s[1:] + ".")
        paragraphs.append(" ".join(sentences))
    title = " ".join(_foreign_word(rng, lang) for _ in range(3)).capitalize()
    return _Doc(title=title, paragraphs=tuple(paragraphs), concepts=())


def _cjk_doc(rng: Random) -> _Doc:
    """A short Japanese-looking document: CJK ideographs U+4E00..U+4FFF plus hiragana particles."""
    particles = ("の", "は", "に", "を", "が", "と", "で", "も")
    paragraphs = []
    for _ in range(3):
        sentences = []
        for _ in range(rng.randint(2, 4)):
            chars = []
            for i in range(rng.randint(10, 22)):
                chars.append(chr(rng.randint(0x4E00, 0x4FFF)))
                if i % 4 == 3:
                    chars.append(rng.choice(particles))
                if i == 9:
                    chars.append("、")
            sentences.append("".join(chars) + "。")
        paragraphs.append("".join(sentences))
    title = "".join(chr(rng.randint(0x4E00, 0x4FFF)) for _ in range(6))
    return _Doc(title=title, paragraphs=tuple(paragraphs), concepts=())


def _spam_doc(rng: Random) -> _Doc:
    keywords = ("cheap watches", "best price", "buy now", "free shipping", "discount", "casino bonus",
                "cheap loans", "online deals")
    lines = []
    for _ in range(12):
        lines.append(" ".join(rng.choice(keywords) for _ in range(rng.randint(6, 10))))
    return _Doc(title="Cheap Watches Best Price Buy Now", paragraphs=tuple(lines), concepts=())


def _short_doc(rng: Random) -> _Doc:
    return _Doc(title="Coming soon", paragraphs=(rng.choice(("Coming soon. Stay tuned!", "Page under construction.",
                                                             "Click here.")),), concepts=())


def _symbol_doc(rng: Random) -> _Doc:
    rows = ("★★★★★★★★★★★★★★★★", "=-=-=-=-=-=-=-=-=-=-=-=", "#### $$$$ %%%% &&&& ****", "||||||||||||||||||||",
            ">>>>>>>>>> <<<<<<<<<<", "~~~~~~~~~~~~~~~~~~~~~~", "+++ --- +++ --- +++ ---")
    return _Doc(title="****", paragraphs=tuple(rng.choice(rows) for _ in range(14)), concepts=())


def _near_duplicate(rng: Random, doc: _Doc, picker: _Picker) -> _Doc:
    """Copy of ``doc`` with 1-10% of its words substituted, deleted or inserted."""
    rate = rng.uniform(0.01, 0.10)
    paragraphs = []
    for par in doc.paragraphs:
        out = []
        for word in par.split(" "):
            if rng.random() >= rate:
                out.append(word)
                continue
            op = rng.random()
            if op < 0.5:
                out.append(picker.fill(rng, "noun", None))
            elif op < 0.75:
                continue
            else:
                out.extend((word, rng.choice(("the", "and", "of", "very", "also"))))
        paragraphs.append(" ".join(out))
    return _Doc(title=doc.title, paragraphs=tuple(paragraphs), concepts=doc.concepts)


# ---------------------------------------------------------------------------------------------
# WARC writing
# ---------------------------------------------------------------------------------------------

_HTTP_REASONS = {200: "OK", 301: "Moved Permanently", 404: "Not Found", 500: "Internal Server Error"}


def deterministic_record_id(*parts: object) -> str:
    """A ``<urn:uuid:...>`` WARC-Record-ID derived from ``parts`` (no randomness, no clock)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return f"<urn:uuid:{uuid.UUID(bytes=digest[:16], version=4)}>"


def gzip_bytes(data: bytes) -> bytes:
    """One gzip member with mtime=0 and no file name, so output is byte-reproducible."""
    return _gzip.compress(data, compresslevel=9, mtime=0)


@dataclass(frozen=True)
class WarcRecord:
    """A simple description of one WARC record, serialised by :func:`warc_record_bytes`.

    ``http_status`` (response/revisit) or ``http_method`` (request) add an HTTP message head built
    from ``http_headers``; ``payload`` is the HTTP body (or the whole block without HTTP).
    ``content_length`` overrides the WARC Content-Length (for adversarial tests only).
    """

    record_type: str
    target_uri: str | None = None
    payload: bytes = b""
    http_status: int | None = None
    http_method: str | None = None
    http_headers: tuple[tuple[str, str], ...] = ()
    content_type: str | None = None
    warc_headers: tuple[tuple[str, str], ...] = ()
    record_id: str | None = None
    date: str = "2023-06-01T12:00:00Z"
    content_length: int | None = None

    def resolved_id(self) -> str:
        if self.record_id is not None:
            return self.record_id
        return deterministic_record_id(self.record_type, self.target_uri, self.date,
                                       hashlib.sha1(self.payload).hexdigest(), self.warc_headers)


def warc_record_bytes(record: WarcRecord, *, gzip: bool = True) -> bytes:
    """Serialise one record with warcio's writer as WARC/1.0 (one gzip member if ``gzip``)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False, warc_version="1.0")
    headers = {"WARC-Record-ID": record.resolved_id(), "WARC-Date": record.date}
    headers.update(dict(record.warc_headers))
    http_headers = None
    if record.http_status is not None:
        reason = _HTTP_REASONS.get(record.http_status, "Unknown")
        http_headers = StatusAndHeaders(f"{record.http_status} {reason}", list(record.http_headers),
                                        protocol="HTTP/1.1")
    elif record.http_method is not None:
        path = "/"
        if record.target_uri and "://" in record.target_uri:
            rest = record.target_uri.split("://", 1)[1]
            path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        http_headers = StatusAndHeaders(f"{record.http_method} {path} HTTP/1.1", list(record.http_headers),
                                        is_http_request=True)
    kwargs = {}
    if record.content_type is not None:
        kwargs["warc_content_type"] = record.content_type
    built = writer.create_warc_record(
        record.target_uri or "", record.record_type, payload=io.BytesIO(record.payload),
        length=len(record.payload), warc_headers_dict=headers, http_headers=http_headers, **kwargs,
    )
    if not record.target_uri:
        built.rec_headers.remove_header("WARC-Target-URI")
    writer.write_record(built)
    data = buf.getvalue()
    if record.content_length is not None:
        data = re.sub(rb"\r\nContent-Length: \d+\r\n", b"\r\nContent-Length: %d\r\n" % record.content_length,
                      data, count=1)
    return gzip_bytes(data) if gzip else data


def write_warc(path: str | Path, records: Iterable[WarcRecord], *, gzip_members: bool = True) -> Path:
    """Write ``records`` to ``path`` (each record its own gzip member, as Common Crawl does)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(warc_record_bytes(r, gzip=gzip_members) for r in records))
    return path


def truncate_last_gzip_member(members: Sequence[bytes], fraction: float = 0.5) -> bytes:
    """Concatenate gzip ``members`` but cut the last one after ``fraction`` of its bytes."""
    last = members[-1]
    return b"".join(members[:-1]) + last[: max(1, int(len(last) * fraction))]


def _warc_date(index: int) -> str:
    return (_BASE_DATE + _dt.timedelta(seconds=7 * index)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _http_date(index: int) -> str:
    return (_BASE_DATE + _dt.timedelta(seconds=7 * index)).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _png_bytes(width: int = 8, height: int = 8) -> bytes:
    """A real (tiny, gradient) PNG image, built by hand so no imaging library is needed."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"".join(bytes((x * 32 % 256, y * 32 % 256, 128)) for x in range(width))
                   for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


# ---------------------------------------------------------------------------------------------
# HTML rendering
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Site:
    name: str
    domain: str
    style: str  # news | blog | wiki
    sections: tuple[str, ...]


def _make_sites(vocab: Vocabulary) -> tuple[_Site, ...]:
    kinds = (("The {} Courier", "news"), ("{} Daily", "news"), ("{} Notes", "blog"), ("{}pedia", "wiki"))
    sections = (("World", "Science", "Culture", "Business", "Opinion"),
                ("Posts", "Archive", "Projects", "About"),
                ("Main page", "Recent changes", "Random article", "Help"))
    sites = []
    for i, name in enumerate(vocab.site_names):
        fmt, style = kinds[i % len(kinds)]
        full = fmt.format(name)
        sec = sections[{"news": 0, "blog": 1, "wiki": 2}[style]]
        sites.append(_Site(name=full, domain=f"{name.lower()}-{style}.example", style=style, sections=sec))
    return tuple(sites)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "page"


def _esc(text: str) -> str:
    return _html.escape(text, quote=False)


def _generic_titles(rng: Random, picker: _Picker, n: int) -> list[str]:
    return [_title(rng, picker, None) for _ in range(n)]


def _render_html(rng: Random, picker: _Picker, site: _Site, doc: _Doc, *, url: str, author: str,
                 published: _dt.date, meta_charset: str | None = "utf-8", lang: str = "en",
                 rich: bool = True) -> str:
    """Render ``doc`` as a realistic page: nav, header, article, sidebar, footer, cookie banner."""
    e = _esc
    head = ["<!DOCTYPE html>", f'<html lang="{lang}">', "<head>"]
    if meta_charset:
        head.append(f'<meta charset="{meta_charset}">')
    first_sentence = doc.paragraphs[0].split(". ")[0][:150] if doc.paragraphs else ""
    head += [
        f"<title>{e(doc.title)} | {e(site.name)}</title>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="description" content="{_html.escape(first_sentence)}">',
        f'<link rel="canonical" href="{url}">',
        '<link rel="stylesheet" href="/static/css/site.css">',
        '<script async src="/static/js/analytics.js"></script>',
        "</head>",
        f'<body class="{site.style}-page">',
        '<div id="cookie-banner" class="cookie-banner"><p>We use cookies to keep this site working and to '
        'understand how it is used. <a href="/privacy">Learn more</a></p>'
        '<button type="button">Accept all</button> <button type="button">Reject</button></div>',
    ]
    nav = "".join(f'<li><a href="/{_slug(s)}/">{e(s)}</a></li>' for s in ("Home",) + site.sections)
    body = [
        '<header class="site-header">',
        f'<a class="logo" href="/">{e(site.name)}</a>',
        f'<nav class="main-nav"><ul>{nav}</ul></nav>',
        '<form class="search" action="/search"><input type="search" name="q" placeholder="Search"></form>',
        "</header>",
        '<main class="layout">',
    ]
    if site.style == "wiki":
        body.append('<div id="content"><div id="bodyContent">')
    elif site.style == "blog":
        body.append('<div class="post"><div class="post-content">')
    else:
        body.append('<article class="story">')
    body.append(f"<h1>{e(doc.title)}</h1>")
    body.append(f'<p class="byline">By <a href="/authors/{_slug(author)}">{e(author)}</a> · '
                f'<time datetime="{published.isoformat()}">{published.strftime("%d %B %Y")}</time></p>')
    for i, par in enumerate(doc.paragraphs):
        if rich and i > 0 and rng.random() < 0.25:
            heading = _title(rng, picker, None)
            suffix = '<span class="mw-editsection">[<a href="#">edit</a>]</span>' if site.style == "wiki" else ""
            body.append(f"<h2>{e(heading)}{suffix}</h2>")
        body.append(f"<p>{e(par)}</p>")
        if rich and rng.random() < 0.12:
            items = "".join(f"<li>{e(picker.fill(rng, 'adj', None).capitalize())} {e(picker.fill(rng, 'nouns', None))}</li>"
                            for _ in range(rng.randint(3, 5)))
            body.append(f"<ul>{items}</ul>")
        if rich and rng.random() < 0.06:
            rows = "".join(f"<tr><td>{e(picker.fill(rng, 'noun', None))}</td><td>{rng.randint(1, 999)}</td>"
                           f"<td>{rng.randint(1800, 2022)}</td></tr>" for _ in range(rng.randint(3, 5)))
            body.append(f"<table><thead><tr><th>Item</th><th>Count</th><th>Year</th></tr></thead>"
                        f"<tbody>{rows}</tbody></table>")
    if site.style == "wiki":
        body.append('<div class="catlinks">Categories: <a href="#">Articles</a> | <a href="#">Stubs</a></div>')
        body.append("</div></div>")
    elif site.style == "blog":
        body.append('<div class="share">Share this: <a href="#">Email</a> <a href="#">Print</a></div>')
        body.append("</div></div>")
    else:
        body.append("</article>")
    related = "".join(f'<li><a href="/{_slug(t)}">{e(t)}</a></li>' for t in _generic_titles(rng, picker, 4))
    body += [
        '<aside class="sidebar">',
        f"<h3>Most read</h3><ol>{related}</ol>",
        '<div class="newsletter"><h3>Newsletter</h3><p>Get the best stories of the week in your inbox.</p>'
        '<input type="email" placeholder="Email address"> <button type="submit">Sign up</button></div>',
        "</aside>",
        "</main>",
        '<footer class="site-footer"><ul><li><a href="/about">About us</a></li><li><a href="/privacy">Privacy '
        'policy</a></li><li><a href="/terms">Terms of use</a></li><li><a href="/contact">Contact</a></li></ul>'
        f"<p>&copy; {published.year} {e(site.name)}. All rights reserved.</p></footer>",
        "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
        "gtag('js',0);</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(head + body) + "\n"


_LATIN1_SENTENCES = (
    "The café near the old market charged £4 for a crème brûlée, and the room stayed at 21 °C.",
    "Señor Núñez paid ½ of the fee in advance, which the council called très généreux.",
    "The façade of the hôtel was repaired in the spring, at a cost of about £12,000.",
)
_CP1252_SENTENCES = (
    "\u201cThe report is finished,\u201d she said \u2014 and the ticket cost \u20ac12\u2026",
    "It\u2019s the committee\u2019s \u2018final\u2019 word \u2013 no more changes\u2122.",
)


def _with_extra_sentence(doc: _Doc, sentence: str) -> _Doc:
    pars = list(doc.paragraphs)
    pars[0] = pars[0] + " " + sentence
    return _Doc(title=doc.title, paragraphs=tuple(pars), concepts=doc.concepts)


# ---------------------------------------------------------------------------------------------
# Books
# ---------------------------------------------------------------------------------------------

_ROMAN = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))


def _roman(n: int) -> str:
    out = ""
    for value, sym in ((40, "XL"),) + _ROMAN:
        while n >= value:
            out += sym
            n -= value
    return out


_NON_PERSON_WORDS = frozenset(
    w for pattern in _PLACE_PATTERNS + _ORG_PATTERNS + _TECH_PATTERNS + _EVENT_PATTERNS
    for w in pattern.replace("{}", "").split()
)


def _is_person(concept: str) -> bool:
    parts = concept.split()
    return len(parts) == 2 and all(p[:1].isupper() and p not in _NON_PERSON_WORDS for p in parts)


def _book_text(rng: Random, picker: _Picker, vocab: Vocabulary, *, number: int, title: str, author: str,
               release: str, new_style: bool, n_chapters: int, newline: str) -> str:
    """A synthetic book in Project Gutenberg layout (licence text paraphrased, markers exact)."""
    upper = title.upper()
    this_or_the = "THE" if new_style else "THIS"
    ebook = "eBook" if new_style else "EBook"
    head = [
        f"The Project Gutenberg {ebook} of {title}, by {author}",
        "",
        "This electronic book may be used by anyone, anywhere, free of charge and",
        "with very few restrictions. You may copy it, give it away or reuse it under",
        "the terms of the Project Gutenberg License included with this file or",
        "online at www.gutenberg.org. (This paragraph is a synthetic paraphrase",
        "written for the tailmine demo sample.)",
        "",
        "",
        f"Title: {title}",
        "",
        f"Author: {author}",
        "",
        f"Release Date: {release} [EBook #{number}]",
        "",
        "Language: English",
        "",
        "Character set encoding: UTF-8",
        "",
        f"*** START OF {this_or_the} PROJECT GUTENBERG EBOOK {upper} ***",
        "",
        "",
        "",
        "",
        "Produced by the tailmine synthetic text generator",
        "",
        "",
        "",
        "",
        upper,
        "",
        f"by {author}",
        "",
        "",
    ]
    # A book has a small recurring cast, unlike the web pages' Zipf-spread concepts.
    cast = rng.sample(vocab.concepts[:400], 12) + rng.sample(vocab.concepts[400:], 6)
    speakers = [c for c in cast if _is_person(c)]
    body: list[str] = []
    for ch in range(1, n_chapters + 1):
        body += ["", "", f"CHAPTER {_roman(ch)}.", ""]
        for _ in range(rng.randint(14, 22)):
            if rng.random() < 0.2 and speakers:
                quote = _sentence(rng, picker, None).rstrip(".")
                par = f"\u201c{quote},\u201d said {rng.choice(speakers)}."
            else:
                sents = [_sentence(rng, picker, rng.choice(cast) if rng.random() < 0.3 else None)
                         for _ in range(rng.randint(3, 8))]
                par = " ".join(sents)
            body += textwrap.wrap(par, width=70) + [""]
    foot = [
        "",
        "",
        "",
        f"End of the Project Gutenberg {ebook} of {title}, by {author}",
        "",
        f"*** END OF {this_or_the} PROJECT GUTENBERG EBOOK {upper} ***",
        "",
        f"***** This file should be named {number}.txt or {number}.zip *****",
        f"This and all associated files of various formats will be found in:",
        f"        http://www.gutenberg.org/{'/'.join(str(number)[:-1])}/{number}/",
        "",
        "Updated editions will replace the previous one, and the old editions",
        "will be renamed. (Synthetic paraphrase.)",
        "",
        "*** START: FULL LICENSE ***",
        "",
        "THE FULL PROJECT GUTENBERG LICENSE",
        "PLEASE READ THIS BEFORE YOU DISTRIBUTE OR USE THIS WORK",
        "",
        "To protect the Project Gutenberg mission of promoting the free distribution",
        "of electronic works, by using or distributing this work you agree to the",
        "terms of the full licence. This text is a short synthetic stand-in for that",
        "licence, written for a generated demo sample; it keeps only its shape.",
        "",
        "Section 1. General Terms of Use and Redistributing Project Gutenberg works",
        "",
        "1.A. By reading or using any part of this electronic work you indicate",
        "that you have read and accept the terms of this licence. If you do not",
        "agree, you must stop using the work and destroy any copies you hold.",
        "",
        "1.B. The name Project Gutenberg is a registered trademark. It may only be",
        "used on or associated with an electronic work by people who agree to be",
        "bound by the terms of this agreement.",
        "",
        "Section 2. Information about the Mission of Project Gutenberg",
        "",
        "Project Gutenberg is synonymous with the free distribution of electronic",
        "works in formats readable by the widest variety of computers.",
        "",
        "Most people start at our Web site which has the main PG search facility:",
        "",
        "     www.gutenberg.org",
        "",
        "This Web site includes information about Project Gutenberg, including how",
        "to subscribe to our email newsletter to hear about new eBooks.",
    ]
    return "\ufeff" + newline.join(head + body + foot) + newline


# ---------------------------------------------------------------------------------------------
# Assembling the sample
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Defect:
    """One deliberate ingest defect: ``path`` (relative to the sample dir), the 0-based
    ``index`` of the WARC record (in file order, warcinfo = 0) or JSONL line, and the reason the
    ingester is expected to quarantine it with."""

    path: str
    index: int
    reason: str
    note: str = ""


@dataclass
class _Built:
    files: dict[str, bytes] = field(default_factory=dict)
    defects: list[Defect] = field(default_factory=list)
    content_notes: list[str] = field(default_factory=list)


_N_WARC1_PAGES = 8
_N_WET_DOCS = 30
_N_HTML_FILES = 10
_N_JSONL_PER_FILE = 100
_N_PARQUET_ROWS = 100
_MIN_PAGES = 20


class _Pool:
    """Hands out the generated documents in order, so every format gets distinct prose."""

    def __init__(self, docs: list[_Doc]) -> None:
        self._docs = docs
        self._next = 0

    def take(self) -> _Doc:
        doc = self._docs[self._next % len(self._docs)]
        self._next += 1
        return doc


def _capture_records(*, uri: str, index: int, status: int, content_type: str | None, body: bytes,
                     ip: str, warc_file: str, extra_http: tuple[tuple[str, str], ...] = ()) -> list[WarcRecord]:
    """request + response + metadata for one fetch, with Common-Crawl-like headers."""
    date = _warc_date(index)
    resp_id = deterministic_record_id(warc_file, index, "response", uri)
    req_id = deterministic_record_id(warc_file, index, "request", uri)
    meta_id = deterministic_record_id(warc_file, index, "metadata", uri)
    host = uri.split("://", 1)[1].split("/", 1)[0]
    request = WarcRecord(
        "request", uri, http_method="GET",
        http_headers=(("Host", host), ("User-Agent", "tailmine-demo-bot/0.1 (synthetic)"),
                      ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"), ("Accept-Encoding", "identity")),
        warc_headers=(("WARC-IP-Address", ip), ("WARC-Concurrent-To", resp_id),
                      ("WARC-Warcinfo-ID", deterministic_record_id(warc_file, "warcinfo"))),
        record_id=req_id, date=date,
    )
    http_headers = [("Date", _http_date(index)), ("Server", "nginx")]
    if content_type is not None:
        http_headers.append(("Content-Type", content_type))
    http_headers += list(extra_http) + [("Content-Length", str(len(body))), ("Connection", "close")]
    response = WarcRecord(
        "response", uri, payload=body, http_status=status, http_headers=tuple(http_headers),
        warc_headers=(("WARC-IP-Address", ip),
                      ("WARC-Warcinfo-ID", deterministic_record_id(warc_file, "warcinfo"))),
        record_id=resp_id, date=date,
    )
    meta = (f"fetchTimeMs: {50 + index * 37 % 400}\r\n"
            f"charset-detected: {'UTF-8' if content_type and 'utf-8' in content_type else 'unknown'}\r\n").encode()
    metadata = WarcRecord(
        "metadata", uri, payload=meta, content_type="application/warc-fields",
        warc_headers=(("WARC-Concurrent-To", resp_id),), record_id=meta_id, date=date,
    )
    return [request, response, metadata]


def _warcinfo(warc_file: str, seed: int, description: str) -> WarcRecord:
    info = (f"isPartOf: tailmine-demo-sample\r\n"
            f"publisher: tailmine (synthetic data, seed={seed})\r\n"
            f"description: {description}\r\n"
            f"format: WARC File Format 1.0\r\n"
            f"software: tailmine.demo.sample\r\n"
            f"robots: classic\r\n").encode()
    return WarcRecord("warcinfo", None, payload=info, content_type="application/warc-fields",
                      warc_headers=(("WARC-Filename", warc_file),),
                      record_id=deterministic_record_id(warc_file, "warcinfo"), date=_warc_date(0))


def _build(seed: int, n_pages: int) -> _Built:
    if n_pages < _MIN_PAGES:
        raise ValueError(f"n_pages must be >= {_MIN_PAGES} so every deliberate defect fits")
    vocab = build_vocabulary(seed)
    picker = _Picker(vocab)
    rng = Random(f"tailmine-sample-{seed}-{n_pages}")
    n_pool = n_pages + _N_WARC1_PAGES + 1 + _N_WET_DOCS + _N_HTML_FILES + 2 * _N_JSONL_PER_FILE + _N_PARQUET_ROWS
    pool = _Pool(_generate_docs(n_pool, seed=seed, vocab=vocab))
    sites = _make_sites(vocab)
    built = _Built()

    def page_meta(i: int) -> tuple[_Site, str, str, _dt.date]:
        site = sites[rng.randrange(len(sites))]
        published = _PUBLISH_BASE + _dt.timedelta(days=rng.randrange(600))
        return site, rng.choice(vocab.authors), site.sections[rng.randrange(len(site.sections))], published

    # ---- main WARC ------------------------------------------------------------------------------
    warc0 = "sample-00000.warc.gz"
    rel0 = f"crawl/{warc0}"
    n_exact = max(2, n_pages * 3 // 100)
    n_near = max(2, n_pages * 3 // 100)
    slots: list[tuple[str, int]] = [("page", i) for i in range(n_pages)]
    # Content-level oddities replace ordinary page slots (not ingest defects).
    special_kinds = (["exact_dup"] * n_exact + ["near_dup"] * n_near +
                     ["spam", "short", "symbols", "lang_fr", "lang_de", "lang_cjk", "latin1", "latin1", "latin1",
                      "cp1252_meta"])
    positions = sorted(rng.sample(range(5, n_pages), len(special_kinds)))
    kind_at = dict(zip(positions, special_kinds))
    # Non-document captures are inserted between pages.
    extra_kinds = ["png", "css", "js", "http404", "script_only", "revisit"]
    extra_positions = sorted(rng.sample(range(1, n_pages), len(extra_kinds)))
    extras_at: dict[int, list[str]] = {}
    for pos, kind in zip(extra_positions, extra_kinds):
        extras_at.setdefault(pos, []).append(kind)

    records: list[WarcRecord] = [_warcinfo(warc0, seed, "Synthetic demo crawl generated by tailmine")]
    built.defects.append(Defect(rel0, 0, "non_document_record", "warcinfo"))
    rendered: list[tuple[str, bytes, _Doc, _Site]] = []  # (uri, html bytes, doc, site) for dups/revisit

    def add_capture(uri: str, status: int, ctype: str | None, body: bytes, *, reason: str | None, note: str,
                    extra_http: tuple[tuple[str, str], ...] = ()) -> None:
        idx = len(records)
        ip = f"192.0.2.{1 + idx % 250}"
        recs = _capture_records(uri=uri, index=idx, status=status, content_type=ctype, body=body, ip=ip,
                                warc_file=warc0, extra_http=extra_http)
        records.extend(recs)
        built.defects.append(Defect(rel0, idx, "non_document_record", "request"))
        if reason is not None:
            built.defects.append(Defect(rel0, idx + 1, reason, note))
        built.defects.append(Defect(rel0, idx + 2, "non_document_record", "metadata"))

    for _, i in slots:
        for extra in extras_at.get(i, []):
            host = sites[len(records) % len(sites)].domain
            if extra == "png":
                add_capture(f"https://www.{host}/static/img/logo-{i}.png", 200, "image/png", _png_bytes(),
                            reason="non_text_content_type", note="image/png")
            elif extra == "css":
                css = (b"body{margin:0;font-family:Georgia,serif;color:#222}\n.site-header{display:flex}\n"
                       b".cookie-banner{position:fixed;bottom:0;background:#eee}\n") * 3
                add_capture(f"https://www.{host}/static/css/site.css", 200, "text/css; charset=utf-8", css,
                            reason="non_text_content_type", note="text/css")
            elif extra == "js":
                js = (b"(function(){var d=document;window.dataLayer=window.dataLayer||[];"
                      b"d.addEventListener('DOMContentLoaded',function(){var b=d.getElementById('cookie-banner');"
                      b"if(b){b.hidden=localStorage.getItem('ok')==='1';}});})();\n")
                add_capture(f"https://www.{host}/static/js/analytics.js", 200, "application/javascript", js,
                            reason="non_text_content_type", note="application/javascript")
            elif extra == "http404":
                body = (b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>"
                        b"<h1>Not Found</h1><p>The requested URL was not found on this server.</p>"
                        b"<hr><address>nginx</address></body></html>\n")
                add_capture(f"https://www.{host}/2021/old-page-{i}.html", 404, "text/html; charset=utf-8", body,
                            reason="http_error_status", note="HTTP 404")
            elif extra == "script_only":
                body = (b"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title></title>"
                        b"<script src=\"/static/js/app.bundle.js\"></script></head><body><div id=\"root\"></div>"
                        b"<script>window.__INITIAL_STATE__={\"route\":\"/app\",\"user\":null};"
                        b"document.getElementById('root').textContent='';</script></body></html>\n")
                add_capture(f"https://app.{host}/dashboard", 200, "text/html; charset=utf-8", body,
                            reason="empty_text", note="HTML with only scripts, no visible text")
            elif extra == "revisit":
                uri, body, _, _ = rendered[0]
                idx = len(records)
                payload_digest = "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()
                records.append(WarcRecord(
                    "revisit", uri, http_status=200,
                    http_headers=(("Date", _http_date(idx)), ("Server", "nginx"),
                                  ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))),
                    warc_headers=(("WARC-Profile", "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest"),
                                  ("WARC-Refers-To-Target-URI", uri), ("WARC-Refers-To-Date", _warc_date(1)),
                                  ("WARC-Payload-Digest", payload_digest)),
                    record_id=deterministic_record_id(warc0, idx, "revisit", uri), date=_warc_date(idx),
                ))
                built.defects.append(Defect(rel0, idx, "non_document_record", "revisit"))

        kind = kind_at.get(i, "page")
        site, author, section, published = page_meta(i)
        charset = "utf-8"
        meta_charset: str | None = "utf-8"
        lang = "en"
        if kind == "exact_dup" and rendered:
            src_uri, body, doc, _ = rendered[rng.randrange(len(rendered))]
            uri = src_uri.replace(".html", "") + "/amp.html"
            add_capture(uri, 200, "text/html; charset=utf-8", body, reason=None, note="")
            built.content_notes.append(f"{rel0} record {len(records) - 2}: exact duplicate of {src_uri}")
            continue
        if kind == "near_dup" and rendered:
            src_uri, _, src_doc, _ = rendered[rng.randrange(len(rendered))]
            doc = _near_duplicate(rng, src_doc, picker)
            built.content_notes.append(f"{rel0} record {len(records) + 1}: near-duplicate (1-10% word edits) of {src_uri}")
        elif kind == "spam":
            doc = _spam_doc(rng)
        elif kind == "short":
            doc = _short_doc(rng)
        elif kind == "symbols":
            doc = _symbol_doc(rng)
        elif kind in ("lang_fr", "lang_de"):
            lang = kind[-2:]
            doc = _foreign_doc(rng, lang)
        elif kind == "lang_cjk":
            lang = "ja"
            doc = _cjk_doc(rng)
        else:
            doc = pool.take()
        if kind == "latin1":
            charset, meta_charset = "iso-8859-1", None
            doc = _with_extra_sentence(doc, rng.choice(_LATIN1_SENTENCES))
        elif kind == "cp1252_meta":
            charset, meta_charset = "windows-1252", "windows-1252"
            doc = _with_extra_sentence(doc, rng.choice(_CP1252_SENTENCES))
        if kind in ("spam", "short", "symbols", "lang_fr", "lang_de", "lang_cjk", "latin1", "cp1252_meta"):
            built.content_notes.append(f"{rel0} record {len(records) + 1}: {kind}")
        uri = f"https://www.{site.domain}/{_slug(section)}/{published:%Y/%m}/{_slug(doc.title)}-{i}.html"
        html_text = _render_html(rng, picker, site, doc, url=uri, author=author, published=published,
                                 meta_charset=meta_charset, lang=lang)
        body = html_text.encode(charset)
        # The windows-1252 page declares its charset only in <meta>, not in the HTTP header.
        ctype = "text/html" if kind == "cp1252_meta" else f"text/html; charset={charset}"
        add_capture(uri, 200, ctype, body, reason=None, note="")
        if kind in ("page", "near_dup"):
            rendered.append((uri, body, doc, site))

    built.files[rel0] = b"".join(warc_record_bytes(r) for r in records)

    # ---- truncated WARC -------------------------------------------------------------------------
    warc1 = "sample-00001.warc.gz"
    rel1 = f"crawl/{warc1}"
    recs1: list[WarcRecord] = [_warcinfo(warc1, seed, "Second synthetic crawl file; last record truncated")]
    built.defects.append(Defect(rel1, 0, "non_document_record", "warcinfo"))
    for j in range(_N_WARC1_PAGES + 1):
        site, author, section, published = page_meta(j)
        doc = pool.take()
        if j == _N_WARC1_PAGES:  # a long last page, so the cut lands well inside the body
            doc = _Doc(doc.title, doc.paragraphs * 4, doc.concepts)
        uri = f"https://www.{site.domain}/{_slug(section)}/{published:%Y/%m}/{_slug(doc.title)}-t{j}.html"
        body = _render_html(rng, picker, site, doc, url=uri, author=author, published=published).encode()
        idx = len(recs1)
        caps = _capture_records(uri=uri, index=idx, status=200, content_type="text/html; charset=utf-8",
                                body=body, ip=f"198.51.100.{1 + idx}", warc_file=warc1)
        built.defects.append(Defect(rel1, idx, "non_document_record", "request"))
        if j == _N_WARC1_PAGES:
            recs1.extend(caps[:2])
            built.defects.append(Defect(rel1, idx + 1, "truncated_record",
                                        "gzip member cut at half its compressed length, mid-body"))
        else:
            recs1.extend(caps)
            built.defects.append(Defect(rel1, idx + 2, "non_document_record", "metadata"))
    members = [warc_record_bytes(r) for r in recs1]
    full_last = zlib.decompressobj(wbits=31).decompress(members[-1])
    cut = truncate_last_gzip_member(members, 0.5)
    partial = zlib.decompressobj(wbits=31).decompress(cut[sum(len(m) for m in members[:-1]):])
    header_end = full_last.index(b"\r\n\r\n")
    # The cut must leave the WARC header intact and the body incomplete.
    assert header_end + 4 < len(partial) < len(full_last) - 4, (header_end, len(partial), len(full_last))
    built.files[rel1] = cut

    # ---- WET ------------------------------------------------------------------------------------
    relw = "crawl/sample-00000.warc.wet.gz"
    wet: list[WarcRecord] = [WarcRecord(
        "warcinfo", None,
        payload=(f"Software-Info: tailmine.demo.sample\r\nExtracted-Date: {_http_date(0)}\r\n"
                 f"description: Synthetic WET file (seed={seed})\r\n").encode(),
        content_type="application/warc-fields", warc_headers=(("WARC-Filename", "sample-00000.warc.wet.gz"),),
        record_id=deterministic_record_id(relw, "warcinfo"), date=_warc_date(0))]
    built.defects.append(Defect(relw, 0, "non_document_record", "warcinfo"))
    fr_at = rng.randrange(1, _N_WET_DOCS)
    for k in range(_N_WET_DOCS):
        site, author, section, published = page_meta(k)
        lang = "fra" if k == fr_at else "eng"
        doc = _foreign_doc(rng, "fr") if k == fr_at else pool.take()
        if k == fr_at:
            built.content_notes.append(f"{relw} record {len(wet)}: French-like pseudo-language")
        lines = [f"{doc.title} | {site.name}", "Home", *site.sections, doc.title,
                 f"By {author} {published:%d %B %Y}", *doc.paragraphs, "Most read",
                 *_generic_titles(rng, picker, 3), f"© {published.year} {site.name}. All rights reserved.",
                 "We use cookies to keep this site working. Accept all Reject"]
        text = "\n".join(lines).encode("utf-8")
        uri = f"https://www.{site.domain}/{_slug(section)}/{published:%Y/%m}/{_slug(doc.title)}-w{k}.html"
        wet.append(WarcRecord(
            "conversion", uri, payload=text, content_type="text/plain",
            warc_headers=(("WARC-Refers-To", deterministic_record_id(relw, k, "response")),
                          ("WARC-Block-Digest", "sha1:" + base64.b32encode(hashlib.sha1(text).digest()).decode()),
                          ("WARC-Identified-Content-Language", lang)),
            record_id=deterministic_record_id(relw, k, "conversion"), date=_warc_date(k + 1)))
    built.files[relw] = b"".join(warc_record_bytes(r) for r in wet)

    # ---- standalone HTML --------------------------------------------------------------------------
    cp1252_at = _N_HTML_FILES - 3
    for h in range(_N_HTML_FILES):
        site, author, section, published = page_meta(h)
        doc = pool.take()
        uri = f"https://www.{site.domain}/{_slug(section)}/{_slug(doc.title)}.html"
        if h == cp1252_at:
            doc = _with_extra_sentence(doc, _CP1252_SENTENCES[0] + " " + _CP1252_SENTENCES[1])
            page = _render_html(rng, picker, site, doc, url=uri, author=author, published=published,
                                meta_charset=None).encode("cp1252")
            built.content_notes.append(f"html/page-{h:02d}.html: windows-1252 bytes, no charset declared")
        else:
            page = _render_html(rng, picker, site, doc, url=uri, author=author, published=published).encode()
        built.files[f"html/page-{h:02d}.html"] = page

    # ---- books ----------------------------------------------------------------------------------
    book_rng = Random(f"tailmine-books-{seed}")
    for number, new_style, fname, newline in ((99001, False, "books/pg99001.txt", "\r\n"),
                                              (99002, True, "books/pg99002.txt.gz", "\n")):
        title = _title(book_rng, picker, None).replace("Why the ", "The ")
        author = book_rng.choice(vocab.authors)
        release = f"{book_rng.choice(('January', 'March', 'June', 'October'))} {book_rng.randint(1, 28)}, {book_rng.randint(2004, 2019)}"
        text = _book_text(book_rng, picker, vocab, number=number, title=title, author=author, release=release,
                          new_style=new_style, n_chapters=book_rng.randint(14, 18), newline=newline)
        data = text.encode("utf-8")
        built.files[fname] = gzip_bytes(data) if fname.endswith(".gz") else data

    # ---- JSONL ----------------------------------------------------------------------------------
    import zstandard

    for f, (ext, fr_lang) in enumerate((("jsonl.gz", None), ("jsonl.zst", "de"))):
        rel = f"jsonl/docs-{f:05d}.{ext}"
        bad_json, bad_utf8, empty, extra_field = rng.sample(range(3, _N_JSONL_PER_FILE - 3), 4)
        others = [i for i in range(_N_JSONL_PER_FILE) if i not in (bad_json, bad_utf8, empty, extra_field)]
        special_lines = rng.sample(others, 4)  # exact dup, near dup, spam, foreign/short
        lines: list[bytes] = []
        for i in range(_N_JSONL_PER_FILE):
            rid = f"jsonl-{f:05d}-{i:06d}"
            if i == special_lines[0] and rendered:
                text = rendered[rng.randrange(len(rendered))][2].text
                built.content_notes.append(f"{rel} line {i}: exact duplicate of a WARC page's article text")
            elif i == special_lines[1] and rendered:
                text = _near_duplicate(rng, rendered[rng.randrange(len(rendered))][2], picker).text
                built.content_notes.append(f"{rel} line {i}: near-duplicate of a WARC page's article text")
            elif i == special_lines[2]:
                text = _spam_doc(rng).text
                built.content_notes.append(f"{rel} line {i}: keyword spam")
            elif i == special_lines[3]:
                text = _foreign_doc(rng, fr_lang).text if fr_lang else _short_doc(rng).text
                built.content_notes.append(f"{rel} line {i}: " + ("German-like pseudo-language" if fr_lang else "very short"))
            else:
                text = pool.take().text
            rec = {"id": rid, "text": "" if i == empty else text,
                   "url": f"https://forum.{sites[i % len(sites)].domain}/t/{rid}",
                   "meta": {"source": "synthetic-forum", "lang": "en", "crawl": "2023-06",
                            "published": (_PUBLISH_BASE + _dt.timedelta(days=i)).isoformat()}}
            if i == extra_field:
                rec["x_annotator_score"] = 0.73
            line = json.dumps(rec, ensure_ascii=False).encode("utf-8")
            if i == bad_json:
                cut_at = len(line) // 2
                while line[cut_at] & 0xC0 == 0x80:  # never split a UTF-8 sequence: JSON error only
                    cut_at -= 1
                line = line[:cut_at]  # a record cut off mid-string
                built.defects.append(Defect(rel, i, "invalid_json", "line cut in half"))
            elif i == bad_utf8:
                cut_at = line.index(b'"text": "') + 9 + 40
                line = line[:cut_at] + b"\xff\xfe\xc3\x28" + line[cut_at:]
                built.defects.append(Defect(rel, i, "undecodable_bytes", "bytes ff fe c3 28 inside the text value"))
            elif i == empty:
                built.defects.append(Defect(rel, i, "empty_text", 'text is ""'))
            elif i == extra_field:
                built.content_notes.append(f"{rel} line {i}: valid record with extra unknown field x_annotator_score")
            lines.append(line)
        data = b"\n".join(lines) + b"\n"
        if ext.endswith("gz"):
            built.files[rel] = gzip_bytes(data)
        else:
            built.files[rel] = zstandard.ZstdCompressor(level=10, write_checksum=True).compress(data)

    # ---- Parquet --------------------------------------------------------------------------------
    import pyarrow as pa
    import pyarrow.parquet as pq

    relp = "parquet/docs-00000.parquet"
    dup_rows = rng.sample(range(_N_PARQUET_ROWS), 2)
    doc_ids, contents, urls, extras = [], [], [], []
    for r in range(_N_PARQUET_ROWS):
        if r == dup_rows[0] and rendered:
            content = rendered[rng.randrange(len(rendered))][2].text
            built.content_notes.append(f"{relp} row {r}: exact duplicate of a WARC page's article text")
        elif r == dup_rows[1] and rendered:
            content = _near_duplicate(rng, rendered[rng.randrange(len(rendered))][2], picker).text
            built.content_notes.append(f"{relp} row {r}: near-duplicate of a WARC page's article text")
        else:
            content = pool.take().text
        doc_ids.append(f"pq-{r:06d}")
        contents.append(content)
        urls.append(f"https://archive.{sites[r % len(sites)].domain}/doc/{r}")
        extras.append({"license": "synthetic", "collection": f"batch-{r % 3}", "n_chars": len(content)})
    table = pa.table({
        "doc_id": pa.array(doc_ids, pa.string()),
        "content": pa.array(contents, pa.string()),
        "source_url": pa.array(urls, pa.string()),
        "extra": pa.array(extras, pa.struct([("license", pa.string()), ("collection", pa.string()),
                                             ("n_chars", pa.int32())])),
    })
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=50, compression="zstd")
    built.files[relp] = sink.getvalue()

    built.files["README.txt"] = _readme(seed, n_pages, built).encode("utf-8")
    return built


def _readme(seed: int, n_pages: int, built: _Built) -> str:
    lines = [
        f"This directory is a synthetic sample corpus generated by tailmine (tailmine.demo.sample.write_sample, "
        f"seed={seed}, n_pages={n_pages}). Every document is invented: pseudo-English prose built from English "
        f"function words and generated words, with ~{_N_CONCEPTS} invented concepts whose document frequencies "
        f"follow a Zipf law (exponent {ZIPF_EXPONENT}); no page or book was copied from anywhere, and "
        f"Project Gutenberg headers/licences are paraphrased stand-ins that keep only the markers. "
        f"It contains deliberate defects so every ingest, dedup and filter path has work to do. "
        f"Regenerating with the same seed gives byte-identical files.",
        "",
        "Ingest defects (file, 0-based record or line index, expected quarantine reason):",
    ]
    for d in built.defects:
        if d.reason != "non_document_record":
            lines.append(f"  {d.path}  #{d.index}  {d.reason}  ({d.note})")
    counts: dict[str, int] = {}
    for d in built.defects:
        if d.reason == "non_document_record":
            counts[d.path] = counts.get(d.path, 0) + 1
    for path in sorted(counts):
        lines.append(f"  {path}  {counts[path]} non_document_record (warcinfo/request/metadata/revisit)")
    lines += ["", "Content defects (kept by ingest, for dedup/filters/language id):"]
    lines += [f"  {n}" for n in built.content_notes]
    return "\n".join(lines) + "\n"


def sample_defects(*, seed: int = 0, n_pages: int = 300) -> list[Defect]:
    """The exact deliberate ingest defects of ``write_sample(seed=seed, n_pages=n_pages)``."""
    return sorted(_build(seed, n_pages).defects, key=lambda d: (d.path, d.index))


def write_sample(out_dir: str | Path, *, seed: int = 0, n_pages: int = 300) -> list[Path]:
    """Write the synthetic multi-format sample into ``out_dir``; return the written paths, sorted."""
    out = Path(out_dir)
    built = _build(seed, n_pages)
    paths = []
    for rel in sorted(built.files):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(built.files[rel])
        paths.append(path)
    return sorted(paths)
