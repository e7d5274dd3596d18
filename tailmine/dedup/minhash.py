"""Normalisation, shingling and MinHash signatures, in one compiled pass over UTF-8 bytes.

Why compiled: building 5-gram shingles as Python strings caps at ~26 MB/s per core before any hashing,
so the tokenizer, the n-gram hash and the permutations all run in one numba kernel over the
concatenated UTF-8 buffer of a batch of documents (an Arrow string array gives it without copies).

Normalisation (shared with the exact-duplicate hash): :func:`tailmine.textnorm.normalize` (Unicode
NFKC, lower case, whitespace runs collapsed). Tokens: runs of word characters separated by whitespace
and punctuation; every character of a script written without spaces (Han, Hiragana, Katakana, Thai,
Lao, Khmer, Myanmar: :data:`tailmine.textnorm.UNSPACED_RANGES`) is a token of its own, so Chinese,
Japanese and Thai text gets character n-grams and mixed text gets both.
Shingles: hashes of ``ngram`` consecutive tokens (a document with fewer tokens has one shingle made of
all of them; a document without tokens has none and an all-``EMPTY`` signature).

Permutations: ``h_k(x) = (a_k * x + b_k) >> 32`` over the 64-bit shingle hash ``x`` (multiply-shift,
``a_k`` odd), seeded from ``seed``; the signature keeps the minimum of each as uint32.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from tailmine.kernels import FNV_OFFSET, FNV_PRIME
from tailmine.kernels import fmix64 as _fmix64
from tailmine.textnorm import is_unspaced, nfkc, normalize  # noqa: F401 (normalize: the exact-duplicate form)

EMPTY = np.uint32(0xFFFFFFFF)
"""Signature value of a permutation that saw no shingle (an empty document)."""


def text_hash(normalized: str) -> bytes:
    """16-byte digest of normalised text: the exact-duplicate key (collisions negligible at 10^12 docs)."""
    return hashlib.blake2b(normalized.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@njit(cache=True, inline="always")
def _is_separator(cp):
    if cp < 128:
        return not ((48 <= cp <= 57) or (97 <= cp <= 122) or (65 <= cp <= 90) or cp == 95)
    return (
        (0x80 <= cp <= 0xBF and cp != 0xAA and cp != 0xB5 and cp != 0xBA)  # Latin-1 punctuation and spaces
        or cp == 0xD7 or cp == 0xF7
        or (0x2000 <= cp <= 0x206F)  # general punctuation, spaces
        or (0x2E00 <= cp <= 0x2E7F)
        or (0x3000 <= cp <= 0x303F)  # CJK symbols and punctuation
        or (0xFE30 <= cp <= 0xFE4F)
        or (0xFF00 <= cp <= 0xFF0F) or (0xFF1A <= cp <= 0xFF20) or (0xFF3B <= cp <= 0xFF40) or (0xFF5B <= cp <= 0xFF65)
    )


@njit(cache=True, inline="always")
def _is_space(cp):
    return (
        cp == 32 or (9 <= cp <= 13) or (0x1C <= cp <= 0x1F) or cp == 0x85 or cp == 0xA0 or cp == 0x1680
        or (0x2000 <= cp <= 0x200A) or cp == 0x2028 or cp == 0x2029 or cp == 0x202F or cp == 0x205F or cp == 0x3000
    )


def _ascii_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per ASCII byte: its class (0 word character, 1 whitespace, 2 other separator) and its lower case.

    The same classes as ``_is_space``/``_is_separator`` give for code points below 128; a table lookup
    instead of their range tests is what makes the kernel's common case (ASCII prose) cheap."""
    cls = np.full(128, 2, np.uint8)
    for c in range(128):
        if (48 <= c <= 57) or (97 <= c <= 122) or (65 <= c <= 90) or c == 95:
            cls[c] = 0
        elif c == 32 or 9 <= c <= 13 or 0x1C <= c <= 0x1F:
            cls[c] = 1
    lower = np.array([c + 32 if 65 <= c <= 90 else c for c in range(128)], np.uint64)
    return cls, lower


