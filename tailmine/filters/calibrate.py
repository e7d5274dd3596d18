"""Per-language thresholds fitted on a reference sample (FineWeb2's approach, Penedo et al. 2025,
arXiv 2506.20920): the published rules were tuned on English; a language whose words are longer, whose
text carries more digits or punctuation per word, or whose language-ID confidence runs lower needs its
own numbers, and a sample of text known to be good in that language gives them.

* Language-ID confidence: ``lang_low_score`` = max(0.3, min(0.9, median - std)) of the language's
  ``lang_score`` distribution (FineWeb2 §3.2).
* Every other rule that is on for the language (and is not a yes/no signal or a document-length cap) is
  matched by quantile (FineWeb2's "quantile" method): its built-in threshold drops a share q of the
  anchor language's reference documents (English by default); the language's threshold is the value that
  drops the same share q of *its* reference documents, so a rule is as strict in every language. When
  the reference has no anchor documents, q is ``drop_fraction``. When q is 0 (the rule drops none of the
  good anchor text), the built-in threshold stays, loosened just enough to drop none of the language's
  reference either.

The result is a filter config (``languages:`` section), loadable by ``tailmine filter --config``.
"""
from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np

from tailmine.errors import ConfigError
from tailmine.filters.rules import RULES, builtin_thresholds

NOT_CALIBRATED = frozenset({"lang_low_score", "gopher_short_doc", "gopher_long_doc", "c4_lorem_ipsum", "c4_curly_bracket"})
"""Rules calibrate leaves alone: language ID has its own formula; a length cap or a yes/no signal has no
meaningful quantile."""


@dataclass(frozen=True)
class CalibrationConfig:
    anchor: str = "en"
    """The language whose built-in thresholds the others are matched to."""
    drop_fraction: float = 0.05
    """Share of the reference each rule drops when the reference has too few anchor documents."""
    min_docs: int = 20
    """Languages with fewer reference documents keep the built-in thresholds (a quantile of a handful of
    documents is noise)."""
    lid_floor: float = 0.3
    lid_ceiling: float = 0.9

    def __post_init__(self):
        if not 0 < self.drop_fraction < 0.5:
            raise ConfigError(f"calibrate: drop_fraction: must be in (0, 0.5), got {self.drop_fraction}")
        if self.min_docs < 2:
            raise ConfigError(f"calibrate: min_docs: must be at least 2, got {self.min_docs}")


def lid_threshold(scores: Iterable[float], floor: float = 0.3, ceiling: float = 0.9) -> float:
    """FineWeb2's language-ID threshold: max(floor, min(ceiling, median - std)) of the scores."""
    values = np.asarray(list(scores), dtype=np.float64)
    return float(max(floor, min(ceiling, np.median(values) - values.std())))


def _finite(values: Iterable[Optional[float]]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)


def dropped_share(values: Iterable[Optional[float]], op: str, threshold: float) -> Optional[float]:
    """Share of ``values`` a ``min``/``max`` rule at ``threshold`` drops; None when none is defined."""
    finite = _finite(values)
    if finite.size == 0:
        return None
    return float(np.mean(finite < threshold if op == "min" else finite > threshold))


def rule_threshold(values: Iterable[Optional[float]], op: str, share: float, builtin: float) -> Optional[float]:
    """The threshold that drops ``share`` of ``values`` under a ``min`` or ``max`` rule (``builtin``,
    loosened to drop none of them, when ``share`` is 0); None when no value is defined (NaN: e.g. no
    stop-word list for the language)."""
    finite = _finite(values)
    if finite.size == 0:
        return None
    if share <= 0:
        return float(min(builtin, finite.min()) if op == "min" else max(builtin, finite.max()))
    q = share if op == "min" else 1.0 - share
    return float(np.quantile(finite, q, method="linear"))


def calibrate(rows: Iterable[dict], cfg: Optional[CalibrationConfig] = None) -> dict:
    """``rows``: one dict per reference document with ``lang``, ``lang_score``, ``kind`` (source kind) and
    every rule's signal column. Returns ``{"languages": {lang: {rule: threshold}}, "reference": {lang:
    documents}}``; ``languages`` is a filter config section."""
    cfg = cfg or CalibrationConfig()
    by_lang: dict[str, list[dict]] = collections.defaultdict(list)
    for row in rows:
        by_lang[row["lang"]].append(row)
    anchor_docs = by_lang.get(cfg.anchor, [])
    shares: dict[str, float] = {}
    for rule in RULES:
        if len(anchor_docs) >= cfg.min_docs:
            kind = collections.Counter(d["kind"] for d in anchor_docs).most_common(1)[0][0]
            builtin = builtin_thresholds(kind, cfg.anchor)[rule.name]
            share = None if builtin is None else dropped_share((d[rule.signal] for d in anchor_docs), rule.op, builtin)
        else:
            share = None
        shares[rule.name] = cfg.drop_fraction if share is None else share
    languages: dict[str, dict[str, float]] = {}
    for lang in sorted(by_lang):
        docs = by_lang[lang]
        if lang == "und" or len(docs) < cfg.min_docs:
            continue
        kind = collections.Counter(d["kind"] for d in docs).most_common(1)[0][0]
        on = builtin_thresholds(kind, lang)
        out = {"lang_low_score": round(lid_threshold((d["lang_score"] for d in docs), cfg.lid_floor, cfg.lid_ceiling), 4)}
        for rule in RULES:
            if rule.name in NOT_CALIBRATED or on[rule.name] is None:
                continue
            value = rule_threshold((d[rule.signal] for d in docs), rule.op, shares[rule.name], on[rule.name])
            if value is not None:
                out[rule.name] = round(value, 4)
        languages[lang] = out
    return {"languages": languages, "reference": {lang: len(docs) for lang, docs in sorted(by_lang.items())},
            "shares": {name: round(v, 4) for name, v in shares.items() if name not in NOT_CALIBRATED}}


def to_yaml(result: dict, source: str, cfg: CalibrationConfig) -> str:
    """The calibration as a filter config file, with a header saying where its numbers come from."""
    import yaml

    counts = ", ".join(f"{lang} {n}" for lang, n in result["reference"].items())
    header = (
        f"# tailmine filter calibrate --reference {source}\n"
        f"# per-language thresholds matched by quantile to {cfg.anchor}'s built-in ones (share of the reference each rule\n"
        f"# drops: {', '.join(f'{k} {v:g}' for k, v in result['shares'].items() if v)} ; all others 0);\n"
        f"# lang_low_score = max({cfg.lid_floor}, min({cfg.lid_ceiling}, median - std)) (FineWeb2)\n"
        f"# reference documents per language (languages under {cfg.min_docs} keep the built-in thresholds): {counts}\n"
    )
    return header + yaml.safe_dump({"languages": result["languages"]}, sort_keys=True, allow_unicode=True)
