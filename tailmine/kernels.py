"""Small compiled (numba) helpers shared by the dedup, filter and concept kernels."""
from __future__ import annotations

import numpy as np
from numba import njit

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)


@njit(cache=True, inline="always")
def fnv1a(values, s, e):
    """64-bit FNV-1a over ``values[s:e]`` (code points or bytes), one step per value."""
    h = FNV_OFFSET
    for j in range(s, e):
        h = (h ^ np.uint64(values[j])) * FNV_PRIME
    return h


@njit(cache=True, inline="always")
def fmix64(h):
    """murmur3's 64-bit finaliser: spreads every input bit over the whole hash (after FNV-1a or a multiply)."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h
