"""Word splitting shared by the quality rules: fast, language-aware, close to spaCy's English tokenizer.

The Gopher/FineWeb rules were defined over spaCy tokens (datatrove's ``split_into_words``); spaCy is
what makes datatrove slow (about 0.4 MB/s per core). :func:`split_words` is one compiled regular
expression that reproduces the token boundaries that matter for the rules:

* punctuation is split off words, one character per token, except ``...`` runs (spaCy keeps those);
* hyphens between letters split a word (``well-known`` -> ``well``, ``-``, ``known``);
* English clitics are their own tokens (``don't`` -> ``do``, ``n't``; ``John's`` -> ``John``, ``'s``);
* numbers keep their inner ``.``/``,``/``:`` (``3.14``, ``1,000``, ``10:30``), URLs and e-mail addresses
  stay whole; combining marks (Indic vowel signs, Arabic points) stay inside their word;
* scripts written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar) count one token
  per character here; the word rules of Chinese, Japanese and Thai documents take their words from a
  segmenter instead (:mod:`tailmine.filters.segment`), Lao, Khmer, Myanmar and Tibetan keep these.

The regular expression below is the readable definition (:func:`split_words_regex`); the rules run
:func:`token_spans`, a numba kernel over the text's code points that implements the same alternatives in
the same order (tests check both give the same tokens on real pages and books).
``benchmarks/filters.py`` measures how often the rule decisions built on it agree with datatrove's.
"""
from __future__ import annotations

import re

import numpy as np
from numba import njit

from tailmine.kernels import fmix64, fnv1a
from tailmine.textnorm import unspaced_class

# datatrove.utils.text.PUNCTUATION (the Gopher "symbol" characters) plus ASCII control characters.
PUNCTUATION = "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»" + "".join(
    chr(x) for a, b in ((0, 9), (11, 13), (13, 32), (127, 160)) for x in range(a, b)
)

# Scripts without spaces between words: one token per character.
NO_SPACE_SCRIPTS = unspaced_class()
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo"})

