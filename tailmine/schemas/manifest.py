"""``manifest.json``: what a stage read, how it was configured, what it wrote, and where every record went.

The counts are the audit trail: ``input = output + sum(dropped.values()) + sum(quarantined.values())``.
A manifest that does not balance is refused at write time and at read time, so a record cannot
disappear without a reason anywhere in the pipeline. The file holds no wall-clock time so that the
same inputs and config give a byte-identical manifest.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from tailmine.errors import ManifestError

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1


@dataclass
class Counts:
    """Record counts of one stage (or of one unit of work, merged later)."""

    input: int = 0
    output: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n

    def quarantine(self, reason: str, n: int = 1) -> None:
        self.quarantined[reason] = self.quarantined.get(reason, 0) + n

    @property
    def unbalanced_by(self) -> int:
        """input minus everything accounted for; zero when the counts balance."""
        return self.input - self.output - sum(self.dropped.values()) - sum(self.quarantined.values())

    def check_balanced(self, where: str) -> None:
        if self.unbalanced_by != 0:
            raise ManifestError(
                f"{where}: counts do not balance: input {self.input} != output {self.output} + dropped "
                f"{sum(self.dropped.values())} + quarantined {sum(self.quarantined.values())}"
            )

    def merge(self, other: "Counts") -> "Counts":
        merged = Counts(self.input + other.input, self.output + other.output, dict(self.dropped), dict(self.quarantined))
        for reason, n in other.dropped.items():
            merged.drop(reason, n)
        for reason, n in other.quarantined.items():
            merged.quarantine(reason, n)
        return merged

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "output": self.output,
            "dropped": dict(sorted(self.dropped.items())),
            "quarantined": dict(sorted(self.quarantined.items())),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Counts":
        return cls(int(data["input"]), int(data["output"]), dict(data.get("dropped", {})), dict(data.get("quarantined", {})))


@dataclass(frozen=True)
class ShardInfo:
    """One written file: its path relative to the stage directory, row count, size and content hash."""

    path: str
    rows: int
    bytes: int
    sha256: str


@dataclass
class Manifest:
    stage: str
    tailmine_version: str
    schema_version: str
    parameters: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: list[ShardInfo]
    quarantine: list[ShardInfo]
    counts: Counts
    extra: dict[str, Any] = field(default_factory=dict)
    removed: list[ShardInfo] = field(default_factory=list)
    """Shards of documents a stage removed, each row with its ``drop_reason`` (for audits and reports)."""

    def to_json(self) -> str:
        self.counts.check_balanced(f"manifest of stage {self.stage!r}")
        data = {
            "manifest_format": MANIFEST_FORMAT,
            "stage": self.stage,
            "tailmine_version": self.tailmine_version,
            "schema_version": self.schema_version,
            "parameters": self.parameters,
            "inputs": self.inputs,
            "outputs": [asdict(s) for s in self.outputs],
            "quarantine": [asdict(s) for s in self.quarantine],
            "removed": [asdict(s) for s in self.removed],
            "counts": self.counts.to_dict(),
            **({"extra": self.extra} if self.extra else {}),
        }
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "manifest") -> "Manifest":
        try:
            data = json.loads(text)
            manifest = cls(
                stage=data["stage"],
                tailmine_version=data["tailmine_version"],
                schema_version=data["schema_version"],
                parameters=data["parameters"],
                inputs=data["inputs"],
                outputs=[ShardInfo(**s) for s in data["outputs"]],
                quarantine=[ShardInfo(**s) for s in data["quarantine"]],
                counts=Counts.from_dict(data["counts"]),
                extra=data.get("extra", {}),
                removed=[ShardInfo(**s) for s in data.get("removed", [])],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"{where}: not a tailmine manifest ({exc})") from exc
        manifest.counts.check_balanced(where)
        return manifest

    def write(self, directory: str) -> str:
        from tailmine.fileio import join, write_bytes_atomic

        path = join(directory, MANIFEST_NAME)
        write_bytes_atomic(path, self.to_json().encode("utf-8"))
        return path


def read_manifest(directory: str) -> Manifest:
    """Read and check ``DIRECTORY/manifest.json``; raises :class:`ManifestError` naming the file."""
    from tailmine.fileio import join, read_bytes

    path = join(directory, MANIFEST_NAME)
    try:
        text = read_bytes(path).decode("utf-8")
    except (OSError, IOError) as exc:
        raise ManifestError(f"{path}: cannot read manifest ({exc}); did the stage finish?") from exc
    return Manifest.from_json(text, where=path)
