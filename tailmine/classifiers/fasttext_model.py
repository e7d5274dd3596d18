"""The fastText quality model: supervised fastText on normalised text, word uni+bigrams, no subwords.

Determinism (and the "Encountered NaN" it used to raise). The ``fasttext`` 0.9.3 wheel allocates its
input matrix (words + buckets) x dim with ``posix_memalign`` (``intgemm::AlignedVector``), which does
not initialise memory, and ``DenseMatrix::uniform(a, thread, seed)`` fills it in ten blocks of which
only the first ``thread`` are written: with ``thread=1``, 90% of the rows keep whatever the allocator
hands back. In a fresh process that is a fresh ``mmap`` (zeros), so the first model trained looks
reproducible; once the process has freed a large block (glibc then raises its dynamic mmap threshold
and serves the next big allocation from the heap), the rows hold old heap bytes: different weights run
to run, or NaN when the garbage holds NaN or huge floats. The seed (passed, ``seed=``), the one thread,
the learning-rate schedule and the training file were all reproducible; the memory was not.

Fix: training runs in a child process (``python -m tailmine.classifiers.fasttext_model``) started with
glibc's ``perturb`` tunable set to 255, under which every allocation is zero-filled. The uninitialised
90% of the matrix is then always zero (what a fresh mmap gives), so the same data, parameters and seed
give byte-identical ``model.bin`` whatever the calling process did before. The child also keeps a
genuine divergence ("Encountered NaN") from touching the caller. Off glibc the tunable does nothing:
:func:`determinism` says so and the card records it.

The training file's line order is fixed (examples shuffled by a seeded RNG before writing). Subword
n-grams are off (``minn=maxn=0``): they cost predict speed and add little for a document-level score.
"""
from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from tailmine.classifiers.card import ModelError, read_verified
from tailmine.classifiers.text import normalize_text

WEIGHTS = "model.bin"
FASTTEXT_MAGIC = 793712314
FASTTEXT_VERSION = 12
_ARGS_BYTES = 12 * 4 + 8  # twelve int32 options and the double sampling threshold t
LABEL_POSITIVE = "__label__hq"
LABEL_NEGATIVE = "__label__cc"


@dataclass(frozen=True)
class FastTextParams:
    dim: int = 32
    """Embedding size."""
    epoch: int = 25
    """25 epochs at lr 0.5: with 10 at 0.2 the English-only held-out AUC on ../shared/corpora was 0.908/0.936 (seeds 0/1), with 25 at 0.5 0.964/0.984."""
    lr: float = 0.5
    word_ngrams: int = 2
    min_count: int = 2
    bucket: int = 200_000
    """Hash buckets for word bigrams (the model file is about (words + bucket) * dim * 4 bytes)."""

    def to_dict(self) -> dict:
        return asdict(self)


def _require_fasttext():
    try:
        import fasttext  # noqa: F401
    except ImportError as exc:  # pragma: no cover - fasttext is a hard dependency in setup.py
        raise ModelError("the fastText quality model needs the 'fasttext' package: pip install fasttext") from exc
    import fasttext

    return fasttext


#: glibc tunable under which every malloc/posix_memalign is zero-filled (``perturb_byte ^ 0xff`` = 0).
_ZERO_FILL_TUNABLE = "glibc.malloc.perturb=255"


def determinism() -> dict:
    """How reproducible fastText training is on this machine (recorded in the model card)."""
    libc, version = platform.libc_ver()
    glibc = libc == "glibc"
    return {
        "same_seed_same_weights": glibc,
        "how": "training in a child process with GLIBC_TUNABLES=glibc.malloc.perturb=255 (zero-filled allocations), thread=1, seed",
        "why": "fastText 0.9.3 leaves 90% of its input matrix uninitialised when thread=1 (posix_memalign, uniform() fills 1 of 10 blocks)",
        "libc": f"{libc or 'unknown'} {version}".strip(),
        **({} if glibc else {"warning": "not glibc: allocations are not zero-filled, weights may differ between runs"}),
    }


