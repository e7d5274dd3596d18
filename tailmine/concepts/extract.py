"""Pluggable, versioned concept extractors: a document -> the SET of its concepts.

A concept is a string ``"<kind>:<normalised surface form>"`` (``w:bank of england``,
``e:bank of england``, ``c:17``); the kind prefix keeps extractors from colliding and the string
hashes to a stable 64-bit id (:func:`tailmine.concepts.sketches.stable_hash64`) with no global
dictionary. Document frequency, not term frequency, is what selection needs, so ``extract`` returns
a set. Each extractor has a ``name`` and ``version``; the stage records them in its parameters, and
changing what an extractor emits means bumping its version.
"""
from __future__ import annotations

import unicodedata
from typing import Iterable, Sequence

import regex

from tailmine.errors import ConfigError

#: English function words. n-grams may not start or end with one, and none is a unigram concept.
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up upon very was we were what when where which while who whom why will
    with would you your yours yourself yourselves shall may might must one two us let said says yes
    per via vs etc""".split()
)

# A CJK ideograph or kana is a token on its own (no spaces between words in those scripts); any other
# run of letters, marks and digits is a word.
_TOKEN = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]|[^\W_\p{Han}\p{Hiragana}\p{Katakana}]+", regex.V1)
_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]")
# A capitalised word: an upper-case letter then letters/marks/apostrophes/hyphens.
_CAP = r"\p{Lu}[\p{L}\p{M}'’\-]*"
_CONNECT = r"(?:of|the|de|la|le|du|des|del|von|van|der|den|da|di|y|and|&)"
_SPAN = regex.compile(rf"{_CAP}(?:[ \t]+(?:{_CONNECT}[ \t]+)*{_CAP})*")
_SENTENCE_END = frozenset(".!?:;\"“”'‘’()[]")
# n-grams do not cross punctuation that separates phrases.
_BREAK = regex.compile(r"[.!?;:,()\[\]{}\"“”«»|/\\]+|\n\s*\n|\s[-–—]+\s")


def normalize(text: str) -> str:
    """NFKC + case folding: the decontamination normalisation of longtail-methods.md §1.2."""
    return unicodedata.normalize("NFKC", text).casefold()


def tokens(text: str) -> list[str]:
    """Normalised word tokens; CJK characters are single tokens."""
    return _TOKEN.findall(normalize(text))


def phrases(text: str) -> list[list[str]]:
    """Token lists of the phrases of ``text`` (split at sentence and clause punctuation)."""
    return [t for t in (_TOKEN.findall(part) for part in _BREAK.split(normalize(text))) if t]


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

    def extract(self, text: str) -> set[str]:
        stop, limit = self.stop_words, self.max_token_chars
        out: set[str] = set()
        for toks in phrases(text):
            bad = [t in stop or len(t) > limit for t in toks]
            out.update(
                "w:" + t for t, b in zip(toks, bad) if not b and not t.isdigit() and (len(t) > 1 or _CJK.match(t))
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
        text = unicodedata.normalize("NFKC", text)
        out = set()
        for m in _SPAN.finditer(text):
            words = m.group().split()
            for suffix in ("’s", "'s"):
                if words[-1].endswith(suffix):
                    words[-1] = words[-1][: -len(suffix)]
            before = text[max(0, m.start() - 40) : m.start()]
            prev = before.rstrip()
            start_of_sentence = not prev or prev[-1] in _SENTENCE_END or "\n\n" in before[len(prev) :].replace("\r", "")
            if len(words) > 1 and all(w.isupper() for w in words):
                continue  # SHOUTED HEADINGS AND LICENCE TEXT, not names
            while words and words[0].casefold() in self.stop_words:
                words, start_of_sentence = words[1:], False
            while words and words[-1].casefold() in self.stop_words:
                words = words[:-1]
            if not words or len(words) > self.max_words:
                continue
            if len(words) == 1 and (start_of_sentence or len(words[0]) < 2):
                continue
            out.add("e:" + normalize(" ".join(words)))
        return out


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


def build_extractors(names: Sequence[str], max_n: int = 3) -> ConceptSet:
    """Extractors by registry name (``ngram``, ``entity``); a clear error names an unknown one."""
    built = []
    for name in names:
        if name not in EXTRACTORS:
            raise ConfigError(f"unknown concept extractor {name!r}; known: {', '.join(sorted(EXTRACTORS))}")
        built.append(NgramExtractor(max_n=max_n) if name == "ngram" else EXTRACTORS[name]())
    return ConceptSet(built)
