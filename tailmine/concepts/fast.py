"""Compiled concept extraction: the n-gram extractor and concept hashing in one numba pass.

Why compiled: building every n-gram as a Python string, then hashing it with ``hashlib``, caps the
stage at ~1.4 MB/s per core (about 1,200 tokens and 550 distinct concepts per 5 KB document). Here a
batch of documents is normalised in Python (NFKC + casefold, C speed), turned into one ``uint32``
code-point array, and a numba kernel

1. tokenises it with a per-code-point class table that is *built from the same ``regex`` classes* as
   the reference extractors (:mod:`tailmine.concepts.lexicon`: ``TOKEN``, ``BREAK``, ``\\s``,
   ``str.isdigit``), so token and phrase boundaries are those of :func:`~tailmine.concepts.lexicon.phrases`;
2. emits the same n-grams as :meth:`NgramExtractor.extract` (stop words checked exactly), deduplicated
   per document;
3. hashes each distinct n-gram of a document with keyed BLAKE2b-64 over the UTF-8 of its concept
   string (``"w:" + tokens joined by spaces``): bit-identical to :func:`stable_hash64`, so concept ids
   and every sketch result are unchanged.

Concept strings are only built (again in numba, into an Arrow string array) for the concepts that
need one: distinct concepts of a shard in exact mode, sketch survivors in sketch mode.
"""
from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np
import pyarrow as pa
import regex
from numba import njit

from tailmine.concepts import lexicon
from tailmine.kernels import FNV_OFFSET, FNV_PRIME, fnv1a
from tailmine.kernels import fmix64 as _fmix

# class bits of a code point
WORD, CJK, PUNCT, SPACE, DASH, DIGIT, NEWLINE = 1, 2, 4, 8, 16, 32, 64

