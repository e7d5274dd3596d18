"""The mix stage's configuration: one dataclass, checked before any work starts."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from tailmine.errors import ConfigError

SOURCE_WEIGHTINGS = ("natural", "explicit", "temperature", "unimax")
MIN_UNIT_TOKENS = 64          # below this a unit is a sentence fragment, not training context
MAX_UNIT_TOKENS = 2**31 - 2   # sizes in the .idx are int32, and the EOS may follow


@dataclass(frozen=True)
class MixConfig:
    tokens: int = 0
    """token budget D (real tokens, EOS included)"""
    compute_flops: float = 0.0
    """training compute C in FLOPs: D = C/(6N) with --params, else the Chinchilla split"""
    params: int = 0
    """model parameters N (with --compute-flops; with --tokens only reported as tokens/param)"""
    tokens_per_param: float = 20.0
    """tokens per parameter of the compute-optimal split when only C is given"""
    tokenizer: str = ""
    """tokenizer.json to use; empty: train a byte-level BPE on the curated (non-held-out) text"""
    vocab_size: int = 32000
    """vocabulary size when training the tokenizer"""
    eos_token: str = ""
    """end-of-document token (default: <|endoftext|>, </s>, ... whichever the vocabulary has)"""
    fast_encoder: bool = True
    """use the tiktoken byte-level BPE encoder when it reproduces tokenizers exactly"""
    unit_tokens: int = 2048
    """longest training unit in tokens (EOS included): longer documents are cut at paragraph, then
    sentence boundaries; weights, epoch caps, sampling and the held-out split act on units"""
    eos_between_units: bool = False
    """also put EOS between the units of one document (default: only between documents)"""
    max_document_share: float = 0.02
    """largest share of the mixture's tokens one document may take (its units' copies together; at
    least one unit of any document fits, for budgets below unit_tokens / share)"""
    source_weighting: str = "natural"
    """natural (by size), explicit, temperature, or unimax (uniform, capped at max_epochs)"""
    source_weights: str = ""
    """explicit weights, e.g. 'warc=0.7,gutenberg=0.3' (source column values)"""
    temperature: float = 1.0
    """temperature T of source sampling: pi_s ~ U_s^(1/T)"""
    tail_lambda: float = 0.25
    """lambda of (1-lambda)*passive + lambda*UniMax(beta, E_max) over concept buckets"""
    tail_beta: float = 0.25
    """beta of the UniMax target pi_b ~ p_b^(1-beta) (0 passive, 1 uniform)"""
    max_epochs: float = 4.0
    """epoch cap E_max per unit (Muennighoff et al. 2023)"""
    quality_column: str = ""
    """score column of the quality gate (default: the first quality_* column, if any)"""
    quality_quantile: float = 0.1
    """drop documents below this quantile of the quality score (0: no gate)"""
    min_concept_df: int = 2
    """concepts seen in fewer documents are ignored for buckets and metrics (typos)"""
    salient_kinds: str = "e"
    """comma-separated concept kinds that form buckets and the tail-metric concept set (e: entity
    spans, w: word n-grams, c: clusters; empty: all)"""
    holdout: float = 0.0
    """share of the input tokens held out, as whole registered domains (web) and book works (books),
    before any reweighting; the stage stops when it cannot come within 20%% of it (0: no held-out
    set)"""
    decontam_min_ngrams: int = 38
    """drop a mixture unit sharing this many word 13-grams with the held-out set"""
    decontam_jaccard: float = 0.8
    """drop a mixture unit whose MinHash Jaccard with a held-out text reaches this"""
    shard_tokens: int = 50_000_000
    """about this many tokens per output shard: the mixture is split by order hash into ceil(tokens /
    shard_tokens) shards, one writer each"""
    seed: int = 0
    """seed of repeat draws, the global shuffle and the held-out split"""

    def __post_init__(self):
        if self.tokens < 0 or self.compute_flops < 0 or self.params < 0:
            raise ConfigError("mix tokens, compute_flops and params must not be negative")
        if not self.tokens and not self.compute_flops:
            raise ConfigError("mix needs a budget: tokens (--tokens D) or compute_flops (--compute-flops C [--params N])")
        if self.tokens and self.compute_flops:
            raise ConfigError("mix takes either tokens or compute_flops, not both")
        if self.source_weighting not in SOURCE_WEIGHTINGS:
            raise ConfigError(f"mix source_weighting must be one of {', '.join(SOURCE_WEIGHTINGS)}, got {self.source_weighting!r}")
        if self.source_weighting == "explicit" and not self.source_weights:
            raise ConfigError("mix source_weighting explicit needs source_weights such as 'warc=0.7,gutenberg=0.3'")
        self.parsed_source_weights()
        if not 0.0 <= self.tail_lambda <= 1.0 or not 0.0 <= self.tail_beta <= 1.0:
            raise ConfigError("mix tail_lambda and tail_beta must be in [0, 1]")
        if self.max_epochs < 1:
            raise ConfigError(f"mix max_epochs must be at least 1, got {self.max_epochs}")
        if not 0.0 <= self.quality_quantile < 1.0:
            raise ConfigError(f"mix quality_quantile must be in [0, 1), got {self.quality_quantile}")
        if not MIN_UNIT_TOKENS <= self.unit_tokens <= MAX_UNIT_TOKENS:
            raise ConfigError(f"mix unit_tokens must be in [{MIN_UNIT_TOKENS}, {MAX_UNIT_TOKENS:,}] (a unit is one Megatron "
                              f"sequence, its size an int32), got {self.unit_tokens}")
        if not 0.0 < self.max_document_share <= 1.0:
            raise ConfigError(f"mix max_document_share must be in (0, 1], got {self.max_document_share}")
        if not 0.0 <= self.holdout < 1.0:
            raise ConfigError(f"mix holdout must be in [0, 1), got {self.holdout}")
        if self.temperature <= 0 or self.vocab_size < 300 or self.shard_tokens < 1 or self.min_concept_df < 1:
            raise ConfigError("mix temperature > 0, vocab_size >= 300, shard_tokens >= 1 and min_concept_df >= 1 are required")

    def parsed_source_weights(self) -> dict[str, float]:
        out = {}
        for part in filter(None, (p.strip() for p in self.source_weights.split(","))):
            name, sep, value = part.partition("=")
            try:
                out[name.strip()] = float(value)
            except ValueError:
                sep = ""
            if not sep or out[name.strip()] < 0:
                raise ConfigError(f"mix source_weights: expected NAME=WEIGHT pairs, got {part!r}")
        return out

    def salient(self) -> tuple:
        return tuple(k.strip() for k in self.salient_kinds.split(",") if k.strip())

    def to_dict(self) -> dict:
        return asdict(self)
