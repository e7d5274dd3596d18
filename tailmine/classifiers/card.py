"""Model directories and their cards: what a trained quality model is, and checked loading.

A model directory holds the weights and ``card.json``: the versioned name (also the score column),
kind, data (files, counts), sizes, hyper-parameters, seed, held-out metrics and the sha256 of every
weight file. Loading verifies the sha256 before anything reads the weights, so a truncated or
swapped file fails with an error that names it instead of producing silent garbage.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from tailmine.errors import ModelError  # noqa: F401  (re-exported: models raise it from here)
from tailmine.fileio import exists, join, read_bytes, write_bytes_atomic

CARD_NAME = "card.json"
CARD_SCHEMA_VERSION = 1
KINDS = ("fasttext", "torch")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_name(kind: str, version: int) -> str:
    """The versioned name of a model, which is also the name of its score column."""
    return f"quality_{kind}_v{version}"


def write_card(model_dir: str, card: dict) -> None:
    write_bytes_atomic(join(model_dir, CARD_NAME), (json.dumps(card, indent=2, sort_keys=True) + "\n").encode())


def read_card(model_dir: str) -> dict[str, Any]:
    path = join(model_dir, CARD_NAME)
    if not exists(path):
        raise ModelError(f"{path}: model card not found; is {model_dir} a directory written by `tailmine classify train`?")
    try:
        card = json.loads(read_bytes(path))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: model card is not valid JSON ({exc})") from exc
    for key in ("name", "kind", "files", "metrics"):
        if key not in card:
            raise ModelError(f"{path}: model card lacks the key {key!r}")
    if card["kind"] not in KINDS:
        raise ModelError(f"{path}: kind {card['kind']!r} is not one of {', '.join(KINDS)}")
    return card


def read_verified(model_dir: str, card: dict, name: str) -> bytes:
    """The bytes of weight file ``name``, after checking them against the sha256 in the card."""
    path = join(model_dir, name)
    expected = card["files"].get(name)
    if expected is None:
        raise ModelError(f"{join(model_dir, CARD_NAME)}: no sha256 recorded for {name}")
    if not exists(path):
        raise ModelError(f"{path}: model file is missing")
    data = read_bytes(path)
    if sha256_bytes(data) != expected:
        raise ModelError(f"{path}: model file is corrupt (sha256 {sha256_bytes(data)[:16]}... differs from the card's {expected[:16]}...)")
    return data


def verify_model_files(model_dir: str) -> dict:
    """Read the card and check every weight file it lists (present, sha256 matches); returns the card.

    ``classify score`` calls this on the driver before starting the pipeline, so a missing or corrupt
    file fails at once with its name rather than later inside a worker.
    """
    card = read_card(model_dir)
    for name in sorted(card["files"]):
        check_weights(card["kind"], join(model_dir, name), read_verified(model_dir, card, name))
    return card


def check_weights(kind: str, path: str, data: bytes) -> None:
    """Check a weight file's structure before a native loader sees it: a matching sha256 only says
    the file is the one the card names, and a card can be rewritten along with a hostile file."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if kind == "fasttext":
        from tailmine.classifiers.fasttext_model import WEIGHTS, check_fasttext_bin

        if name == WEIGHTS:
            check_fasttext_bin(data, path)
    elif kind == "torch":
        from tailmine.classifiers.torch_model import WEIGHTS, load_state

        if name == WEIGHTS:
            load_state(data, path)
