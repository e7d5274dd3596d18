"""Package names that load their module on first use.

Why: ``tailmine --help`` and a config module must not pay for pyarrow, numba or Beam, yet
``from tailmine.runtime import fingerprint`` or ``from tailmine.concepts import fit_power_law`` should
work. A package lists where each of its names lives; the module is imported when the name is first read.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_attributes(package: str, homes: dict[str, tuple[str, ...]]) -> tuple[Callable[[str], Any], list[str]]:
    """``(__getattr__, __all__)`` for ``package``, whose public names live in the modules of ``homes``
    (module -> names); an unknown name raises ``AttributeError`` naming the package."""
    home_of = {name: module for module, names in homes.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home_of[name]), name)

    return __getattr__, sorted(home_of)
