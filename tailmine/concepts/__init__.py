"""Concepts: extraction (n-grams, entity spans), document-frequency counting (exact or sketched), the
power-law fit of those frequencies and per-document rarity columns.

``from tailmine.concepts import fit_power_law`` works without importing the extractors: names load
with their module on first use."""
from __future__ import annotations

import importlib

_HOMES = {
    "tailmine.concepts.fitting": ("FitConfig", "PowerLawFit", "fit_power_law"),
    "tailmine.concepts.config": ("ConceptConfig",),
    "tailmine.concepts.extract": ("build_extractors",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_HOME_OF)


def __getattr__(name: str):
    if name not in _HOME_OF:
        raise AttributeError(f"module 'tailmine.concepts' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME_OF[name]), name)
