"""The data contract: versioned Arrow schemas for documents and quarantined records, and manifests.

Every stage writes Parquet shards under these schemas plus a ``manifest.json`` whose counts balance:
``input = output + sum(dropped) + sum(quarantined)``.
"""
from tailmine.schemas.document import (
    DOCUMENT_SCHEMA,
    DOCUMENT_SCHEMA_VERSION,
    QUARANTINE_SCHEMA,
    QUARANTINE_SCHEMA_VERSION,
    check_schema,
    read_documents,
    read_quarantine,
)
from tailmine.schemas.manifest import Counts, Manifest, ShardInfo, read_manifest

__all__ = [
    "DOCUMENT_SCHEMA",
    "DOCUMENT_SCHEMA_VERSION",
    "QUARANTINE_SCHEMA",
    "QUARANTINE_SCHEMA_VERSION",
    "Counts",
    "Manifest",
    "ShardInfo",
    "check_schema",
    "read_documents",
    "read_manifest",
    "read_quarantine",
]