_ASCII_CLASS, _ASCII_LOWER = _ascii_tables()
_WORD, _SPACE = 0, 1
_K2 = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True)
def _tokens(buf, start, end, out, exact):
    """64-bit hashes of the tokens of ``buf[start:end]`` into ``out``; returns the count.

    ``buf`` holds NFKC-normalised, lower-cased UTF-8 (ASCII may still be upper case: it is folded
    here). ``exact[0:2]`` receives a 128-bit hash of the text with whitespace runs collapsed and trimmed.
    ASCII bytes take a table-driven path; other code points are decoded and classified by range.
    """
    n = 0
    h = FNV_OFFSET
    in_word = False
    e1 = FNV_OFFSET
    e2 = np.uint64(0x84222325CBF29CE4)
    pending_space = False
    started = False
    i = start
    while i < end:
        b0 = buf[i]
        if b0 < 0x80:
            cls = _ASCII_CLASS[b0]
            if cls == _SPACE:
                pending_space = started
                if in_word:
                    out[n] = _fmix64(h)
                    n += 1
                    in_word = False
                    h = FNV_OFFSET
            else:
                if pending_space:
                    e1 = (e1 ^ np.uint64(32)) * FNV_PRIME
                    e2 = (e2 ^ np.uint64(32)) * _K2
                    e2 ^= e2 >> np.uint64(29)
                    pending_space = False
                started = True
                c = _ASCII_LOWER[b0]
                e1 = (e1 ^ c) * FNV_PRIME
                e2 = (e2 ^ c) * _K2
                e2 ^= e2 >> np.uint64(29)
                if cls == _WORD:
                    h = (h ^ c) * FNV_PRIME
                    in_word = True
                elif in_word:
                    out[n] = _fmix64(h)
                    n += 1
                    in_word = False
                    h = FNV_OFFSET
            i += 1
            continue
        b0 = np.uint32(b0)
        if b0 >= 0xF0 and i + 3 < end:
            cp = ((b0 & 7) << 18) | ((np.uint32(buf[i + 1]) & 63) << 12) | ((np.uint32(buf[i + 2]) & 63) << 6) | (np.uint32(buf[i + 3]) & 63)
            width = 4
        elif b0 >= 0xE0 and i + 2 < end:
            cp = ((b0 & 15) << 12) | ((np.uint32(buf[i + 1]) & 63) << 6) | (np.uint32(buf[i + 2]) & 63)
            width = 3
        elif b0 >= 0xC0 and i + 1 < end:
            cp = ((b0 & 31) << 6) | (np.uint32(buf[i + 1]) & 63)
            width = 2
        else:
            cp, width = b0, 1  # stray continuation byte: part of a word
        if _is_space(cp):
            pending_space = started
        else:
            if pending_space:
                e1 = (e1 ^ np.uint64(32)) * FNV_PRIME
                e2 = (e2 ^ np.uint64(32)) * _K2
                e2 ^= e2 >> np.uint64(29)
                pending_space = False
            started = True
            for j in range(width):
                e1 = (e1 ^ np.uint64(buf[i + j])) * FNV_PRIME
                e2 = (e2 ^ np.uint64(buf[i + j])) * _K2
                e2 ^= e2 >> np.uint64(29)
        if _is_separator(cp):
            if in_word:
                out[n] = _fmix64(h)
                n += 1
                in_word = False
                h = FNV_OFFSET
        elif is_unspaced(cp):
            if in_word:
                out[n] = _fmix64(h)
                n += 1
                in_word = False
            h = FNV_OFFSET
            for j in range(width):
                h = (h ^ np.uint64(buf[i + j])) * FNV_PRIME
            out[n] = _fmix64(h)
            n += 1
            h = FNV_OFFSET
        else:
            for j in range(width):
                h = (h ^ np.uint64(buf[i + j])) * FNV_PRIME
            in_word = True
        i += width
    if in_word:
        out[n] = _fmix64(h)
        n += 1
    exact[0] = _fmix64(e1)
    exact[1] = _fmix64(e2)
    return n


@njit(cache=True, inline="always")
def _ngram(tokens, i, k):
    g = np.uint64(0x9E3779B97F4A7C15)
    for j in range(k):
        g = (g ^ tokens[i + j]) * np.uint64(0xBF58476D1CE4E5B9)
        g ^= g >> np.uint64(31)
    return _fmix64(g)


@njit(cache=True)
def _shingles(buf, start, end, ngram, tokens, out, exact):
    n_tok = _tokens(buf, start, end, tokens, exact)
    if n_tok == 0:
        return 0
    if n_tok < ngram:
        out[0] = _ngram(tokens, 0, n_tok)
        return 1
    count = n_tok - ngram + 1
    for i in range(count):
        out[i] = _ngram(tokens, i, ngram)
    return count


@njit(cache=True, nogil=True)
def _signatures(buf, offsets, ngram, a, b, sig, exact):
    num_perm = a.shape[0]
    longest = 1
    for d in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[d + 1] - offsets[d])
    tokens = np.empty(longest + 1, np.uint64)
    shingles = np.empty(longest + 1, np.uint64)
    # uint32 minima: (a*x + b) >> 32 fits, and a 32-bit compare packs twice the lanes per vector.
    # Four shingles per pass over the permutations: a[k], b[k] and mins[k] are loaded once for four
    # products (the loop is bound by those loads, not by the multiplies, with one shingle per pass).
    mins = np.empty(num_perm, np.uint32)
    shift = np.uint64(32)
    for d in range(offsets.shape[0] - 1):
        count = _shingles(buf, offsets[d], offsets[d + 1], ngram, tokens, shingles, exact[d])
        mins[:] = EMPTY
        s = 0
        while s + 4 <= count:
            x0, x1, x2, x3 = shingles[s], shingles[s + 1], shingles[s + 2], shingles[s + 3]
            for k in range(num_perm):
                ak, bk = a[k], b[k]
                v = min(
                    min(np.uint32((ak * x0 + bk) >> shift), np.uint32((ak * x1 + bk) >> shift)),
                    min(np.uint32((ak * x2 + bk) >> shift), np.uint32((ak * x3 + bk) >> shift)),
                )
                mins[k] = min(mins[k], v)
            s += 4
        while s < count:
            x = shingles[s]
            for k in range(num_perm):
                mins[k] = min(mins[k], np.uint32((a[k] * x + b[k]) >> shift))
            s += 1
        sig[d, :] = mins


