"""Tokenizers for the mix stage: load any ``tokenizer.json``, train a byte-level BPE, encode fast.

:class:`Encoder` wraps a ``tokenizers`` tokenizer. For byte-level BPE vocabularies it builds a
tiktoken ``Encoding`` from the same merges (tiktoken's Rust BPE core is about twice as fast per
core) and uses it only after checking, on a probe text, that it produces exactly the tokens
``tokenizers`` produces; vocabularies it cannot express (normalizers, non-byte-level models,
merge orders that differ from id order, unknown pre-tokenizers), or a missing tiktoken, fall back
to ``tokenizers``' own ``encode_batch``. ``Encoder.backend`` says which one is in use.
"""
from __future__ import annotations

import hashlib
import json
import logging
from functools import lru_cache
from typing import Iterable, Optional, Sequence

log = logging.getLogger("tailmine.mixtures.tokenize")

EOS_CANDIDATES = ("<|endoftext|>", "</s>", "<eos>", "[SEP]", "<|end_of_text|>")
DEFAULT_EOS = "<|endoftext|>"
# The GPT-2 pre-tokenizer regex that tokenizers' ByteLevel(use_regex=True) applies.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
PROBE_TEXT = (
    "Hello world! It's 2026; the café's naïve résumé costs €12.50 — isn't it?\n\n"
    "  Indented   text\twith tabs\r\n日本語のテキスト 한국어 텍스트 emoji 🙂🚀 and numbers 1234567890.\n"
    "they'll we've I'm you'd SHE'S O'Neil's 'quoted' \"double\" <|endoftext|> trailing   "
)


def _require_tokenizers():
    try:
        import tokenizers  # noqa: F401
    except ImportError as exc:  # pragma: no cover - tokenizers is a core dependency
        raise ImportError("the mix stage needs the `tokenizers` package: pip install tokenizers") from exc


def tokenizer_sha256(path: str) -> str:
    from tailmine.fileio import read_bytes

    return hashlib.sha256(read_bytes(path)).hexdigest()


@lru_cache(maxsize=None)
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-character map that ByteLevel BPE vocabularies use."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def _tiktoken_spec(spec: dict) -> Optional[tuple[str, dict[bytes, int], dict[str, int]]]:
    """(pattern, mergeable ranks, special tokens) when tiktoken can reproduce this tokenizer; else None."""
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or spec.get("normalizer") is not None:
        return None
    if model.get("dropout") or model.get("continuing_subword_prefix") or model.get("end_of_word_suffix") or model.get("byte_fallback"):
        return None
    pre = spec.get("pre_tokenizer") or {}
    pattern = None
    if pre.get("type") == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space", False):
        pattern = GPT2_PATTERN
    elif pre.get("type") == "Sequence":
        parts = pre.get("pretokenizers") or []
        if (
            len(parts) == 2
            and parts[0].get("type") == "Split"
            and "Regex" in (parts[0].get("pattern") or {})
            and parts[0].get("behavior") == "Isolated"
            and not parts[0].get("invert")
            and parts[1].get("type") == "ByteLevel"
            and not parts[1].get("use_regex", True)
            and not parts[1].get("add_prefix_space", False)
        ):
            pattern = parts[0]["pattern"]["Regex"]
    if pattern is None:
        return None
    post = spec.get("post_processor")
    if post is not None and post.get("type") not in ("ByteLevel",):
        return None
    decode = {c: b for b, c in _bytes_to_unicode().items()}
    vocab: dict[str, int] = model.get("vocab") or {}
    ranks: dict[bytes, int] = {}
    try:
        for token, i in vocab.items():
            ranks[bytes(decode[c] for c in token)] = int(i)
    except KeyError:
        return None
    if len(ranks) != len(vocab) or any(bytes([b]) not in ranks for b in range(256)):
        return None
    # tiktoken merges by the rank of the merged token: equal to tokenizers' merge order only when
    # ids of merge results increase with the merge's position.
    last = -1
    for merge in model.get("merges") or []:
        a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
        rid = vocab.get(a + b)
        if rid is None or rid <= last:
            return None
        last = rid
    specials = {t["content"]: int(t["id"]) for t in spec.get("added_tokens") or [] if t.get("special")}
    if any(not t.get("special") for t in spec.get("added_tokens") or []):
        return None  # tokenizers matches plain added tokens inside text; tiktoken would not
    return pattern, ranks, specials


