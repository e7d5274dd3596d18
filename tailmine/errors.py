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