# spaCy's English tokenizer exceptions for contractions written without an apostrophe ("dont" ->
# "do", "nt"); their capitalised forms split the same way.
_CONTRACTIONS = (
    "aint=ai+nt arent=are+nt cannot=can+not cant=ca+nt cantve=ca+nt+ve couldnt=could+nt "
    "couldntve=could+nt+ve couldve=could+ve darent=dare+nt didnt=did+nt didntve=did+nt+ve doesnt=does+nt "
    "doesntve=does+nt+ve dont=do+nt dontve=do+nt+ve gonna=gon+na gotta=got+ta hadnt=had+nt "
    "hadntve=had+nt+ve hasnt=has+nt havent=have+nt hed=he+d hedve=he+d+ve hellve=he+ll+ve hes=he+s "
    "howd=how+d howdve=how+d+ve howll=how+ll howllve=how+ll+ve howre=how+re hows=how+s howve=how+ve "
    "id=i+d idve=i+d+ve illve=i+ll+ve im=i+m ima=i+m+a isnt=is+nt itd=it+d itdve=it+d+ve itll=it+ll "
    "itllve=it+ll+ve ive=i+ve maynt=may+nt mayntve=may+nt+ve mightnt=might+nt mightntve=might+nt+ve "
    "mightve=might+ve mustnt=must+nt mustntve=must+nt+ve mustve=must+ve neednt=need+nt "
    "needntve=need+nt+ve notve=not+ve oughtnt=ought+nt oughtntve=ought+nt+ve shant=sha+nt "
    "shantve=sha+nt+ve shedve=she+d+ve shellve=she+ll+ve shes=she+s shouldnt=should+nt "
    "shouldntve=should+nt+ve shouldve=should+ve thatd=that+d thatdve=that+d+ve thatll=that+ll "
    "thatllve=that+ll+ve thats=that+s thered=there+d theredve=there+d+ve therell=there+ll "
    "therellve=there+ll+ve therere=there+re theres=there+s thereve=there+ve thesed=these+d "
    "thesedve=these+d+ve thesell=these+ll thesellve=these+ll+ve thesere=these+re theseve=these+ve "
    "theyd=they+d theydve=they+d+ve theyll=they+ll theyllve=they+ll+ve theyre=they+re theyve=they+ve "
    "thisd=this+d thisdve=this+d+ve thisll=this+ll thisllve=this+ll+ve thiss=this+s thosed=those+d "
    "thosedve=those+d+ve thosell=those+ll thosellve=those+ll+ve thosere=those+re thoseve=those+ve "
    "wasnt=was+nt wed=we+d wedve=we+d+ve wellve=we+ll+ve werent=were+nt weve=we+ve whatd=what+d "
    "whatdve=what+d+ve whatll=what+ll whatllve=what+ll+ve whatre=what+re whats=what+s whatve=what+ve "
    "whend=when+d whendve=when+d+ve whenll=when+ll whenllve=when+ll+ve whenre=when+re whens=when+s "
    "whenve=when+ve whered=where+d wheredve=where+d+ve wherell=where+ll wherellve=where+ll+ve "
    "wherere=where+re wheres=where+s whereve=where+ve whod=who+d whodve=who+d+ve wholl=who+ll "
    "whollve=who+ll+ve whos=who+s whove=who+ve whyd=why+d whydve=why+d+ve whyll=why+ll whyllve=why+ll+ve "
    "whyre=why+re whys=why+s whyve=why+ve wont=wo+nt wontve=wo+nt+ve wouldnt=would+nt "
    "wouldntve=would+nt+ve wouldve=would+ve yall=y+all youd=you+d youdve=you+d+ve youll=you+ll "
    "youllve=you+ll+ve youre=you+re youve=you+ve "
)
# spaCy's English abbreviations that keep their final period (single letters are handled by a rule).
_ABBREVIATIONS = (
    "Adm. Ak. Ala. Apr. Ariz. Ark. Aug. Bros. Calif. Co. Colo. Conn. Corp. D.C. Dec. Del. Dr. E.G. E.g. "
    "Feb. Fla. Ga. Gen. Gov. I.E. I.e. Ia. Id. Ill. Inc. Ind. Jan. Jr. Jul. Jun. Kan. Kans. Ky. La. Ltd. "
    "Mar. Mass. Md. Messrs. Mich. Minn. Miss. Mo. Mont. Mr. Mrs. Ms. Mt. N.C. N.D. N.H. N.J. N.M. N.Y. "
    "Neb. Nebr. Nev. Nov. Oct. Okla. Ore. Pa. Ph.D. Prof. Rep. Rev. S.C. Sen. Sep. Sept. St. Tenn. Va. "
    "Wash. Wis. a.m. co. e.g. i.e. p.m. v.s. vs. "
)



def _combining_marks() -> str:
    """Character-class ranges of every combining mark (Unicode category M: Devanagari and other Indic
    vowel signs, Arabic and Hebrew points, Latin diacritics). Python's ``\\w`` leaves them out, so
    without them "की" would be two tokens, the second without a letter; spaCy keeps a word whole."""
    import unicodedata

    out, start, prev = [], None, None
    for c in list(range(0x300, 0x20000)) + list(range(0xE0100, 0xE01F0)):
        if unicodedata.category(chr(c))[0] == "M":
            if start is None:
                start = c
            elif c != prev + 1:
                out.append((start, prev))
                start = c
            prev = c
    out.append((start, prev))
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in out)


COMBINING_MARKS = _combining_marks()
_WORD = rf"(?:[^\W{NO_SPACE_SCRIPTS}]|[{COMBINING_MARKS}\u00ad\u200c\u200d])"  # a word character of a spaced script
_ABBREV_ALT = "|".join(re.escape(a) for a in sorted(_ABBREVIATIONS.split(), key=len, reverse=True))
_URL_EMAIL = r"""
      https?://[^\s<>"]+ | www\.[^\s<>"]+                      # URLs stay whole
    | [\w.+-]+@[\w-]+(?:\.[\w-]+)+                             # e-mail addresses stay whole
    | """
