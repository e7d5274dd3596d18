"""From compute to a token budget (longtail-methods.md §3.1).

* ``C ≈ 6·N·D`` (Kaplan et al. 2020, arXiv 2001.08361): with C and N given, D = C / (6·N).
* With C alone, the Chinchilla rule of thumb D ≈ 20·N (Hoffmann et al. 2022, arXiv 2203.15556):
  N = √(C / 120), D = √(10·C / 3) (= 20·N).

The formula and the numbers go into ``recipe.json`` (:meth:`TokenBudget.to_dict`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from tailmine.errors import ConfigError

CHINCHILLA_TOKENS_PER_PARAM = 20.0
FLOPS_PER_PARAM_TOKEN = 6.0


@dataclass(frozen=True)
class TokenBudget:
    tokens: int
    formula: str
    compute_flops: Optional[float] = None
    params: Optional[int] = None
    tokens_per_param: Optional[float] = None

    @classmethod
    def from_tokens(cls, tokens: int, params: Optional[int] = None) -> "TokenBudget":
        if tokens <= 0:
            raise ConfigError(f"the token budget must be positive, got {tokens}")
        return cls(int(tokens), "D given", None, params, tokens / params if params else None)

    @classmethod
    def from_compute(cls, compute_flops: float, params: Optional[int] = None,
                     tokens_per_param: float = CHINCHILLA_TOKENS_PER_PARAM) -> "TokenBudget":
        """D = C/(6N) when N is given; otherwise the compute-optimal split with D = tokens_per_param·N."""
        if not compute_flops or compute_flops <= 0:
            raise ConfigError(f"--compute-flops must be positive, got {compute_flops}")
        if params:
            if params <= 0:
                raise ConfigError(f"--params must be positive, got {params}")
            d = compute_flops / (FLOPS_PER_PARAM_TOKEN * params)
            return cls(int(round(d)), "D = C / (6 N)  (Kaplan et al. 2020)", float(compute_flops), int(params), d / params)
        n = math.sqrt(compute_flops / (FLOPS_PER_PARAM_TOKEN * tokens_per_param))
        d = tokens_per_param * n
        formula = f"N = sqrt(C / (6 * {tokens_per_param:g})), D = {tokens_per_param:g} N  (Chinchilla rule of thumb, Hoffmann et al. 2022)"
        return cls(int(round(d)), formula, float(compute_flops), int(round(n)), tokens_per_param)

    def warnings(self) -> list[str]:
        """Tokens/param outside [5, 200] is flagged (§3.1)."""
        out = []
        if self.tokens_per_param is not None:
            if self.tokens_per_param < 5:
                out.append(f"{self.tokens_per_param:.2f} tokens per parameter is below 5: the model is badly under-trained for its size")
            elif self.tokens_per_param > 200:
                out.append(f"{self.tokens_per_param:.0f} tokens per parameter is above 200: far past compute-optimal")
        return out

    def to_dict(self) -> dict:
        return {
            "tokens": self.tokens,
            "formula": self.formula,
            "compute_flops": self.compute_flops,
            "params": self.params,
            "tokens_per_param": self.tokens_per_param,
            "warnings": self.warnings(),
        }


def effective_tokens(unique_tokens: float, epochs: float, r_star: float = 15.4) -> float:
    """Muennighoff et al. 2023: D' = U + U·R*·(1 − e^(−R/R*)), R = epochs − 1 (≥ 0)."""
    r = max(0.0, epochs - 1.0)
    return unique_tokens + unique_tokens * r_star * (1.0 - math.exp(-r / r_star))
