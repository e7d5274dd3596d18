"""Configuration of the filter stage: thresholds per rule and per language, language ID and PII options.

A config file is YAML or JSON::

    allowed_languages: [en, de]          # empty or absent: every language
    langid_max_chars: 4000
    thresholds:                          # any rule of tailmine.filters.rules.RULES; null switches it off
      gopher_short_doc: 50
      fineweb_char_dup_ratio: null
    languages:                           # per-language overrides, on top of the built-in ones
      de: {gopher_too_few_stop_words: null}
      en: {lang_low_score: 0.65}
    pii: true
    pii_types: [email, ip, phone]

Every key is checked before any work starts; an error names the file and the key.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from tailmine.errors import ConfigError
from tailmine.filters.pii import PII_TYPES
from tailmine.filters.rules import LANGUAGE_DEFAULTS, RULES, RULES_BY_NAME


@dataclass(frozen=True)
class FilterConfig:
    allowed_languages: tuple[str, ...] = ()
    """Languages to keep (ISO 639-1 codes as py3langid gives them); empty keeps every language."""
    langid_max_chars: int = 4000
    """Language ID reads the first this many characters (enough for a stable answer, bounded cost)."""
    thresholds: dict[str, Optional[float]] = field(default_factory=dict)
    """Rule name -> threshold, over the published defaults; None switches a rule off."""
    languages: dict[str, dict[str, Optional[float]]] = field(default_factory=dict)
    """Language -> {rule name -> threshold}: overrides for documents identified as that language."""
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
        if not isinstance(self.languages, dict):
            raise ConfigError(f"{where}: languages: must map a language code to rule thresholds")
        for lang, overrides in self.languages.items():
            _check_thresholds(overrides, f"{where}: languages.{lang}")
        for t in self.pii_types:
            if t not in PII_TYPES:
                raise ConfigError(f"{where}: pii_types: {t!r} is not one of {', '.join(PII_TYPES)}")

    def threshold_table(self) -> dict[str, dict[str, Optional[float]]]:
        """Thresholds per language ('*' for any language not listed): defaults < config < per-language."""
        base = {r.name: r.default for r in RULES}
        base.update(self.thresholds)
        table = {"*": base}
        for lang in sorted(set(LANGUAGE_DEFAULTS) | set(self.languages)):
            merged = dict(base)
            merged.update(LANGUAGE_DEFAULTS.get(lang, {}))
            merged.update(self.languages.get(lang, {}))
            table[lang] = merged
        return table

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
