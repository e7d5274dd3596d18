"""A mixture plan of one in-memory table of units: :func:`plan_mixture` runs the passes of
:mod:`tailmine.mixtures.passes` over it as one shard (the Beam stage runs the same passes shard by
shard), and returns per-unit repeat counts for the mixture and the passive mixture of the same
budget, each unit's drop reason and the recipe sections. Testable without Beam.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pyarrow as pa

from tailmine.mixtures.budget import TokenBudget
from tailmine.mixtures.passes import ShardView, document_keys, final_counts, plan_local, unit_reasons

__all__ = ["Plan", "plan_mixture", "document_keys"]


@dataclass
class Plan:
    k: np.ndarray                      # mixture repeat counts per unit (0 outside the pool)
    k_passive: np.ndarray
    reasons: list                      # drop reason per unit, None for units in the mixture
    keys: list                         # stable per-document keys (one per unit row)
    sections: dict = field(default_factory=dict)
    bucket_table: Optional[pa.Table] = None
    references: dict = field(default_factory=dict)


def plan_mixture(work: pa.Table, contamination: list, cfg, budget: TokenBudget, quality_column: Optional[str],
                 held_groups: frozenset = frozenset()) -> Plan:
    view = ShardView(0, work, list(contamination))
    local = plan_local([view], frozenset(held_groups), cfg, budget.tokens, quality_column)
    arrays = local.arrays[0]
    k = np.zeros(work.num_rows, np.int64)
    k_passive = np.zeros(work.num_rows, np.int64)
    k[arrays["rows"]] = final_counts(arrays, local.fs, "mixture")
    k_passive[arrays["rows"]] = final_counts(arrays, local.fs, "passive")
    reasons = unit_reasons(view, frozenset(held_groups), local.threshold)
    for i in arrays["rows"][k[arrays["rows"]] == 0].tolist():
        reasons[i] = "not_sampled"
    return Plan(k, k_passive, reasons, document_keys(work), local.sections, local.bucket_table, local.references[0])
