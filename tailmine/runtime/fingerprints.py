"""One fingerprint for everything that decides whether earlier output can be reused (unit
summaries, a stage's work files, ``run-state.json``). Standard library only, so config modules use it."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any


def _jsonable(o: Any) -> Any:
    return dataclasses.asdict(o) if dataclasses.is_dataclass(o) and not isinstance(o, type) else str(o)


def fingerprint(value: Any, length: int = 16) -> str:
    """A short stable hash of ``value`` (parameters, inputs, config dataclasses): equal fingerprints
    mean earlier output can be reused. Keys are sorted; dataclasses hash as their fields, anything
    else JSON cannot hold as its ``str``."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=_jsonable).encode()).hexdigest()[:length]