@njit(cache=True)
def _shingles_of(buf, ngram):
    tokens = np.empty(buf.shape[0] + 1, np.uint64)
    out = np.empty(buf.shape[0] + 1, np.uint64)
    exact = np.empty(2, np.uint64)
    n = _shingles(buf, 0, buf.shape[0], ngram, tokens, out, exact)
    return out[:n].copy()


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``(a, b)`` multiply-shift parameters for ``num_perm`` permutations (``a`` odd), from ``seed``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    a = rng.integers(0, 2**64, size=num_perm, dtype=np.uint64, endpoint=False) | np.uint64(1)
    b = rng.integers(0, 2**64, size=num_perm, dtype=np.uint64, endpoint=False)
    return a, b


def _utf8_buffer(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    arr = arr.cast(pa.large_string()).fill_null("")
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, np.int64, count=len(arr) + 1, offset=arr.offset * 8)
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None and data_buf.size else np.zeros(1, np.uint8)
    return data, offsets


def prepare(texts: pa.Array | Sequence[str]) -> pa.Array:
    """The kernel's input: NFKC (non-ASCII texts only; ASCII is already NFKC) and lower case. Nulls -> ''.

    Whitespace collapsing and ASCII case folding happen inside the kernel (a Python split/join would
    cost more than all the hashing)."""
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        texts = texts.to_pylist()
    values = [t if t is None else nfkc(t) for t in texts]
    try:
        arr = pa.array(values, pa.large_string())
    except UnicodeEncodeError:
        # A lone surrogate (bytes decoded with surrogateescape) has no UTF-8 form: hash it as "?", as
        # str.encode(errors="replace") writes it, instead of failing the whole batch.
        arr = pa.array([t if t is None else t.encode("utf-8", "replace").decode("utf-8") for t in values], pa.large_string())
    return pc.utf8_lower(arr.fill_null(""))


class MinHasher:
    """MinHash signatures and exact-duplicate keys of documents; picklable (only numbers), and the same
    on every machine for a given ``seed``."""

    def __init__(self, num_perm: int = 128, ngram: int = 5, seed: int = 42):
        if num_perm < 1 or ngram < 1:
            raise ValueError(f"num_perm and ngram must be positive, got {num_perm}, {ngram}")
        self.num_perm, self.ngram, self.seed = num_perm, ngram, seed
        self.a, self.b = permutations(num_perm, seed)

    def shingles(self, text: str) -> np.ndarray:
        """The uint64 shingle hashes of one document (in order, duplicates kept)."""
        norm = prepare([text])[0].as_py()
        return _shingles_of(np.frombuffer(norm.encode("utf-8", "surrogatepass"), np.uint8).copy(), self.ngram)

    def sketch(self, texts: pa.Array | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(signatures, exact)``: ``(n, num_perm)`` uint32 MinHash signatures and ``(n, 2)`` uint64
        hashes of the normalised text (equal exactly when the normalised texts are equal)."""
        data, offsets = _utf8_buffer(prepare(texts))
        n = len(offsets) - 1
        sig = np.empty((n, self.num_perm), np.uint32)
        exact = np.zeros((n, 2), np.uint64)
        if n:
            _signatures(data, offsets, self.ngram, self.a, self.b, sig, exact)
        return sig, exact

    def signatures(self, texts: pa.Array | Sequence[str]) -> np.ndarray:
        return self.sketch(texts)[0]

    def signature_of_shingles(self, shingles: np.ndarray) -> np.ndarray:
        """The signature of a given set of uint64 shingle hashes (for tests against other MinHash code)."""
        if len(shingles) == 0:
            return np.full(self.num_perm, EMPTY, np.uint32)
        x = np.asarray(shingles, np.uint64)[:, None]
        return ((self.a[None, :] * x + self.b[None, :]) >> np.uint64(32)).min(axis=0).astype(np.uint32)


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Share of equal positions: the MinHash estimate of Jaccard similarity (row-wise for 2-D input)."""
    return np.mean(np.asarray(sig_a) == np.asarray(sig_b), axis=-1)
