"""Concepts: extraction (n-grams, entity spans), document-frequency counting (exact or sketched), the
power-law fit of those frequencies and per-document rarity columns.

``from tailmine.concepts import fit_power_law`` works without importing the extractors: names load
with their module on first use."""
from __future__ import annotations

from tailmine.lazy import lazy_attributes

__getattr__, __all__ = lazy_attributes(__name__, {
    "tailmine.concepts.fitting": ("FitConfig", "PowerLawFit", "fit_power_law"),
    "tailmine.concepts.config": ("ConceptConfig",),
    "tailmine.concepts.extract": ("build_extractors",),
})
