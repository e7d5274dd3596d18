"""Configuration of the ingest stage: a dataclass whose defaults work for real crawls and books."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from tailmine.errors import ConfigError
from tailmine.runtime.fingerprints import fingerprint

FORMATS = ("auto", "warc", "wet", "arc", "html", "gutenberg", "text", "jsonl", "parquet")
MiB = 1 << 20


@dataclass(frozen=True)
class IngestConfig:
    format: str = "auto"
    """Input format for every file, or 'auto' to detect it per file from its first bytes and name."""
    text_field: str = "text"
    """JSONL/Parquet: the field holding the document text; a comma list (text,content) takes the first present."""
    id_field: str = "id"
    """JSONL/Parquet: the field(s) holding an existing document id (kept as is); generated when absent."""
    url_field: str = "url,URL,metadata.url,meta.url,source_url,page_url,warc_target_uri,uri,link"
    """JSONL/Parquet: the field(s) holding the document URL, the first present wins; a dotted name reaches
    into a nested object (CCNet/Dolma keep it under ``metadata.url``, RedPajama under ``meta.url``)."""
    title_field: str = "title,metadata.title,meta.title"
    """JSONL/Parquet: the field(s) holding the title, if any (dotted names as for ``url_field``)."""
    extractor: str = "tailmine"
    """HTML main-text extractor: tailmine (default), resiliparse or trafilatura."""
    max_doc_bytes: int = 16 * MiB
    """Records whose raw payload or text is larger are dropped as 'document_too_large' without being held in memory."""
    max_decompressed_bytes: int = 64 << 30
    """Reading a compressed file stops after this many decompressed bytes; the rest is quarantined
    as 'decompression_limit' (a guard against decompression bombs, not a limit on real dumps)."""
    max_compression_ratio: float = 200.0
    """Past the first 64 MiB, a file that decompresses to more than this many times the compressed
    bytes read so far is cut there and the rest quarantined as 'decompression_limit' (text compresses
    3-10x; a bomb compresses ~1000x)."""
    max_replacement_ratio: float = 0.01
    """Text whose share of undecodable bytes (U+FFFD after decoding) exceeds this is quarantined."""
    shard_bytes: int = 256 * MiB
    """A document shard is closed once this many bytes of text were written to it."""
    row_group_bytes: int = 32 * MiB
    """Rows are flushed to a Parquet row group every this many bytes of text (bounds memory)."""
    unit_bytes: int = 64 * MiB
    """Largest unit of work in input bytes: small files are packed together, large uncompressed JSONL
    and Parquet files are split (by line and by row group). Smaller inputs get smaller units (about 1/64
    of the total, at least 1 MiB) so that every core has work."""

    def fields_of(self, name: str) -> tuple[str, ...]:
        """The candidate field names of ``text_field``/``id_field``/``url_field``/``title_field``."""
        return tuple(f.strip() for f in getattr(self, name).split(",") if f.strip())

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ConfigError(f"format: {self.format!r} is not one of {', '.join(FORMATS)}")
        from tailmine.ingest.extract import EXTRACTORS

        if self.extractor not in EXTRACTORS:
            raise ConfigError(f"extractor: {self.extractor!r} is not one of {', '.join(sorted(EXTRACTORS))}")
        if self.max_compression_ratio <= 1:
            raise ConfigError(f"max_compression_ratio: must be above 1, got {self.max_compression_ratio}")
        for name in ("max_doc_bytes", "max_decompressed_bytes", "shard_bytes", "row_group_bytes", "unit_bytes"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}: must be a positive number of bytes, got {getattr(self, name)}")
        for name in ("text_field", "id_field", "url_field", "title_field"):
            if not self.fields_of(name):
                raise ConfigError(f"{name}: needs at least one field name")
        if not 0.0 <= self.max_replacement_ratio <= 1.0:
            raise ConfigError(f"max_replacement_ratio: must lie in [0, 1], got {self.max_replacement_ratio}")

    def to_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> str:
        return fingerprint(self.to_dict())