_TOKEN_BODY = rf"""
      [{NO_SPACE_SCRIPTS}]                                     # one character of a script without spaces
    | (?<!\w)(?:{_ABBREV_ALT}|(?:[^\W\d_]\.)+)(?!\w)           # Dr., e.g., U.S., single letters with a period
    | {_WORD}+?(?=n['’]t\b)                                    # "do" of "don't"
    | n['’]t\b                                                 # "n't"
    | ['’](?:s|re|ve|ll|d|m|S|RE|VE|LL|D|M)\b                  # English clitics
    | (?:(?<!\S)/|@)? {_WORD}+                                 # a word, with the joiners spaCy keeps:
      (?: (?:\.(?![A-Z])|(?<=\d)[.,/:](?=\d)|(?<=[^\W\d])-(?=\d)|(?<!\d)[+*]|[+*](?!\d)|::|['’](?!(?:s|re|ve|ll|d|m)\b)) {_WORD}+ )*
      (?:(?<=[A-Z])\.(?!\w)|-(?![\w-]))?                       # "USA." and "Vor-" keep their last character
    | \.\.\.+ | … | --+                                        # ellipses and dashes are one token
    | \):(?!\S)                                               # spaCy's emoticon "):" ends "(Stand: 2020):"
    | [^\w\s]                                                  # any other symbol, one per token
    """
_TOKEN = re.compile(_URL_EMAIL + _TOKEN_BODY, re.VERBOSE)
_TOKEN_PLAIN = re.compile(_TOKEN_BODY, re.VERBOSE)  # for text without '@', '://' or 'www.' (faster)
_SPLITS: dict[str, tuple[str, ...]] = {}
for _entry in _CONTRACTIONS.split():
    _word, _parts = _entry.split("=")
    _SPLITS[_word] = tuple(_parts.split("+"))
    _SPLITS[_word.capitalize()] = (_parts[0].upper() + _parts[1:]).split("+")


def split_words_regex(text: str) -> list[str]:
    """The tokens of ``text`` by the regular expression: the reference definition of :func:`split_words`."""
    pattern = _TOKEN if ("@" in text or "://" in text or "www." in text) else _TOKEN_PLAIN
    tokens = pattern.findall(text)
    if _SPLITS.keys().isdisjoint(tokens):
        return tokens
    splits = _SPLITS
    return [part for token in tokens for part in (splits.get(token) or (token,))]


# --- the compiled tokenizer -------------------------------------------------------------------------

F_W, F_S, F_NS, F_WORD, F_PUNCT, F_ALPHA, F_DIGIT, F_LETTER = 1, 2, 4, 8, 16, 32, 64, 128
"""Per-code-point flags: Python ``re`` \\w, \\s, script without spaces, _WORD, Gopher punctuation,
str.isalpha, ``re`` \\d, ``[^\\W\\d_]``."""
_TABLE: "np.ndarray | None" = None
_APOS = (0x27, 0x2019)


def char_table() -> np.ndarray:
    """Flags of every code point, computed once per process with Python's own ``re`` and ``str``
    (so the kernel's classes are exactly the regular expression's), ~0.3 s."""
    global _TABLE
    if _TABLE is not None:
        return _TABLE
    cps = np.arange(0x110000, dtype=np.uint32)
    cps[0xD800:0xE000] = 0x20  # lone surrogates cannot be decoded; fixed below
    s = cps.tobytes().decode("utf-32-le")

    def mask(pattern: str) -> np.ndarray:  # code points the character class matches (runs: fast)
        out = np.zeros(0x110000, dtype=np.bool_)
        for m in re.finditer(pattern + "+", s):
            out[m.start() : m.end()] = True
        out[0xD800:0xE000] = False
        return out

    w, sp, d = mask(r"\w"), mask(r"\s"), mask(r"\d")
    ns = mask(f"[{NO_SPACE_SCRIPTS}]")
    table = np.zeros(0x110000, dtype=np.uint8)
    table[w] |= F_W
    table[sp] |= F_S
    table[ns] |= F_NS
    word = w & ~ns
    word |= mask(f"[{COMBINING_MARKS}]")
    word[[0xAD, 0x200C, 0x200D]] = True  # soft hyphen, zero-width (non-)joiner: inside Persian words
    table[word] |= F_WORD
    table[np.frombuffer(PUNCTUATION.encode("utf-32-le"), dtype=np.uint32)] |= F_PUNCT
    table[d] |= F_DIGIT
    letter = w & ~d
    letter[ord("_")] = False
    table[letter] |= F_LETTER
    candidates = np.flatnonzero(letter).astype(np.uint32)  # str.isalpha() implies [^\W\d_]
    alpha = np.frombuffer(bytes(map(str.isalpha, candidates.tobytes().decode("utf-32-le"))), dtype=np.bool_)
    table[candidates[alpha]] |= F_ALPHA
    table[0xD800:0xE000] = 0  # lone surrogate: a symbol
    _TABLE = table
    return table


