"""Configuration of the filter stage: thresholds per rule and per language, language ID and PII options.

A config file is YAML or JSON::

    allowed_languages: [en, de]          # empty or absent: every language
    langid_max_chars: 4000
    thresholds:                          # any rule of tailmine.filters.rules.RULES; null switches it off
      gopher_short_doc: 50
      fineweb_char_dup_ratio: null
    sources:                             # per source kind (web, book, text, jsonl, parquet)
      book: {junk_window_frac: 0.4}
    languages:                           # per-language overrides
      de: {gopher_too_few_stop_words: null}
      en: {lang_low_score: 0.65}
    source_kind: book                    # judge every document as this kind (default: its `source` column)
    segmenters: {zh: jieba, ja: sudachi, th: pythainlp}   # word boundaries of unspaced scripts
    pii: true
    pii_types: [email, ip, phone]

Thresholds of a document of source kind K and language L, each layer over the one before: the published
defaults < the built-in policy of K < the built-in policy of L (:func:`tailmine.filters.rules.builtin_thresholds`)
< this config's ``thresholds`` < its ``sources.K`` < its ``languages.L``. What a config says always wins
over a built-in value; within a config the more specific entry wins.

Every key is checked before any work starts; an error names the file and the key.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from tailmine.errors import ConfigError
from tailmine.filters.pii import PII_TYPES
from tailmine.filters.rules import KNOWN_LANGUAGES, RULES, RULES_BY_NAME, SOURCE_KIND_OF, SOURCE_KINDS, builtin_thresholds
from tailmine.filters.segment import SEGMENTERS, DEFAULT_SEGMENTERS


@dataclass(frozen=True)
class FilterConfig:
    allowed_languages: tuple[str, ...] = ()
    """Languages to keep (ISO 639-1 codes as py3langid gives them); empty keeps every language."""
    langid_max_chars: int = 4000
    """Language ID reads the first this many characters (enough for a stable answer, bounded cost)."""
    thresholds: dict[str, Optional[float]] = field(default_factory=dict)
    """Rule name -> threshold, over the published defaults; None switches a rule off."""
    sources: dict[str, dict[str, Optional[float]]] = field(default_factory=dict)
    """Source kind (one of :data:`tailmine.filters.rules.SOURCE_KINDS`) -> {rule name -> threshold}."""
    languages: dict[str, dict[str, Optional[float]]] = field(default_factory=dict)
    """Language -> {rule name -> threshold}: overrides for documents identified as that language."""
    source_kind: Optional[str] = None
    """Judge every document as this source kind (``--source-kind``); None: from its ``source`` column."""
    segmenters: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SEGMENTERS))
    """Language -> word segmenter for unspaced scripts (jieba, sudachi, pythainlp, or characters: one
    token per character)."""
    pii: bool = True
    """Replace e-mail addresses, IP addresses and phone numbers by typed placeholders."""
    pii_types: tuple[str, ...] = PII_TYPES
    """Which PII types to redact (email, ip, phone)."""

    def __post_init__(self):
        object.__setattr__(self, "allowed_languages", tuple(self.allowed_languages))
        object.__setattr__(self, "pii_types", tuple(self.pii_types))
        where = "filter config"
        if self.langid_max_chars <= 0:
            raise ConfigError(f"{where}: langid_max_chars: must be positive, got {self.langid_max_chars}")
        _check_thresholds(self.thresholds, f"{where}: thresholds")
        for section, known, what in (("sources", SOURCE_KINDS, "source kind"), ("languages", KNOWN_LANGUAGES, "language code")):
            entries = getattr(self, section)
            if not isinstance(entries, dict):
                raise ConfigError(f"{where}: {section}: must map a {what} to rule thresholds")
            for key, overrides in entries.items():
                if key not in known:
                    hint = ", ".join(SOURCE_KINDS) if section == "sources" else "ISO 639-1 codes such as en, de, zh"
                    raise ConfigError(f"{where}: {section}.{key}: unknown {what}; use one of {hint}")
                _check_thresholds(overrides, f"{where}: {section}.{key}")
        if self.source_kind is not None and self.source_kind not in SOURCE_KINDS:
            raise ConfigError(f"{where}: source_kind: unknown source kind {self.source_kind!r}; use one of {', '.join(SOURCE_KINDS)}")
        if not isinstance(self.segmenters, dict):
            raise ConfigError(f"{where}: segmenters: must map a language code to a segmenter")
        for lang, name in self.segmenters.items():
            if lang not in KNOWN_LANGUAGES:
                raise ConfigError(f"{where}: segmenters.{lang}: unknown language code")
            if name not in SEGMENTERS:
                raise ConfigError(f"{where}: segmenters.{lang}: unknown segmenter {name!r}; use one of {', '.join(SEGMENTERS)}")
        for t in self.pii_types:
            if t not in PII_TYPES:
                raise ConfigError(f"{where}: pii_types: {t!r} is not one of {', '.join(PII_TYPES)}")

    def kind_of(self, source: Optional[str]) -> str:
        """Source kind of a document whose ``source`` column is ``source`` (``source_kind`` wins)."""
        return self.source_kind or SOURCE_KIND_OF.get(source or "", "web")

    def thresholds_for(self, kind: str, lang: str) -> dict[str, Optional[float]]:
        """Every rule's threshold for a document of source kind ``kind`` in language ``lang`` (see the
        module docstring for the order of the layers)."""
        out = builtin_thresholds(kind, lang)
        out.update(self.thresholds)
        out.update(self.sources.get(kind, {}))
        out.update(self.languages.get(lang, {}))
        return out

    def to_dict(self) -> dict:
        data = asdict(self)
        data["allowed_languages"] = list(self.allowed_languages)
        data["pii_types"] = list(self.pii_types)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "filter config") -> "FilterConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: must be a mapping of settings, got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        for key in data:
            if key not in known:
                raise ConfigError(f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("filter config", where, 1)) from None
        except TypeError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    @classmethod
    def load(cls, path: str) -> "FilterConfig":
        """Read a YAML or JSON config file (local or gs://)."""
        from tailmine.fileio import read_bytes

        raw = read_bytes(path).decode("utf-8")
        try:
            if path.endswith(".json"):
                data = json.loads(raw)
            else:
                import yaml

                data = yaml.safe_load(raw)
        except Exception as exc:
            raise ConfigError(f"{path}: not valid YAML/JSON: {exc}") from None
        return cls.from_dict(data or {}, where=path)


def _check_thresholds(values: Any, where: str) -> None:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: must map rule names to thresholds")
    for name, value in values.items():
        if name not in RULES_BY_NAME:
            raise ConfigError(f"{where}.{name}: unknown rule; rules: {', '.join(r.name for r in RULES)}")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{where}.{name}: threshold must be a number or null, got {value!r}")
