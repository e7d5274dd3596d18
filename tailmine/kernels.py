"""Small compiled (numba) helpers shared by the dedup, filter and concept kernels."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def fmix64(h):
    """murmur3's 64-bit finaliser: spreads every input bit over the whole hash (after FNV-1a or a multiply)."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h
