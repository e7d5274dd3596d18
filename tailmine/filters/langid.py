"""Language identification with py3langid: 97 languages, its model ships inside the wheel (nothing is
downloaded at run time), numpy only, about 0.3 ms for 2,000 characters. Loaded lazily, once per worker."""
from __future__ import annotations

from typing import Optional

from tailmine.errors import ConfigError


class LanguageIdentifier:
    """``identify(text) -> (lang, score)``; ``score`` is py3langid's normalised probability in [0, 1].

    Empty or letterless text gets ``("und", 0.0)`` (undetermined) rather than a guess.
    """

    def __init__(self, max_chars: int = 4000):
        self.max_chars = max_chars
        self._model = None

    def setup(self) -> None:
        if self._model is not None:
            return
        try:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier as _Model
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise ConfigError("language ID needs py3langid: pip install py3langid") from exc
        self._model = _Model.from_model_file(MODEL_FILE, norm_probs=True)

    def identify(self, text: str) -> tuple[str, float]:
        if self._model is None:
            self.setup()
        sample = text[: self.max_chars]
        if not any(c.isalpha() for c in sample):
            return "und", 0.0
        lang, score = self._model.classify(sample)
        return lang, float(score)

    def __getstate__(self):  # picklable: the model is rebuilt on the worker
        return {"max_chars": self.max_chars, "_model": None}


def identify(text: str, identifier: Optional[LanguageIdentifier] = None) -> tuple[str, float]:
    return (identifier or LanguageIdentifier()).identify(text)