@njit(cache=True)
def token_hash(cp, s, e):
    """64-bit hash of the code points ``cp[s:e]`` (FNV-1a, then a murmur3 finaliser)."""
    return fmix64(fnv1a(cp, s, e))


@njit(cache=True, inline="always")
def _flag(F, cp, i, n, flag):
    return i < n and (F[cp[i]] & flag) != 0


@njit(cache=True, inline="always")
def _boundary_after(F, cp, q, n):
    """``\\b`` after a word character ending at q: q is the end or not \\w."""
    return q >= n or (F[cp[q]] & 1) == 0


@njit(cache=True)
def _clitic_in_case(F, cp, p, n, shift):
    """``(?:s|re|ve|ll|d|m)\\b`` at p, all lower case (shift 0) or all upper case (shift 32)."""
    if p >= n:
        return False
    c = cp[p] + shift
    if c == 115 or c == 100 or c == 109:  # s d m
        return _boundary_after(F, cp, p + 1, n)
    if p + 1 < n:
        c2 = cp[p + 1] + shift
        if (c == 114 and c2 == 101) or (c == 118 and c2 == 101) or (c == 108 and c2 == 108):  # re ve ll
            return _boundary_after(F, cp, p + 2, n)
    return False


@njit(cache=True)
def _clitic_any(F, cp, p, n):
    """``(?:s|re|ve|ll|d|m|S|RE|VE|LL|D|M)\\b`` at p (no mixed case: ``Re`` does not count)."""
    return _clitic_in_case(F, cp, p, n, 0) or _clitic_in_case(F, cp, p, n, 32)


@njit(cache=True)
def _url_email(F, cp, i, n):
    """End of ``https?://[^\\s<>"]+ | www\\.[^\\s<>"]+ | [\\w.+-]+@[\\w-]+(?:\\.[\\w-]+)+`` at i, or -1."""
    c = cp[i]
    p = -1
    if c == 104 and i + 7 <= n and cp[i + 1] == 116 and cp[i + 2] == 116 and cp[i + 3] == 112:  # http
        if cp[i + 4] == 58 and cp[i + 5] == 47 and cp[i + 6] == 47:
            p = i + 7
        elif i + 8 <= n and cp[i + 4] == 115 and cp[i + 5] == 58 and cp[i + 6] == 47 and cp[i + 7] == 47:
            p = i + 8
    if p < 0 and c == 119 and i + 4 <= n and cp[i + 1] == 119 and cp[i + 2] == 119 and cp[i + 3] == 46:  # www.
        p = i + 4
    if p >= 0:
        e = p
        while e < n and (F[cp[e]] & 2) == 0 and cp[e] != 60 and cp[e] != 62 and cp[e] != 34:
            e += 1
        if e > p:
            return e
    j = i
    while j < n and ((F[cp[j]] & 1) != 0 or cp[j] == 46 or cp[j] == 43 or cp[j] == 45):
        j += 1
    if j == i or j >= n or cp[j] != 64:
        return -1
    k = j + 1
    while k < n and ((F[cp[k]] & 1) != 0 or cp[k] == 45):
        k += 1
    if k == j + 1:
        return -1
    parts = 0
    while k + 1 < n and cp[k] == 46 and ((F[cp[k + 1]] & 1) != 0 or cp[k + 1] == 45):
        k += 1
        while k < n and ((F[cp[k]] & 1) != 0 or cp[k] == 45):
            k += 1
        parts += 1
    return k if parts else -1


