"""Error types that say what went wrong, where, and what to do next."""
from __future__ import annotations


class TailmineError(Exception):
    """Base class: every error tailmine raises on purpose derives from it."""


class SchemaError(TailmineError):
    """A shard does not match the schema it claims to have; the message names the file and column."""


class ManifestError(TailmineError):
    """A manifest is missing, unreadable, or its counts do not balance."""


class ConfigError(TailmineError):
    """A configuration value is invalid; the message names the key and the accepted values."""


class OutputExistsError(TailmineError):
    """The output directory already holds data; pass --force to replace it."""


class InputError(TailmineError):
    """No input matched, or an input cannot be listed at all."""


class ModelError(TailmineError):
    """A model directory is missing, incomplete or corrupt; the message names the file."""


class StorageError(TailmineError):
    """An object store cannot be used (no credentials, endpoint unreachable, bucket missing or denied);
    the message names the URL and the option to set."""


class LockError(TailmineError):
    """Another live run holds the output folder's lock; the message names its pid, host and start time."""