def training_env() -> dict:
    """Environment of the training child: the caller's, plus glibc's zero-fill tunable."""
    env = dict(os.environ)
    tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t and not t.startswith("glibc.malloc.perturb=")]
    env["GLIBC_TUNABLES"] = ":".join(tunables + [_ZERO_FILL_TUNABLE])
    env["MALLOC_PERTURB_"] = "255"  # the older spelling, for glibc without tunables
    return env


def train_fasttext(texts: Sequence[str], labels: Sequence[int], params: FastTextParams, seed: int, out_path: str) -> None:
    """Train on normalised ``texts`` and write the binary model to the local file ``out_path`` (see the module doc)."""
    _require_fasttext()
    if len(texts) != len(labels):
        raise ModelError(f"fastText training: {len(texts)} texts but {len(labels)} labels")
    classes = {bool(y) for y in labels}
    if classes != {True, False}:
        missing = "positive" if True not in classes else "negative"
        raise ModelError(f"fastText training needs both classes; the training data has no {missing} example ({len(texts)} texts)")
    if not 0.0 < params.lr <= 5.0:
        raise ModelError(f"fastText training: lr={params.lr} is outside (0, 5]")
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    with tempfile.TemporaryDirectory(prefix="tailmine-ft-") as tmp:
        train_file = os.path.join(tmp, "train.txt")
        with open(train_file, "w", encoding="utf-8") as handle:
            for i in order:
                label = LABEL_POSITIVE if labels[i] else LABEL_NEGATIVE
                handle.write(f"{label} {' '.join(texts[i].split())}\n")  # one example per line, whatever the text holds
        args = {"input": train_file, "output": out_path, "seed": seed, **params.to_dict()}
        child = subprocess.run(
            [sys.executable, "-m", "tailmine.classifiers.fasttext_model", json.dumps(args)],
            env=training_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        if child.returncode != 0:
            lines = [line for line in child.stderr.strip().splitlines() if line.strip()]
            reason = lines[-1] if lines else f"exit status {child.returncode}"
            hint = ""
            if "NaN" in reason:
                hint = "; training diverged: lower the learning rate (lr) or give more training data"
            raise ModelError(
                f"fastText training failed ({reason}) on {len(texts)} examples with lr={params.lr}, dim={params.dim}, "
                f"epoch={params.epoch}, bucket={params.bucket}{hint}"
            )
        if not os.path.exists(out_path):
            raise ModelError(f"{out_path}: fastText training ended without writing the model")


def _train_in_this_process(args: dict) -> None:
    """Train and save (run by the training child; calling it in a long-lived process is not reproducible)."""
    fasttext = _require_fasttext()
    model = fasttext.train_supervised(
        input=args["input"], dim=args["dim"], epoch=args["epoch"], lr=args["lr"], wordNgrams=args["word_ngrams"],
        minCount=args["min_count"], bucket=args["bucket"], minn=0, maxn=0, loss="softmax", thread=1, seed=args["seed"],
        verbose=0,
    )
    model.save_model(args["output"])


class FastTextScorer:
    """Scores texts with a loaded fastText model: P(reference quality) per text, float32."""

    kind = "fasttext"

    def __init__(self, model, name: str):
        self.model, self.name = model, name
        labels = model.get_labels()
        if set(labels) != {LABEL_POSITIVE, LABEL_NEGATIVE}:
            raise ModelError(f"{name}: fastText labels are {labels}, expected {LABEL_POSITIVE} and {LABEL_NEGATIVE}")

    def score_normalized(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        # multilinePredict takes one line per text; normalised text has no newline.
        labels, probs = self.model.f.multilinePredict([t + "\n" for t in texts], 1, 0.0, "replace")
        out = np.empty(len(texts), dtype=np.float32)
        for i, (label, prob) in enumerate(zip(labels, probs)):
            p = float(prob[0]) if len(prob) else 0.5
            out[i] = p if label and label[0] == LABEL_POSITIVE else 1.0 - p
        return np.clip(out, 0.0, 1.0)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self.score_normalized([normalize_text(t) for t in texts])

    def top_features(self, n: int = 20) -> dict[str, list[str]]:
        """Words whose input vector pushes most towards each label (what the model actually learnt)."""
        words = self.model.get_words()
        output = self.model.get_output_matrix()
        index = {label: i for i, label in enumerate(self.model.get_labels())}
        direction = output[index[LABEL_POSITIVE]] - output[index[LABEL_NEGATIVE]]
        weights = np.array([self.model.get_input_vector(i) @ direction for i in range(len(words))])
        order = np.argsort(weights, kind="mergesort")
        return {"positive": [words[i] for i in order[::-1][:n]], "negative": [words[i] for i in order[:n]]}


def check_fasttext_bin(data: bytes, where: str) -> None:
    """Raise :class:`ModelError` unless ``data`` is a whole dense fastText model.

    fastText's loader trusts the sizes in the file and allocates ``rows x dim`` floats before reading
    them: a 300-byte truncated ``model.bin`` made it allocate until 6 GiB. This walks the header, the
    dictionary and both matrix headers (magic, version, word entries, declared shapes) and checks that
    the file holds exactly the bytes they declare, before fastText sees it. Quantised models (.ftz)
    are refused: tailmine writes dense ones.
    """
    import struct

    def fail(what: str) -> ModelError:
        return ModelError(f"{where}: not a complete fastText model ({what}); retrain it with `tailmine classify train`")

    if len(data) < 8 + _ARGS_BYTES + 24:
        raise fail(f"{len(data)} bytes, shorter than its header")
    magic, version = struct.unpack_from("<ii", data, 0)
    if magic != FASTTEXT_MAGIC or version > FASTTEXT_VERSION:
        raise fail(f"magic {magic}, version {version}; expected {FASTTEXT_MAGIC}, version <= {FASTTEXT_VERSION}")
    dim = struct.unpack_from("<i", data, 8)[0]
    bucket = struct.unpack_from("<i", data, 8 + 8 * 4)[0]
    pos = 8 + _ARGS_BYTES
    size, nwords, nlabels, _ntokens, pruned = struct.unpack_from("<iiiqq", data, pos)
    pos += 28
    if not (0 < dim <= 1 << 16 and 0 <= nwords and 0 <= nlabels and size == nwords + nlabels and 0 <= bucket and pruned >= -1):
        raise fail(f"implausible header: dim {dim}, {size} entries = {nwords} words + {nlabels} labels, bucket {bucket}")
    for entry in range(size):
        end = data.find(b"\0", pos)
        if end < 0 or end + 10 > len(data):
            raise fail(f"the dictionary ends at entry {entry} of {size}")
        pos = end + 1 + 9  # the word, its NUL, an int64 count and an int8 type
    pos += 8 * max(0, pruned)
    for matrix, rows in (("input", None), ("output", nlabels)):
        if pos + 17 > len(data):
            raise fail(f"the {matrix} matrix header is missing")
        if data[pos]:
            raise fail(f"the {matrix} matrix is quantised (.ftz)")
        m, n = struct.unpack_from("<qq", data, pos + 1)
        pos += 17
        if n != dim or m < 0 or (rows is not None and m != rows):
            raise fail(f"the {matrix} matrix is {m} x {n}, the header says dim {dim}")
        pos += 4 * m * n
        if pos > len(data):
            raise fail(f"the {matrix} matrix declares {4 * m * n} bytes of weights, the file ends {pos - len(data)} bytes early")
    if pos != len(data):
        raise fail(f"{len(data) - pos} bytes follow the output matrix")


def load_fasttext(model_dir: str, card: dict) -> FastTextScorer:
    """Load and verify ``model.bin`` of ``model_dir`` (read through FileSystems; fastText needs a local copy)."""
    fasttext = _require_fasttext()
    data = read_verified(model_dir, card, WEIGHTS)
    check_fasttext_bin(data, f"{model_dir}/{WEIGHTS}")
    with tempfile.TemporaryDirectory(prefix="tailmine-ft-") as tmp:
        local = os.path.join(tmp, WEIGHTS)
        with open(local, "wb") as handle:
            handle.write(data)
        try:
            model = fasttext.load_model(local)
        except Exception as exc:
            raise ModelError(f"{model_dir}/{WEIGHTS}: fastText cannot load it ({exc})") from exc
    return FastTextScorer(model, card["name"])


if __name__ == "__main__":  # the training child of train_fasttext
    try:
        _train_in_this_process(json.loads(sys.argv[1]))
    except Exception as exc:  # one clean line for the parent's error message
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