@njit(cache=True)
def _abbreviation(F, cp, i, n, abbr, abbr_off):
    """End of ``(?<!\\w)(?:ABBREVIATION|(?:[^\\W\\d_]\\.)+)(?!\\w)`` at i (a letter), or -1."""
    if i > 0 and (F[cp[i - 1]] & 1) != 0:
        return -1
    r = i
    while r < n and (F[cp[r]] & 128) != 0:
        r += 1
    if r < n and cp[r] == 46:
        for a in range(len(abbr_off) - 1):
            s, t = abbr_off[a], abbr_off[a + 1]
            L = t - s
            if i + L > n:
                continue
            ok = True
            for q in range(L):
                if cp[i + q] != abbr[s + q]:
                    ok = False
                    break
            if ok and _boundary_after(F, cp, i + L, n):
                return i + L
    j = i
    while j + 1 < n and (F[cp[j]] & 128) != 0 and cp[j + 1] == 46:
        j += 2
    if j > i and _boundary_after(F, cp, j, n):
        return j
    return -1


@njit(cache=True)
def _word_end(F, cp, i, n):
    """End of the word alternative of the regular expression at i, or -1."""
    c = cp[i]
    j = i
    if c == 47 or c == 64:  # '/' after whitespace, or '@', then a word
        if c == 47 and i > 0 and (F[cp[i - 1]] & 2) == 0:
            return -1
        if not _flag(F, cp, i + 1, n, 8):
            return -1
        j = i + 1
    elif (F[c] & 8) == 0:
        return -1
    while j < n and (F[cp[j]] & 8) != 0:
        j += 1
    while j + 1 < n:
        d = cp[j]
        nx = cp[j + 1]
        prev_digit = (F[cp[j - 1]] & 64) != 0
        nx_digit = (F[nx] & 64) != 0
        nx_word = (F[nx] & 8) != 0
        skip = 1
        if d == 46:  # '.'
            ok = (nx_word and not (65 <= nx <= 90)) or (prev_digit and nx_digit)
        elif d == 44 or d == 47 or (d == 58 and prev_digit and nx_digit):  # ',' '/' ':' between digits (10:30)
            ok = prev_digit and nx_digit
        elif d == 45:  # '-'
            ok = (F[cp[j - 1]] & 1) != 0 and not prev_digit and nx_digit
        elif d == 43 or d == 42:  # '+' '*'
            ok = nx_word and not (prev_digit and nx_digit)
        elif d == 58:  # '::'
            ok = nx == 58 and _flag(F, cp, j + 2, n, 8)
            skip = 2
        elif d == 39 or d == 0x2019:  # apostrophe not before a clitic
            ok = nx_word and not _clitic_in_case(F, cp, j + 1, n, 0)
        else:
            ok = False
        if not ok:
            break
        j += skip
        while j < n and (F[cp[j]] & 8) != 0:
            j += 1
    if j < n:
        if cp[j] == 46 and 65 <= cp[j - 1] <= 90 and _boundary_after(F, cp, j + 1, n):
            j += 1
        elif cp[j] == 45 and not (j + 1 < n and ((F[cp[j + 1]] & 1) != 0 or cp[j + 1] == 45)):
            j += 1
    return j


