"""Decontamination: find evaluation items inside training documents by word n-gram overlap.

Normalisation (both sides): NFKC, lowercase, words are runs of letters/digits (inner apostrophes and
hyphens deleted, so ``don't`` == ``dont``), punctuation and whitespace ignored. An eval item of ``L``
words is indexed by its ``k``-grams with ``k = min(n, max(min_ngram, ceil(L / 2)))`` (13 by default,
after GPT-3), so short items (MMLU options, NQ questions) still have several n-grams and one edited word
does not hide them. A document is contaminated by an item when the item's words covered by matching
n-grams reach ``min_overlap`` of the item (PaLM uses 70% of 8-grams; we default to 0.3 of covered words,
measured for recall and false positives in tests/test_decontam.py). Items shorter than ``min_item_words``
are skipped and counted.

Matching is exact on word ids: words outside the eval vocabulary break n-grams, n-grams are 64-bit
linear hashes of word ids compared with ``np.searchsorted`` against sorted index arrays, one per ``k``.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Iterable, Optional

import numpy as np

from tailmine.errors import ConfigError, InputError

_WORD = re.compile(r"\w+(?:['’\-]\w+)*")
_JOINERS = str.maketrans("", "", "'’-_")
_MULT = np.random.default_rng(13).integers(1, 1 << 63, size=64, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def normalize_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Normalised words of ``text`` and their character spans in ``text``."""
    words, spans = [], []
    for m in _WORD.finditer(text):
        w = m.group(0)
        if not w.isascii():
            w = unicodedata.normalize("NFKC", w)
        w = w.lower().translate(_JOINERS)
        if w:
            words.append(w)
            spans.append(m.span())
    return words, spans


_STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves""".split()
)
"""English function words: seeds made only of these are not indexed (they match everywhere)."""


ACTIONS = ("auto", "drop", "excise")


@dataclass(frozen=True)
class DecontamConfig:
    eval: tuple[str, ...] = ()
    """Evaluation files (JSONL, JSON, Parquet, CSV or text; gzip/zstd; .tar.gz/.zip archives of them; files,
    globs or folders, where README/LICENSE-like and other non-eval files are skipped with a note). The
    ``decontaminate`` command takes them from ``--eval``; a pipeline config lists them here."""
    ngram: int = 13
    """Matched words that mark a long item found (GPT-3's 13-gram unit), unless ``min_overlap`` asks for more."""
    min_ngram: int = 8
    """Shortest matched span (words) that counts towards an item's coverage."""
    min_item_words: int = 8
    """Items with fewer normalised words are not indexed (too generic to attribute), and counted."""
    min_overlap: float = 0.3
    """Fraction of an item's words that matched spans must cover on long items."""
    short_match: float = 0.8
    """Short items (where ``ngram`` words would be most of them) need this fraction of their words matched."""
    min_identity: float = 0.75
    """A matched span's word alignment: matches / (matches + substitutions + insertions + deletions)."""
    seed: int = 3
    """Seed n-gram size of the candidate search (permissive; every candidate is verified by alignment)."""
    seed_slack: int = 3
    """Candidates need seeds covering at least (matched words needed - seed_slack) item words."""
    max_seed_items: int = 50
    """Seeds shared by more eval items than this are not indexed (they only cost time)."""
    action: str = "auto"
    """'auto': excise the matching spans from documents of at least ``excise_min_words`` words and drop
    shorter ones (where the item is a large part of the document); 'drop' every contaminated document
    (reason 'contaminated'); 'excise' the spans from every one (a document left with no words is dropped)."""
    excise_min_words: int = 2000
    """With action 'auto': documents of at least this many words lose only the matching spans."""
    eval_fields: tuple[str, ...] = ("question", "prompt", "input", "text", "problem")
    """JSONL/JSON/Parquet/CSV: fields holding the item text; the first present is used."""
    id_fields: tuple[str, ...] = ("id", "task_id")
    """Fields holding an item id; the item index is used when none is present."""

    def __post_init__(self):
        if isinstance(self.eval, str):
            object.__setattr__(self, "eval", (self.eval,))
        object.__setattr__(self, "eval", tuple(self.eval))
        object.__setattr__(self, "eval_fields", tuple(self.eval_fields))
        object.__setattr__(self, "id_fields", tuple(self.id_fields))
        if not 1 <= self.min_ngram <= self.ngram:
            raise ConfigError(f"ngram/min_ngram: need 1 <= min_ngram <= ngram, got {self.min_ngram}, {self.ngram}")
        if not 1 <= self.seed <= 16:
            raise ConfigError(f"seed: must lie in 1..16, got {self.seed}")
        if self.min_item_words < self.seed:
            raise ConfigError(f"min_item_words: must be at least seed ({self.seed}), got {self.min_item_words}")
        for name in ("min_overlap", "short_match", "min_identity"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ConfigError(f"{name}: must lie in (0, 1], got {value}")
        if self.max_seed_items < 1:
            raise ConfigError(f"max_seed_items: must be at least 1, got {self.max_seed_items}")
        if self.action not in ACTIONS:
            raise ConfigError(f"action: {self.action!r} is not one of {', '.join(ACTIONS)}")
        if isinstance(self.excise_min_words, bool) or not isinstance(self.excise_min_words, int) or self.excise_min_words < 1:
            raise ConfigError(f"excise_min_words: must be a positive integer, got {self.excise_min_words!r}")
        if not all(isinstance(f, str) and f for f in self.eval):
            raise ConfigError(f"eval: expected a list of file paths, got {list(self.eval)!r}")
        if not self.eval_fields or not all(isinstance(f, str) and f for f in self.eval_fields):
            raise ConfigError("eval_fields: needs at least one field name")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def required(self, length: int) -> int:
        """Matched words that mark an item of ``length`` words found."""
        return min(math.ceil(self.short_match * length - 1e-9), max(self.ngram, math.ceil(self.min_overlap * length - 1e-9)))


@dataclass(frozen=True)
class EvalItem:
    eval_file: str
    """The file the item came from; ``ARCHIVE::MEMBER`` for a file inside an archive."""
    index: int
    item_id: str
    text: str
    eval_set: str = ""
    """The eval set it is counted under (the input file or archive); defaults to ``eval_file``."""

    def __post_init__(self):
        if not self.eval_set:
            object.__setattr__(self, "eval_set", self.eval_file)


EVAL_FORMATS = (".jsonl", ".ndjson", ".json", ".csv", ".parquet", ".txt")
"""Eval file formats read (each also gzip- or zstd-compressed); anything else is never read as text."""
ARCHIVE_FORMATS = (".tar.gz", ".tgz", ".tar.zst", ".tar", ".zip")
"""Archives of eval files (MMLU ships CSVs in a .tar.gz, BBH JSON files): each member is an eval file."""
_COMPRESSIONS = (".gz", ".zst", ".zstd")
_NOT_EVAL = re.compile(r"^(readme|license|licence|copying|notice|authors|changelog|changes|contributing|citation)([._-].*)?$", re.I)


def eval_format(name: str) -> Optional[str]:
    """The eval format of a file name (``.csv`` for ``x.csv.gz``), or None when it is not one."""
    name = name.lower()
    for suffix in _COMPRESSIONS:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return next((f for f in EVAL_FORMATS if name.endswith(f)), None)


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_FORMATS)


def skip_reason(name: str) -> Optional[str]:
    """Why a file met inside a folder or an archive is not read as an eval file (None: read it)."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    if base.startswith((".", "_")):
        return "hidden"
    if _NOT_EVAL.match(base):
        return "documentation, not eval items"
    if eval_format(base) is None and not is_archive(base):
        return f"not an eval format ({', '.join(EVAL_FORMATS)}, optionally .gz/.zst, or an archive)"
    return None


def _decompress(data: bytes) -> bytes:
    from tailmine.fileio import sniff_compression

    kind = sniff_compression(data[:4])
    if kind == "gzip":
        import gzip

        return gzip.decompress(data)
    if kind is not None:
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def parse_eval_records(data: bytes, fmt: str, where: str) -> list:
    """Records of one eval file's (decompressed) bytes: JSONL, JSON (a list, or BBH's {"examples": [...]}),
    Parquet, CSV, or text (one item a line)."""
    if fmt == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.read_table(pa.BufferReader(data)).to_pylist()
        except Exception as exc:
            raise InputError(f"{where}: not a readable Parquet file: {exc}") from None
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: not UTF-8 text: {exc}") from None
    if fmt in (".jsonl", ".ndjson"):
        records = []
        for n, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError as exc:
                    raise InputError(f"{where}: line {n}: not JSON: {exc}") from None
        return records
    if fmt == ".json":
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise InputError(f"{where}: not JSON: {exc}") from None
        return data.get("examples", data) if isinstance(data, dict) else data
    if fmt == ".csv":
        return list(csv.DictReader(io.StringIO(raw)))
    return [{"text": line} for line in raw.splitlines() if line.strip()]


def eval_items(records: list, eval_file: str, cfg: "DecontamConfig", eval_set: str = "") -> list[EvalItem]:
    items = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise InputError(f"{eval_file}: record {i} is not an object")
        text = next((rec[f] for f in cfg.eval_fields if isinstance(rec.get(f), str)), None)
        if text is None:
            raise InputError(f"{eval_file}: record {i} has none of the eval fields {', '.join(cfg.eval_fields)} (set --eval-field)")
        item_id = next((str(rec[f]) for f in cfg.id_fields if rec.get(f) is not None), str(i))
        items.append(EvalItem(eval_file, i, item_id, text, eval_set))
    return items


def read_eval_items(path: str, cfg: "DecontamConfig", notes: Optional[list[str]] = None) -> list[EvalItem]:
    """Items of one eval file, or of every eval file inside an archive (``.tar.gz``, ``.zip``...).

    A file whose format is not an eval format is an error naming it (it is never read as text); inside an
    archive such members, and README/LICENSE-like ones, are skipped with a line in ``notes``.
    """
    from tailmine.fileio import open_input

    if is_archive(path):
        return read_eval_archive(path, cfg, notes)
    fmt = eval_format(path)
    if fmt is None:
        raise InputError(f"{path}: not an eval file format ({', '.join(EVAL_FORMATS)}, optionally .gz/.zst, "
                         f"or an archive {', '.join(ARCHIVE_FORMATS)})")
    try:
        with open_input(path) as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: unreadable: {exc}") from None
    return eval_items(parse_eval_records(data, fmt, path), path, cfg)


def _archive_members(path: str, data: bytes):
    """(name, read()) of every regular file in the archive, sorted by name."""
    import tarfile
    import zipfile

    if path.lower().endswith(".zip"):
        archive = zipfile.ZipFile(io.BytesIO(data))
        return [(info.filename, lambda info=info: archive.read(info)) for info in sorted(archive.infolist(), key=lambda i: i.filename) if not info.is_dir()]
    if path.lower().endswith(".tar.zst"):
        data = _decompress(data)
    archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    members = []
    while True:  # member by member, so a cut names the last member read
        try:
            info = archive.next()
        except (tarfile.TarError, EOFError, OSError) as exc:
            # tar skips a member's data on the way to the next header: the cut lies in the last member listed
            where = f"member {members[-1][0]} or the header after it" if members else "its first member"
            raise InputError(f"{path}: {where}: unreadable archive: {exc}") from None
        if info is None:
            break
        if info.isfile():
            members.append((info.name, lambda info=info: archive.extractfile(info).read()))
    return sorted(members, key=lambda m: m[0])


def read_eval_archive(path: str, cfg: "DecontamConfig", notes: Optional[list[str]] = None) -> list[EvalItem]:
    import tarfile
    import zipfile
    import zlib

    from tailmine.fileio import open_raw

    try:
        with open_raw(path) as handle:
            data = handle.read()
        members = _archive_members(path, data)
    except InputError:
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error, ValueError) as exc:
        raise InputError(f"{path}: not a readable archive: {exc}") from None
    items: list[EvalItem] = []
    for name, read in members:
        where = f"{path}::{name}"
        reason = skip_reason(name) or ("an archive inside an archive" if is_archive(name) else None)
        if reason:
            if notes is not None:
                notes.append(f"{where}: skipped: {reason}")
            continue
        try:
            raw = _decompress(read())
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error, ValueError, RuntimeError) as exc:
            raise InputError(f"{path}: member {name}: unreadable: {exc}") from None
        items += eval_items(parse_eval_records(raw, eval_format(name), where), where, cfg, eval_set=path)
    return items


@dataclass
class Match:
    item: int  # position in EvalIndex.items
    overlap: float  # fraction of the item's words matched
    spans: list[tuple[int, int]] = field(default_factory=list)  # document word ranges [start, end) of the matched spans


_MATCH, _MISMATCH, _GAP = 2, 1, 1  # local alignment scores (Smith-Waterman on word ids); identity is checked after


def _splitmix(ids: np.ndarray) -> np.ndarray:
    """word id -> a stable pseudo-random 64-bit value."""
    z = ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _ngram_hashes(values: np.ndarray, k: int) -> np.ndarray:
    m = len(values) - k + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64)
    h = np.zeros(m, dtype=np.uint64)
    for j in range(k):
        h += values[j : j + m] * _MULT[j]
    return h


def align(item: np.ndarray, window: np.ndarray) -> tuple[int, int, list[int], int, int]:
    """Best local alignment (Smith-Waterman, match +1, substitution -1, gap -1) of ``item`` and ``window``.

    Returns (matches, edits, matched item positions, window start, window end) of the aligned region.
    Rows are computed with NumPy: the in-row gap recurrence is a running maximum.
    """
    n, w = len(item), len(window)
    cols = np.arange(w + 1, dtype=np.int64) * _GAP
    scores = np.zeros((n + 1, w + 1), dtype=np.int64)
    equal = item[:, None] == window[None, :]
    sub = np.where(equal, _MATCH, -_MISMATCH)
    prev = scores[0]
    for i in range(1, n + 1):
        best = np.maximum(prev[:-1] + sub[i - 1], prev[1:] - _GAP)
        np.maximum(best, 0, out=best)
        row = np.empty(w + 1, dtype=np.int64)
        row[0] = 0
        row[1:] = best
        row = np.maximum.accumulate(row + cols) - cols
        scores[i] = row
        prev = row
    i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
    end = int(j)
    matched: list[int] = []
    edits = 0
    while i > 0 and j > 0 and scores[i, j] > 0:
        s = scores[i, j]
        if s == scores[i - 1, j - 1] + sub[i - 1, j - 1]:
            if equal[i - 1, j - 1]:
                matched.append(int(i) - 1)
            else:
                edits += 1
            i, j = i - 1, j - 1
        elif s == scores[i - 1, j] - _GAP:
            edits += 1
            i -= 1
        else:
            edits += 1
            j -= 1
    matched.reverse()
    return len(matched), edits, matched, int(j), end


class EvalIndex:
    """Eval items as word-id arrays plus an index of their seed n-grams; built once on the driver and
    shipped (pickled) to workers.

    Matching a document is two steps. (1) Candidates: the document's seed n-grams (``seed`` words,
    default 3) are looked up in the index; hits of one item whose offsets (document position minus item
    position) agree within a band are a candidate region. This step is permissive on purpose: a 5% word
    edit rate leaves most 3-grams intact, while it breaks ``1 - 0.95**13`` = 49% of 13-grams. (2)
    Verification: each candidate region is aligned word by word with the item (Smith-Waterman); an
    aligned span with at least ``min_ngram`` matched words (fewer for short items) and word identity of at
    least ``min_identity`` covers the item words it matched. The item is found when covered words reach
    :meth:`DecontamConfig.required` (``short_match`` of a short item, ``max(ngram, min_overlap * L)``
    otherwise). The alignment is what keeps false positives out: shared seeds are common, an in-order
    near-copy of eight or more item words is not.
    """

    def __init__(self, items: list[EvalItem], cfg: DecontamConfig):
        self.cfg = cfg
        self.items = items
        self.item_words: list[int] = []
        self.item_ids: list[Optional[np.ndarray]] = []
        self.skipped: dict[str, int] = {}
        self.vocab: dict[str, int] = {}
        self.twins: dict[int, list[int]] = {}  # first item -> every item with the same normalised words
        self._canonical: dict[tuple, int] = {}
        stop_ids: set[int] = set()
        hashes, post_item, post_pos = [], [], []
        for idx, item in enumerate(items):
            words, _ = normalize_words(item.text)
            self.item_words.append(len(words))
            if len(words) < cfg.min_item_words:
                self.skipped[item.eval_set] = self.skipped.get(item.eval_set, 0) + 1
                self.item_ids.append(None)
                continue
            key = tuple(words)
            first_seen = self._canonical.setdefault(key, idx)
            if first_seen != idx:  # same words as an earlier item (e.g. BBH items that differ in brackets only)
                self.item_ids.append(self.item_ids[first_seen])
                self.twins.setdefault(first_seen, [first_seen]).append(idx)
                continue
            ids = []
            for w in words:
                wid = self.vocab.get(w)
                if wid is None:
                    wid = self.vocab[w] = len(self.vocab)
                    if w in _STOP_WORDS:
                        stop_ids.add(wid)
                ids.append(wid)
            arr = np.array(ids, dtype=np.int64)
            self.item_ids.append(arr)
            h = _ngram_hashes(_splitmix(arr), cfg.seed)
            stop = np.isin(arr, np.fromiter(stop_ids, dtype=np.int64, count=len(stop_ids)))
            content = np.convolve(~stop, np.ones(cfg.seed, dtype=int), mode="valid") > 0  # not all stop words
            keep = np.flatnonzero(content)
            h, first = np.unique(h[keep], return_index=True)  # a seed counts once per item
            hashes.append(h)
            post_item.append(np.full(len(h), idx, dtype=np.int32))
            post_pos.append(keep[first].astype(np.int32))
        if hashes:
            h = np.concatenate(hashes)
            it = np.concatenate(post_item)
            ps = np.concatenate(post_pos)
        else:
            h, it, ps = np.zeros(0, np.uint64), np.zeros(0, np.int32), np.zeros(0, np.int32)
        order = np.lexsort((ps, it, h))
        h, it, ps = h[order], it[order], ps[order]
        uniq, start, counts = np.unique(h, return_index=True, return_counts=True)
        common = counts > cfg.max_seed_items
        self.common_seeds = int(common.sum())
        keep_rows = np.repeat(~common, counts)
        self.seed_hashes = uniq[~common]
        self.post_item, self.post_pos = it[keep_rows], ps[keep_rows]
        self.offsets = np.concatenate([[0], np.cumsum(counts[~common])]).astype(np.int64)
        del self._canonical  # only needed while building; keeps the pickled index small

    def __len__(self) -> int:
        return len(self.items)

    def doc_ids(self, words: list[str]) -> np.ndarray:
        get = self.vocab.get
        return np.fromiter((get(w, -1) for w in words), dtype=np.int64, count=len(words))

    def match_words(self, ids: np.ndarray) -> list[Match]:
        """Items found in a document given as word ids (see :meth:`doc_ids`); spans are word ranges."""
        cfg = self.cfg
        if len(self.seed_hashes) == 0 or len(ids) < cfg.seed:
            return []
        h = _ngram_hashes(_splitmix(ids), cfg.seed)
        known = ids >= 0
        # seeds with a word outside the eval vocabulary cannot match; skip them before the lookup
        ok = np.convolve(known, np.ones(cfg.seed, dtype=int), mode="valid") == cfg.seed
        dpos = np.flatnonzero(ok)
        if len(dpos) == 0:
            return []
        hv = h[dpos]
        at = np.searchsorted(self.seed_hashes, hv)
        at[at == len(self.seed_hashes)] = 0
        hit = self.seed_hashes[at] == hv
        dpos, at = dpos[hit], at[hit]
        if len(dpos) == 0:
            return []
        lo, hi = self.offsets[at], self.offsets[at + 1]
        counts = hi - lo
        total = int(counts.sum())
        rows = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total)
        items = self.post_item[rows].astype(np.int64)
        diag = np.repeat(dpos, counts) - self.post_pos[rows]
        # candidate regions: hits of one item whose diagonals lie within a band
        order = np.lexsort((diag, items))
        items, diag, ipos = items[order], diag[order], self.post_pos[rows][order]
        lengths = np.asarray(self.item_words, dtype=np.int64)[items]
        band = np.maximum(4, lengths // 4)
        new = np.ones(len(items), dtype=bool)
        new[1:] = (items[1:] != items[:-1]) | (diag[1:] - diag[:-1] > band[1:])
        starts = np.flatnonzero(new)
        sizes = np.diff(np.append(starts, len(items)))
        candidates = starts[sizes >= 2]
        if len(candidates) == 0:
            return []
        ends = starts[1:] if len(starts) > 1 else np.zeros(0, np.int64)
        end_of = dict(zip(starts.tolist(), np.append(ends, len(items)).tolist()))
        covered: dict[int, set[int]] = {}
        spans: dict[int, list[tuple[int, int]]] = {}
        n = len(ids)
        for s in candidates.tolist():
            item = int(items[s])
            length = self.item_words[item]
            required = cfg.required(length)
            d0, d1 = int(diag[s]), int(diag[end_of[s] - 1])
            pad = length // 4 + 2
            a, b = max(0, d0 - pad), min(n, d1 + length + pad)
            item_ids = self.item_ids[item]
            floor = min(cfg.min_ngram, required)
            seeded = set()
            for p in ipos[s : end_of[s]].tolist():
                seeded.update(range(p, p + cfg.seed))
            if len(seeded) < floor - cfg.seed_slack:
                continue  # the intact seeds cover too few item words for a near-copy
            short = required < length and required == math.ceil(cfg.short_match * length - 1e-9)
            # fast path: the seeds on the cluster's most common diagonal are an ungapped alignment (exact
            # 3-word runs, substitutions between them); when that alone suffices, no full alignment is needed
            cd, cp = diag[s : end_of[s]], ipos[s : end_of[s]]
            values, counts = np.unique(cd, return_counts=True)
            best = int(values[np.argmax(counts)])
            on = np.zeros(length, dtype=bool)
            on[(cp[cd == best][:, None] + np.arange(cfg.seed)).ravel()] = True
            hit = np.flatnonzero(on)
            ungapped_edits = int(hit[-1] - hit[0] + 1 - len(hit)) + (length - int(hit[-1] - hit[0] + 1) if short else 0)
            if len(hit) >= required and len(hit) >= cfg.min_identity * (len(hit) + ungapped_edits):
                # found: the alignment below only refines the coverage (seeds miss words next to edits)
                covered.setdefault(item, set()).update(hit.tolist())
                spans.setdefault(item, []).append((best + int(hit[0]), best + int(hit[-1]) + 1))
            elif np.count_nonzero(np.isin(item_ids, ids[a:b])) < floor:
                continue  # an upper bound on the words any alignment can match: most candidates stop here
            matched, edits, positions, ws, we = align(item_ids, ids[a:b])
            if short and positions:
                edits += length - (positions[-1] - positions[0] + 1)  # a short item is wanted whole: missing ends are edits
            if matched < floor or matched < cfg.min_identity * (matched + edits):
                continue
            covered.setdefault(item, set()).update(positions)
            spans.setdefault(item, []).append((a + ws, a + we))
        out = []
        for item in sorted(covered):
            length = self.item_words[item]
            if len(covered[item]) >= cfg.required(length):
                for twin in self.twins.get(item, [item]):
                    out.append(Match(twin, len(covered[item]) / length, sorted(set(spans[item]))))
        out.sort(key=lambda m: m.item)
        return out

    def match(self, text: str) -> list[Match]:
        """Items found in ``text``, with the matching spans as character ranges of ``text``."""
        words = document_words(text)
        found = self.match_words(self.doc_ids(words))
        if found:
            _, char_spans = normalize_words(text)
            for m in found:
                m.spans = [(char_spans[a][0], char_spans[b - 1][1]) for a, b in m.spans]
        return found


def document_words(text: str) -> list[str]:
    """The normalised words of ``text`` (same as ``normalize_words(text)[0]``, faster for ASCII text)."""
    if text.isascii():
        return [w for w in (w.translate(_JOINERS) for w in _WORD.findall(text.lower())) if w]
    nfkc = unicodedata.normalize
    words = (w if w.isascii() else nfkc("NFKC", w) for w in _WORD.findall(text))
    return [w for w in (w.lower().translate(_JOINERS) for w in words) if w]


def excise(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` without the (merged) character spans."""
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, last = [], 0
    for a, b in merged:
        out.append(text[last:a])
        last = b
    out.append(text[last:])
    return "".join(out)