class Encoder:
    """Text -> token ids, identical to ``tokenizers`` (``add_special_tokens=False``) whatever the backend."""

    def __init__(self, path: str, fast: bool = True, eos: Optional[str] = None):
        _require_tokenizers()
        from tokenizers import Tokenizer

        from tailmine.fileio import read_bytes

        self.path = path
        data = read_bytes(path)
        self.sha256 = hashlib.sha256(data).hexdigest()
        self._json = data.decode("utf-8")
        self.tokenizer = Tokenizer.from_str(self._json)
        self.vocab_size = self.tokenizer.get_vocab_size(with_added_tokens=True)
        vocab = self.tokenizer.get_vocab(with_added_tokens=True)
        if eos is None:
            eos = next((c for c in EOS_CANDIDATES if c in vocab), None)
        if eos is None or eos not in vocab:
            from tailmine.errors import ConfigError

            raise ConfigError(f"{path}: no end-of-document token ({eos or ' / '.join(EOS_CANDIDATES)}) in the vocabulary; name one with --eos-token")
        self.eos_token, self.eos_id = eos, int(vocab[eos])
        self.backend = "tokenizers"
        self._tiktoken = None
        self._fast_reason = "disabled" if not fast else ""
        if fast:
            self._try_tiktoken()

    def _try_tiktoken(self) -> None:
        try:
            import tiktoken
        except ImportError:
            self._fast_reason = "tiktoken is not installed (pip install tiktoken)"
            return
        spec = _tiktoken_spec(json.loads(self._json))
        if spec is None:
            self._fast_reason = "vocabulary is not plain byte-level BPE with id-ordered merges"
            return
        pattern, ranks, specials = spec
        try:
            enc = tiktoken.Encoding(
                name=f"tailmine-{self.sha256[:12]}", pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials,
                explicit_n_vocab=None,
            )
        except Exception as exc:  # pattern tiktoken's regex engine rejects, duplicate ranks, ...
            self._fast_reason = f"tiktoken refused the vocabulary: {exc}"
            return
        self._tiktoken = enc
        self.backend = "tiktoken"
        probe = [PROBE_TEXT, PROBE_TEXT.lower(), PROBE_TEXT * 3, "", " ", "\n\n\n", "a" * 300]
        if self._encode_fast(probe) != self._encode_slow(probe):
            self._tiktoken, self.backend = None, "tokenizers"
            self._fast_reason = "tiktoken disagreed with tokenizers on the probe text"

    @property
    def fallback_reason(self) -> str:
        return self._fast_reason

    def _encode_slow(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def _encode_fast(self, texts: Sequence[str]) -> list[list[int]]:
        return self._tiktoken.encode_batch(list(texts), allowed_special="all", num_threads=1)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        return self._encode_fast(texts) if self._tiktoken is not None else self._encode_slow(texts)

    def check_identical(self, texts: Sequence[str]) -> bool:
        """True when the active backend gives exactly ``tokenizers``' tokens on ``texts``."""
        return self.encode_batch(texts) == self._encode_slow(texts)

    def describe(self) -> dict:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "vocab_size": self.vocab_size,
            "eos_token": self.eos_token,
            "eos_id": self.eos_id,
            "encoder": self.backend,
            **({"fallback_reason": self._fast_reason} if self.backend == "tokenizers" else {}),
        }

    def __getstate__(self):  # picklable for Beam: rebuild the Rust objects on the worker
        return {"path": self.path, "fast": self._fast_reason != "disabled", "eos": self.eos_token}

    def __setstate__(self, state):
        self.__init__(state["path"], state["fast"], state["eos"])


def train_bpe(texts: Iterable[str], vocab_size: int = 32000, min_frequency: int = 2,
              special_tokens: Sequence[str] = (DEFAULT_EOS,)) -> "object":
    """A byte-level BPE (GPT-2 pre-tokenizer, no normalizer) trained with ``tokenizers``."""
    _require_tokenizers()
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_tokenizer(tok, path: str) -> str:
    from tailmine.fileio import write_bytes_atomic

    write_bytes_atomic(path, tok.to_str(pretty=False).encode("utf-8"))
    return path