@njit(cache=True)
def _token_end(F, cp, i, n, with_urls, abbr, abbr_off):
    """End of the token starting at i (not whitespace): the regular expression's alternatives in order."""
    c = cp[i]
    f = F[c]
    if with_urls:
        e = _url_email(F, cp, i, n)
        if e >= 0:
            return e
    if f & 4:
        return i + 1
    if f & 128:
        e = _abbreviation(F, cp, i, n, abbr, abbr_off)
        if e >= 0:
            return e
    if f & 8:  # "do" of "don't"
        r = i
        while r < n and (F[cp[r]] & 8) != 0:
            r += 1
        if r - i >= 2 and cp[r - 1] == 110 and r + 1 < n and (cp[r] == 39 or cp[r] == 0x2019) and cp[r + 1] == 116:
            if _boundary_after(F, cp, r + 2, n):
                return r - 1
    if c == 110 and i + 2 < n and (cp[i + 1] == 39 or cp[i + 1] == 0x2019) and cp[i + 2] == 116:
        if _boundary_after(F, cp, i + 3, n):
            return i + 3
    if (c == 39 or c == 0x2019) and _clitic_any(F, cp, i + 1, n):
        r = i + 2
        while r < n and (F[cp[r]] & 1) != 0:
            r += 1
        return r
    e = _word_end(F, cp, i, n)
    if e >= 0:
        return e
    if c == 41 and i + 1 < n and cp[i + 1] == 58 and (i + 2 >= n or (F[cp[i + 2]] & 2) != 0):  # '):'
        return i + 2
    if c == 46 and i + 2 < n and cp[i + 1] == 46 and cp[i + 2] == 46:
        e = i + 3
        while e < n and cp[e] == 46:
            e += 1
        return e
    if c == 45 and i + 1 < n and cp[i + 1] == 45:
        e = i + 2
        while e < n and cp[e] == 45:
            e += 1
        return e
    return i + 1  # '…' and any other symbol


@njit(cache=True)
def _spans(cp, F, with_urls, abbr, abbr_off, con_hash, con_parts):
    """Token start and end offsets of ``cp`` (code points), contractions split as spaCy does."""
    n = len(cp)
    starts = np.empty(n, dtype=np.int64)
    ends = np.empty(n, dtype=np.int64)
    k = 0
    i = 0
    while i < n:
        if (F[cp[i]] & 2) != 0:
            i += 1
            continue
        e = _token_end(F, cp, i, n, with_urls, abbr, abbr_off)
        L = e - i
        split = -1
        if 2 <= L <= 10:
            ascii_letters = True
            for q in range(i, e):
                c = cp[q] | 32
                if c < 97 or c > 122:
                    ascii_letters = False
                    break
            if ascii_letters:
                h = token_hash(cp, i, e)
                a = np.searchsorted(con_hash, h)
                if a < len(con_hash) and con_hash[a] == h:
                    split = a
        if split < 0:
            starts[k] = i
            ends[k] = e
            k += 1
        else:
            s = i
            for part in range(3):
                pl = con_parts[split, part]
                if pl == 0:
                    break
                starts[k] = s
                ends[k] = s + pl
                k += 1
                s += pl
        i = e
    return starts[:k], ends[:k]


_ABBR_CPS = [np.frombuffer(a.encode("utf-32-le"), dtype=np.uint32) for a in sorted(_ABBREVIATIONS.split(), key=len, reverse=True)]
ABBR = np.concatenate(_ABBR_CPS)
ABBR_OFF = np.concatenate([[0], np.cumsum([len(a) for a in _ABBR_CPS])]).astype(np.int64)


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _contraction_table():
    rows = sorted((int(token_hash(_codepoints(w), 0, len(w))), [len(p) for p in parts]) for w, parts in _SPLITS.items())
    hashes = np.array([h for h, _ in rows], dtype=np.uint64)
    parts = np.zeros((len(rows), 3), dtype=np.int64)
    for r, (_, lengths) in enumerate(rows):
        parts[r, : len(lengths)] = lengths
    return hashes, parts


CON_HASH, CON_PARTS = _contraction_table()


def needs_url_rule(text: str) -> bool:
    return "@" in text or "://" in text or "www." in text


def token_spans(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code points, token starts, token ends) of ``text``: the tokens of :func:`split_words_regex`."""
    cp = _codepoints(text)
    starts, ends = _spans(cp, char_table(), needs_url_rule(text), ABBR, ABBR_OFF, CON_HASH, CON_PARTS)
    return cp, starts, ends


def split_words(text: str) -> list[str]:
    """The tokens of ``text`` (words and punctuation), for the Gopher, C4 and FineWeb rules."""
    _, starts, ends = token_spans(text)
    return [text[s:e] for s, e in zip(starts.tolist(), ends.tolist())]