_IV = np.array(
    [
        0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
        0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
    ],
    dtype=np.uint64,
)
_SIGMA = np.array(
    [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
        [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
        [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
        [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
        [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
        [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
        [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
        [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
        [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    ],
    dtype=np.int64,
)


@njit(cache=True, inline="always")
def _rotr(x, n):
    return (x >> np.uint64(n)) | (x << np.uint64(64 - n))


@njit(cache=True, inline="always")
def _g(a, b, c, d, x, y):
    a = a + b + x
    d = _rotr(d ^ a, 32)
    c = c + d
    b = _rotr(b ^ c, 24)
    a = a + b + y
    d = _rotr(d ^ a, 16)
    c = c + d
    b = _rotr(b ^ c, 63)
    return a, b, c, d


@njit(cache=True)
def _compress(h, m, t, last, v, iv, sigma):
    """BLAKE2b compression of the 16-word block ``m`` into ``h`` (the state lives in locals)."""
    v0, v1, v2, v3, v4, v5, v6, v7 = h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
    v8, v9, v10, v11 = iv[0], iv[1], iv[2], iv[3]
    v12 = iv[4] ^ np.uint64(t)
    v13 = iv[5]
    v14 = ~iv[6] if last else iv[6]
    v15 = iv[7]
    for r in range(12):
        s = sigma[r]
        v0, v4, v8, v12 = _g(v0, v4, v8, v12, m[s[0]], m[s[1]])
        v1, v5, v9, v13 = _g(v1, v5, v9, v13, m[s[2]], m[s[3]])
        v2, v6, v10, v14 = _g(v2, v6, v10, v14, m[s[4]], m[s[5]])
        v3, v7, v11, v15 = _g(v3, v7, v11, v15, m[s[6]], m[s[7]])
        v0, v5, v10, v15 = _g(v0, v5, v10, v15, m[s[8]], m[s[9]])
        v1, v6, v11, v12 = _g(v1, v6, v11, v12, m[s[10]], m[s[11]])
        v2, v7, v8, v13 = _g(v2, v7, v8, v13, m[s[12]], m[s[13]])
        v3, v4, v9, v14 = _g(v3, v4, v9, v14, m[s[14]], m[s[15]])
    h[0] ^= v0 ^ v8
    h[1] ^= v1 ^ v9
    h[2] ^= v2 ^ v10
    h[3] ^= v3 ^ v11
    h[4] ^= v4 ^ v12
    h[5] ^= v5 ^ v13
    h[6] ^= v6 ^ v14
    h[7] ^= v7 ^ v15


def keyed_state(seed: int) -> np.ndarray:
    """BLAKE2b-64 state after the key block of ``stable_hash64``'s key (``seed`` as 8 LE bytes)."""
    h = _IV.copy()
    h[0] ^= np.uint64(0x01010000 ^ (8 << 8) ^ 8)
    block = np.zeros(16, np.uint64)
    block[0] = np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF)  # the 8 key bytes, little-endian, then zeros
    _compress(h, block, 128, False, np.zeros(16, np.uint64), _IV, _SIGMA)
    return h


@njit(cache=True)
def _blake_msg(state, buf, n, h, words, v, iv, sigma):
    """BLAKE2b-64 of ``buf[:n]`` (n >= 1) continuing from the keyed ``state``; ``words`` is a
    16-word scratch block."""
    for i in range(8):
        h[i] = state[i]
    pos = 0
    while True:
        take = min(n - pos, 128)
        for i in range(16):
            words[i] = 0
        for i in range(take):
            words[i >> 3] |= np.uint64(buf[pos + i]) << np.uint64((i & 7) * 8)
        pos += take
        if pos >= n:
            _compress(h, words, 128 + n, True, v, iv, sigma)
            return h[0]
        _compress(h, words, 128 + pos, False, v, iv, sigma)


@njit(cache=True)
def blake_many(state, data, offsets):
    """Keyed BLAKE2b-64 of each ``data[offsets[i]:offsets[i+1]]`` (for tests and entity strings)."""
    n = len(offsets) - 1
    out = np.empty(n, np.uint64)
    h = np.empty(8, np.uint64)
    v = np.empty(16, np.uint64)
    block = np.zeros(16, np.uint64)
    for i in range(n):
        a, b = offsets[i], offsets[i + 1]
        out[i] = _blake_msg(state, data[a:b], b - a, h, block, v, _IV, _SIGMA)
    return out


@njit(cache=True, inline="always")
def _put_utf8(buf, pos, cp):
    if cp < 0x80:
        buf[pos] = cp
        return pos + 1
    if cp < 0x800:
        buf[pos] = 0xC0 | (cp >> 6)
        buf[pos + 1] = 0x80 | (cp & 0x3F)
        return pos + 2
    if cp < 0x10000:
        buf[pos] = 0xE0 | (cp >> 12)
        buf[pos + 1] = 0x80 | ((cp >> 6) & 0x3F)
        buf[pos + 2] = 0x80 | (cp & 0x3F)
        return pos + 3
    buf[pos] = 0xF0 | (cp >> 18)
    buf[pos + 1] = 0x80 | ((cp >> 12) & 0x3F)
    buf[pos + 2] = 0x80 | ((cp >> 6) & 0x3F)
    buf[pos + 3] = 0x80 | (cp & 0x3F)
    return pos + 4


@njit(cache=True, inline="always")
def _concept_bytes(buf, cps, tok_s, tok_e, first, n):
    """UTF-8 of ``"w:" + " ".join(tokens[first:first+n])`` into ``buf``; returns its length."""
    buf[0] = 119  # w
    buf[1] = 58  # :
    pos = 2
    for k in range(n):
        if k:
            buf[pos] = 32
            pos += 1
        for j in range(tok_s[first + k], tok_e[first + k]):
            pos = _put_utf8(buf, pos, cps[j])
    return pos


@njit(cache=True)
def _is_stop(cps, s, e, h, stop_h, stop_cps, stop_len):
    i = np.searchsorted(stop_h, h)
    while i < len(stop_h) and stop_h[i] == h:
        if stop_len[i] == e - s:
            same = True
            for k in range(e - s):
                if stop_cps[i, k] != cps[s + k]:
                    same = False
                    break
            if same:
                return True
        i += 1
    return False


@njit(cache=True)
def _token_hash(cps, s, e):
    return _fmix(fnv1a(cps, s, e) ^ np.uint64(e - s))


@njit(cache=True)
def ngram_kernel(cps, doc_off, table, stop_h, stop_cps, stop_len, max_n, limit, state):
    """Tokens and per-document distinct n-gram concepts of a batch.

    Returns ``(tok_s, tok_e, hashes, first, size, doc_counts)``: token spans in ``cps``; for every
    emitted concept its BLAKE2b id, first token index and n; the number of concepts per document."""
    ndoc = len(doc_off) - 1
    # count the tokens first, so token arrays are sized by tokens, not characters
    cap_tok = 1
    max_doc_tok = 1
    for d in range(ndoc):
        in_doc = 0
        inside = False
        for i in range(doc_off[d], doc_off[d + 1]):
            c = table[cps[i]]
            if c & CJK:
                in_doc += 1
                inside = False
            elif c & WORD:
                if not inside:
                    in_doc += 1
                inside = True
            else:
                inside = False
        cap_tok += in_doc
        max_doc_tok = max(max_doc_tok, in_doc)
    tok_s = np.empty(cap_tok, np.int64)
    tok_e = np.empty(cap_tok, np.int64)
    tok_h = np.empty(cap_tok, np.uint64)
    tok_flag = np.empty(cap_tok, np.uint8)  # 1 bad (stop or overlong), 2 overlong, 4 unigram ok
    brk = np.empty(cap_tok, np.bool_)  # a phrase break precedes the token
    ntok = 0
    maxlen = 1
    doc_tok = np.empty(ndoc + 1, np.int64)
    for d in range(ndoc):
        doc_tok[d] = ntok
        i, end = doc_off[d], doc_off[d + 1]
        gap_break = True
        nl_open = False
        dash_state = 0
        while i < end:
            cp = cps[i]
            c = table[cp]
            if c & (WORD | CJK):
                s = i
                if c & CJK:
                    i += 1
                else:
                    while i < end and (table[cps[i]] & WORD):
                        i += 1
                digits = True
                for j in range(s, i):
                    if not (table[cps[j]] & DIGIT):
                        digits = False
                        break
                length = i - s
                if length > maxlen:
                    maxlen = length
                h = _token_hash(cps, s, i)
                flag = 0
                if length > limit:
                    flag = 3
                elif _is_stop(cps, s, i, h, stop_h, stop_cps, stop_len):
                    flag = 1
                if flag == 0 and not digits and (length > 1 or (c & CJK)):
                    flag |= 4
                tok_s[ntok] = s
                tok_e[ntok] = i
                tok_h[ntok] = h
                tok_flag[ntok] = flag
                brk[ntok] = gap_break
                ntok += 1
                gap_break = False
                nl_open = False
                dash_state = 0
                continue
            if c & PUNCT:
                gap_break = True
            if c & SPACE:
                if c & NEWLINE:
                    if nl_open:
                        gap_break = True
                    nl_open = True
                if dash_state == 2:
                    gap_break = True
                dash_state = 1
            else:
                nl_open = False
                if c & DASH:
                    if dash_state >= 1:
                        dash_state = 2
                else:
                    dash_state = 0
            i += 1
    doc_tok[ndoc] = ntok

    cap = ntok * max_n + 1
    out_h = np.empty(cap, np.uint64)
    out_first = np.empty(cap, np.int64)
    out_n = np.empty(cap, np.int8)
    doc_counts = np.zeros(ndoc, np.int64)
    nout = 0
    keys = np.empty(max_doc_tok * max_n + 1, np.uint64)  # one document's candidates
    kfirst = np.empty(max_doc_tok * max_n + 1, np.int64)
    kn = np.empty(max_doc_tok * max_n + 1, np.int8)
    mult = np.array([np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9),
                     np.uint64(0x27D4EB2F165667C5), np.uint64(0x85EBCA77C2B2AE63)])
    buf = np.zeros(8 + max_n * (4 * maxlen + 1), np.uint8)
    bh = np.empty(8, np.uint64)
    bv = np.empty(16, np.uint64)
    block = np.zeros(16, np.uint64)
    slots = 1024
    while slots < 2 * ntok and slots < (1 << 21):
        slots *= 2
    mask = np.uint64(slots - 1)
    cache_k = np.zeros(slots, np.uint64)
    cache_v = np.zeros(slots, np.uint64)
    cached = 0
    for d in range(ndoc):
        a, b = doc_tok[d], doc_tok[d + 1]
        nk = 0
        for t in range(a, b):
            f0 = tok_flag[t]
            if f0 & 4:
                keys[nk] = _fmix(tok_h[t] * mult[0] + np.uint64(1))
                kfirst[nk] = t
                kn[nk] = 1
                nk += 1
            if f0 & 1:
                continue
            # n-grams starting at t: no break inside, last token not bad
            key = tok_h[t] * mult[0]
            for n in range(2, max_n + 1):
                u = t + n - 1
                if u >= b or brk[u]:
                    break
                key = key + tok_h[u] * mult[n - 1]
                if n == 3 and (tok_flag[t + 1] & 2):
                    continue
                if tok_flag[u] & 1:
                    continue
                keys[nk] = _fmix(key + np.uint64(n))
                kfirst[nk] = t
                kn[nk] = n
                nk += 1
        if nk == 0:
            continue
        order = np.argsort(keys[:nk])
        prev = np.uint64(0)
        for r in range(nk):
            k = order[r]
            if r and keys[k] == prev:
                continue
            prev = keys[k]
            # the BLAKE2b id of a key already seen in this batch comes from the cache
            slot = np.int64(prev & mask)
            hit = False
            while cache_k[slot] != 0:
                if cache_k[slot] == prev:
                    hit = True
                    break
                slot = (slot + 1) & mask
            if hit:
                out_h[nout] = cache_v[slot]
            else:
                length = _concept_bytes(buf, cps, tok_s, tok_e, kfirst[k], kn[k])
                value = _blake_msg(state, buf, length, bh, block, bv, _IV, _SIGMA)
                out_h[nout] = value
                if prev != 0 and cached < (mask + 1) // 2:
                    cache_k[slot] = prev
                    cache_v[slot] = value
                    cached += 1
            out_first[nout] = kfirst[k]
            out_n[nout] = kn[k]
            nout += 1
            doc_counts[d] += 1
    return tok_s[:ntok].copy(), tok_e[:ntok].copy(), out_h[:nout].copy(), out_first[:nout].copy(), out_n[:nout].copy(), doc_counts


@njit(cache=True)
def ngram_strings(cps, tok_s, tok_e, first, size, limit):
    """UTF-8 bytes and int64 offsets of the concept strings of the selected n-grams."""
    total = 0
    for i in range(len(first)):
        total += 2 + size[i]
        for k in range(size[i]):
            total += 4 * (tok_e[first[i] + k] - tok_s[first[i] + k])
    data = np.empty(total, np.uint8)
    offsets = np.empty(len(first) + 1, np.int64)
    pos = 0
    for i in range(len(first)):
        offsets[i] = pos
        pos += _concept_bytes(data[pos:], cps, tok_s, tok_e, first[i], size[i])
    offsets[len(first)] = pos
    return data[:pos], offsets


@lru_cache(maxsize=1)
def char_table() -> np.ndarray:
    """Class bits of every code point for the n-gram kernel (bits WORD..NEWLINE of :func:`entity_table`)."""
    return (entity_table() & (UPPER - 1)).astype(np.uint8)


def _cached_table(build) -> np.ndarray:
    """``build()``, kept in ``__pycache__`` (like numba's cache) keyed by the Python, Unicode and
    ``regex`` versions, the lexicon and this file's tables' definition: building costs ~1 s per process."""
    import hashlib
    import inspect
    import os
    import unicodedata

    key = hashlib.sha256(
        "|".join((sys.version, unicodedata.unidata_version, regex.__version__, inspect.getsource(lexicon), inspect.getsource(_char_table_uncached), inspect.getsource(build))).encode()
    ).hexdigest()[:16]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__", f"concept-chars-{key}.npy")
    try:
        table = np.load(path)
        if table.shape == (sys.maxunicode + 1,) and table.dtype == np.uint16:
            return table
    except (OSError, ValueError):
        pass
    table = build()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp.npy"
        np.save(tmp, table)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only install rebuilds the table in every process
    return table


def _char_table_uncached() -> np.ndarray:
    """Class bits of every code point, computed with the ``regex`` classes of :mod:`tailmine.concepts.lexicon`."""
    table = np.zeros(sys.maxunicode + 1, np.uint8)
    # TOKEN = CJK char | run of word chars: its two classes. BREAK = phrase punctuation, blank lines, spaced dashes.
    _mark(
        table,
        (
            (lexicon.CJK_CHAR, CJK),
            (lexicon.WORD_CHAR, WORD),
            (regex.compile(lexicon.PHRASE_PUNCT, regex.V1), PUNCT),
            (regex.compile(r"\s", regex.V1), SPACE),
            (regex.compile(lexicon.DASH, regex.V1), DASH),
            (str.isdigit, DIGIT),
        ),
    )
    table[ord("\n")] |= NEWLINE
    return table


def _mark(table: np.ndarray, classes) -> None:
    """Set ``bit`` for every code point matched by each (compiled regex or str predicate, bit),
    64K code points at a time (a whole-range string would cost ~100 MB of peak memory)."""
    step = 1 << 16
    for lo in range(0, sys.maxunicode + 1, step):
        chunk = "".join(map(chr, range(lo, min(lo + step, sys.maxunicode + 1))))
        for test, bit in classes:
            if isinstance(test, regex.Pattern):
                idx = [m.start() for m in test.finditer(chunk)]
            else:
                idx = [i for i, ch in enumerate(chunk) if test(ch)]
            if idx:
                table[lo + np.asarray(idx, np.int64)] |= bit


class StopWords:
    """Stop words as sorted token hashes plus their code points (matches are checked exactly)."""

    def __init__(self, words):
        words = sorted(set(words))
        width = max([len(w) for w in words] + [1])
        cps = np.zeros((len(words), width), np.uint32)
        lens = np.zeros(len(words), np.int64)
        hashes = np.zeros(len(words), np.uint64)
        for i, w in enumerate(words):
            arr = np.frombuffer(w.encode("utf-32-le"), np.uint32)
            cps[i, : len(arr)] = arr
            lens[i] = len(arr)
            hashes[i] = _token_hash(arr, 0, len(arr))
        order = np.argsort(hashes, kind="stable")
        self.hashes, self.cps, self.lens = hashes[order], cps[order], lens[order]


def codepoints(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """One uint32 code-point array for a list of (normalised) strings, with int64 offsets."""
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum([len(t) for t in texts], out=offsets[1:])
    joined = "".join(texts)
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), np.uint32) if joined else np.zeros(0, np.uint32)
    return cps, offsets


def string_array(data: np.ndarray, offsets: np.ndarray) -> pa.Array:
    """An Arrow string array over UTF-8 ``data`` and int64 ``offsets`` (no per-string Python work)."""
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data)).cast(pa.string())


def hash_strings(strings, seed: int = 0) -> np.ndarray:
    """:func:`stable_hash64` of non-empty strings through the compiled BLAKE2b (same values)."""
    encoded = [x.encode("utf-8") for x in strings]
    if any(not e for e in encoded):
        raise ValueError("hash_strings hashes non-empty strings only")
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    data = np.frombuffer(b"".join(encoded), np.uint8) if encoded else np.zeros(0, np.uint8)
    return blake_many(keyed_state(seed), data, offsets)


# --- entity spans -----------------------------------------------------------------------------

# more class bits (the table is uint16)
UPPER, LETTER_MARK, SENT_END, PYSPACE = 128, 256, 512, 1024
_APOS = 0x2019  # ’


@lru_cache(maxsize=1)
def entity_table() -> np.ndarray:
    """Class bits of every code point for both kernels (uint16), cached on disk."""
    return _cached_table(_entity_table_uncached)


def _entity_table_uncached() -> np.ndarray:
    """:func:`_char_table_uncached` widened to uint16 with the classes of ``lexicon.SPAN`` and ``str.isspace``."""
    table = _char_table_uncached().astype(np.uint16)
    _mark(
        table,
        (
            (regex.compile(r"\p{Lu}", regex.V1), UPPER),
            (regex.compile(lexicon.CAP_TAIL, regex.V1), LETTER_MARK),
            (str.isspace, PYSPACE),
        ),
    )
    table[[ord(c) for c in lexicon.SENTENCE_END]] |= SENT_END
    return table


def connect_codes() -> np.ndarray:
    width = max(len(c) for c in lexicon.CONNECT_WORDS)
    out = np.zeros((len(lexicon.CONNECT_WORDS), width + 1), np.int64)  # column 0: length
    for i, c in enumerate(lexicon.CONNECT_WORDS):
        out[i, 0] = len(c)
        out[i, 1 : len(c) + 1] = [ord(x) for x in c]
    return out


@njit(cache=True, inline="always")
def _lower(cp):
    return cp + 32 if 65 <= cp <= 90 else cp


@njit(cache=True)
def _is_stop_lower(cps, s, e, stop_h, stop_cps, stop_len):
    h = FNV_OFFSET
    for j in range(s, e):
        h = (h ^ np.uint64(_lower(cps[j]))) * FNV_PRIME
    h = _fmix(h ^ np.uint64(e - s))
    i = np.searchsorted(stop_h, h)
    while i < len(stop_h) and stop_h[i] == h:
        if stop_len[i] == e - s:
            same = True
            for k in range(e - s):
                if stop_cps[i, k] != _lower(cps[s + k]):
                    same = False
                    break
            if same:
                return True
        i += 1
    return False


@njit(cache=True, inline="always")
def _is_connector(cps, s, e, connect):
    for i in range(connect.shape[0]):
        if connect[i, 0] == e - s:
            same = True
            for k in range(e - s):
                if connect[i, 1 + k] != cps[s + k]:
                    same = False
                    break
            if same:
                return True
    return False


@njit(cache=True, inline="always")
def _entity_bytes(buf, cps, s, e):
    """UTF-8 of ``"e:" + lower-cased words of cps[s:e] joined by single spaces`` (simple spans only)."""
    buf[0] = 101  # e
    buf[1] = 58
    pos = 2
    space = False
    for j in range(s, e):
        cp = cps[j]
        if cp == 32 or cp == 9:
            space = True
            continue
        if space:
            buf[pos] = 32
            pos += 1
            space = False
        pos = _put_utf8(buf, pos, _lower(cp))
    return pos


@njit(cache=True)
def entity_kernel(cps, doc_off, table, stop_h, stop_cps, stop_len, connect, max_words, state):
    """The spans of ``lexicon.SPAN`` (leftmost, non-overlapping, as ``finditer``) and the rules of
    :meth:`EntitySpanExtractor.extract` for spans made of ASCII letters and ’ only; any other span
    goes back to Python as ``(doc, start, end)`` in ``slow``.

    Returns ``(hashes, span_s, span_e, doc_counts, slow)``: per emitted concept its BLAKE2b id and
    the code-point span of its kept words."""
    ndoc = len(doc_off) - 1
    cap = 1  # a match starts at an upper-case letter: their number bounds the matches
    longest = 1
    for d in range(ndoc):
        longest = max(longest, doc_off[d + 1] - doc_off[d])
    for i in range(len(cps)):
        if table[cps[i]] & UPPER:
            cap += 1
    out_h = np.empty(cap, np.uint64)
    out_s = np.empty(cap, np.int64)
    out_e = np.empty(cap, np.int64)
    doc_counts = np.zeros(ndoc, np.int64)
    slow = np.empty((cap, 3), np.int64)
    nslow = 0
    nout = 0
    ws = np.empty(longest // 2 + 2, np.int64)  # word starts / ends of the current match
    we = np.empty(longest // 2 + 2, np.int64)
    buf = np.zeros(16, np.uint8)
    bh = np.empty(8, np.uint64)
    bv = np.empty(16, np.uint64)
    block = np.zeros(16, np.uint64)
    for d in range(ndoc):
        lo, n = doc_off[d], doc_off[d + 1]
        i = lo
        while i < n:
            if not (table[cps[i]] & UPPER):
                i += 1
                continue
            start = i
            nw = 0
            j = i + 1
            while j < n and (table[cps[j]] & LETTER_MARK):
                j += 1
            ws[nw] = i
            we[nw] = j
            nw += 1
            end = j
            while True:  # (?:[ \t]+(?:CONNECT[ \t]+)*CAP)*
                k = end
                while k < n and (cps[k] == 32 or cps[k] == 9):
                    k += 1
                if k == end:
                    break
                nconn = 0
                while True:
                    m = k
                    while m < n and not (cps[m] == 32 or cps[m] == 9) and m - k <= 3:
                        m += 1
                    if m < n and m > k and (cps[m] == 32 or cps[m] == 9) and _is_connector(cps, k, m, connect):
                        ws[nw + nconn] = k
                        we[nw + nconn] = m
                        nconn += 1
                        while m < n and (cps[m] == 32 or cps[m] == 9):
                            m += 1
                        k = m
                    else:
                        break
                if k < n and (table[cps[k]] & UPPER):
                    j = k + 1
                    while j < n and (table[cps[j]] & LETTER_MARK):
                        j += 1
                    nw += nconn
                    ws[nw] = k
                    we[nw] = j
                    nw += 1
                    end = j
                else:
                    break
            i = end
            simple = True
            for j in range(start, end):
                cp = cps[j]
                if cp >= 128 and cp != _APOS:
                    simple = False
                    break
            if not simple:
                slow[nslow, 0] = d
                slow[nslow, 1] = start
                slow[nslow, 2] = end
                nslow += 1
                continue
            # possessive: strip ’s then 's from the last word
            last = nw - 1
            if we[last] - ws[last] >= 2 and cps[we[last] - 1] == 115 and cps[we[last] - 2] == _APOS:
                we[last] -= 2
            if we[last] - ws[last] >= 2 and cps[we[last] - 1] == 115 and cps[we[last] - 2] == 39:
                we[last] -= 2
            # start of sentence: the 40 characters before the span
            b0 = max(lo, start - 40)
            p = start - 1
            while p >= b0 and (table[cps[p]] & PYSPACE):
                p -= 1
            if p < b0:
                sentence = True
            elif table[cps[p]] & SENT_END:
                sentence = True
            else:
                sentence = False
                q = p + 1
                seen_nl = False
                while q < start:
                    if cps[q] == 10:
                        if seen_nl:
                            sentence = True
                            break
                        seen_nl = True
                    elif cps[q] != 13:
                        seen_nl = False
                    q += 1
            if nw > 1:
                shouting = True
                for w in range(nw):
                    cased = False
                    for j in range(ws[w], we[w]):
                        cp = cps[j]
                        if 97 <= cp <= 122:
                            shouting = False
                            break
                        if 65 <= cp <= 90:
                            cased = True
                    if not cased:
                        shouting = False
                    if not shouting:
                        break
                if shouting:
                    continue
            a, b = 0, nw
            while a < b and _is_stop_lower(cps, ws[a], we[a], stop_h, stop_cps, stop_len):
                a += 1
                sentence = False
            while a < b and _is_stop_lower(cps, ws[b - 1], we[b - 1], stop_h, stop_cps, stop_len):
                b -= 1
            if a == b or b - a > max_words:
                continue
            if b - a == 1 and (sentence or we[a] - ws[a] < 2):
                continue
            s, e = ws[a], we[b - 1]
            need = 2 + 3 * (e - s)
            if need > len(buf):
                buf = np.zeros(2 * need, np.uint8)
            length = _entity_bytes(buf, cps, s, e)
            out_h[nout] = _blake_msg(state, buf, length, bh, block, bv, _IV, _SIGMA)
            out_s[nout] = s
            out_e[nout] = e
            nout += 1
            doc_counts[d] += 1
    return out_h[:nout].copy(), out_s[:nout].copy(), out_e[:nout].copy(), doc_counts, slow[:nslow].copy()


@njit(cache=True)
def entity_strings(cps, span_s, span_e):
    total = 0
    for i in range(len(span_s)):
        total += 2 + 3 * (span_e[i] - span_s[i])
    data = np.empty(total, np.uint8)
    offsets = np.empty(len(span_s) + 1, np.int64)
    pos = 0
    for i in range(len(span_s)):
        offsets[i] = pos
        pos += _entity_bytes(data[pos:], cps, span_s[i], span_e[i])
    offsets[len(span_s)] = pos
    return data[:pos], offsets


@njit(cache=True)
def group_by_document(hashes, doc, source, ndoc):
    """Each document's distinct ids, sorted (a counting sort by document, then a sort per document):
    returns ``(hashes, offsets, source)``; of two equal ids in a document the first source is kept."""
    counts = np.zeros(ndoc + 1, np.int64)
    for i in range(len(doc)):
        counts[doc[i] + 1] += 1
    for d in range(ndoc):
        counts[d + 1] += counts[d]
    fill = counts[:-1].copy()
    h = np.empty(len(hashes), np.uint64)
    src = np.empty(len(hashes), np.int64)
    for i in range(len(doc)):
        j = fill[doc[i]]
        h[j] = hashes[i]
        src[j] = source[i]
        fill[doc[i]] += 1
    out_h = np.empty(len(hashes), np.uint64)
    out_src = np.empty(len(hashes), np.int64)
    offsets = np.zeros(ndoc + 1, np.int64)
    n = 0
    for d in range(ndoc):
        a, b = counts[d], counts[d + 1]
        order = np.argsort(h[a:b], kind="mergesort")
        for r in range(b - a):
            k = a + order[r]
            if r and h[k] == out_h[n - 1]:
                continue
            out_h[n] = h[k]
            out_src[n] = src[k]
            n += 1
        offsets[d + 1] = n
    return out_h[:n].copy(), offsets, out_src[:n].copy()
