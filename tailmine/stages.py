"""The registry: every ``tailmine`` command and pipeline stage, declared once.

A :class:`Command` is what the command line offers (name, help, how its arguments are built, which
function runs it); a :class:`Stage` is a command that is also a step of ``tailmine run``: it adds its
config dataclass, what it reads and what it writes, and the function that runs it
(``run(source, out_dir, cfg, beam_args, force=, resume=, progress=)``). The command line
(:mod:`tailmine.cli`), ``tailmine run``'s stage list and config checking (:mod:`tailmine.pipelines.run`)
and every ``--help`` text are derived from :data:`COMMANDS`.

A config field is documented once, by the string under it in its dataclass (:func:`field_help`), and
becomes a ``--flag`` of its stage's command (:func:`add_config_flags`) and a key of its section in a run
config (:func:`build_stage_config`), checked the same way in both.

This module is imported to build ``--help``: it imports no Beam, pyarrow or model code. Functions and
classes are named by ``"module:attribute"`` and imported when a command runs.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from tailmine.errors import ConfigError

Arguments = Callable[[argparse.ArgumentParser], None]


def load(path: str) -> Any:
    """``"package.module:name"`` -> that object (the module is imported now, not when the registry is)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    """One line, shown in ``tailmine --help``."""
    description: str
    """The text of ``tailmine NAME --help``."""
    main: str
    """``"module:function"`` called with ``(args, beam_args)``; returns the exit code. A stage that only
    runs and prints its counts leaves it empty (:func:`run_stage_command`)."""
    arguments: Union[Arguments, str, None] = None
    """Adds the command's arguments to its parser (a function of this module, or ``"module:function"`` of
    a module as light as this one); for a :class:`Stage`, arguments beyond the standard ones."""
    writes_folder: bool = False
    """Its ``--out`` is a folder it fills: one run at a time may write it (:mod:`tailmine.lock`)."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        extra = load(self.arguments) if isinstance(self.arguments, str) else self.arguments
        if extra is not None:
            extra(parser)

    def run_command(self, args: argparse.Namespace, beam_args: list[str]) -> int:
        return load(self.main)(args, beam_args)

    def full_description(self) -> str:
        return self.description


@dataclass(frozen=True)
class Stage(Command):
    config: str = ""
    """``"module:Class"`` of its config dataclass (its section of a run config)."""
    run: str = ""
    """``"module:function"`` ``(source, out_dir, cfg, beam_args, force=, resume=, progress=) -> Manifest``."""
    inputs: str = "stage"
    """``files`` (raw inputs: files, globs, folders), ``stage`` (a finished stage's folder, ``--in DIR``)
    or ``stages`` (one or more, ``--in DIR...``)."""
    outputs: tuple[str, ...] = ("docs/", "manifest.json")
    """What it writes into its folder."""
    flags: Optional[tuple[str, ...]] = None
    """Config fields offered as ``--flags`` (None: every field)."""
    choices: dict = field(default_factory=dict)
    """Allowed values of string fields, for their flags: ``"module:NAME"`` of the tuple the config checks against."""
    paths: tuple[str, ...] = ()
    """Config fields naming files or folders it reads (besides its input): ``tailmine run`` checks that
    they exist before the first stage."""
    standard_arguments: bool = True
    """``--in``/inputs, ``--out``, ``--force``, ``--resume``, ``--no-progress`` and the config flags; a
    command with sub-actions (``classify train|score``) builds all its arguments itself."""

    def config_class(self) -> type:
        return load(self.config)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        if self.standard_arguments:
            add_stage_arguments(parser, self)
        super().add_arguments(parser)

    def run_stage(self, source: Any, out_dir: str, cfg: Any, beam_args: Optional[list[str]], force: bool, resume: bool, progress: bool = True):
        return load(self.run)(source, out_dir, cfg, beam_args, force=force, resume=resume, progress=progress)

    def run_command(self, args: argparse.Namespace, beam_args: list[str]) -> int:
        if self.main:
            return super().run_command(args, beam_args)
        run_stage_command(self, args, beam_args)
        return 0

    def full_description(self) -> str:
        return (f"{self.description}\n\nWrites into DIR: {', '.join(self.outputs)}.\n"
                f"In a `tailmine run` config: the section '{self.name}:' (keys: {self.name}'s config fields).")


# --- config fields: docs, flags, checking -----------------------------------------------------------


def field_help(cls: type) -> dict[str, str]:
    """Each field's documentation: the string literal under it in the class body (whitespace collapsed)."""
    import ast
    import inspect
    import textwrap

    helps: dict[str, str] = {}
    for klass in reversed(cls.__mro__):  # a subclass's docs win
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body  # type: ignore[attr-defined]
        for node, following in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(following, ast.Expr)
                    and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)):
                helps[node.target.id] = " ".join(following.value.value.split())
    return {f.name: helps.get(f.name, "") for f in dataclasses.fields(cls)}


def _type_of(cls: type, name: str) -> Any:
    return typing.get_type_hints(cls)[name]


def parse_int(text: Any) -> int:
    """An integer, also written as ``2e9``, ``2_000_000_000`` or ``2000000.0`` (YAML reads ``2e6``
    as a string, and a flag's value is always one)."""
    if isinstance(text, bool):
        raise ValueError(f"expected an integer, got {text!r}")
    if isinstance(text, int):
        return text
    value = float(str(text).replace("_", "")) if isinstance(text, str) else float(text)
    if value != value or value in (float("inf"), float("-inf")) or value != int(value):
        raise ValueError(f"expected an integer, got {text!r}")
    return int(value)


def parse_float(text: Any) -> float:
    """A number, also written as ``2e6`` or ``1_000.5``."""
    if isinstance(text, bool):
        raise ValueError(f"expected a number, got {text!r}")
    return float(str(text).replace("_", "")) if isinstance(text, str) else float(text)


def _flag_type(parse: Callable[[Any], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__.replace("parse_", "")  # argparse names the type in its error
    return convert


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_config_flags(parser: argparse.ArgumentParser, cls: type, names: Optional[tuple[str, ...]] = None, choices: Optional[dict] = None) -> None:
    """One ``--flag`` per config field (``names``: only these), typed by its annotation and helped by its docs."""
    helps = field_help(cls)
    for f in dataclasses.fields(cls):
        if names is not None and f.name not in names:
            continue
        kind = _type_of(cls, f.name)
        origin = typing.get_origin(kind) or kind
        flag = "--" + f.name.replace("_", "-")
        doc = helps[f.name].replace("%", "%%")  # argparse %-formats help texts
        if kind is bool:
            parser.add_argument(flag, dest=f.name, default=f.default, action=argparse.BooleanOptionalAction, help=doc)
            continue
        default = ",".join(f.default) if origin in (tuple, list) else f.default
        kwargs: dict[str, Any] = {"dest": f.name, "default": f.default, "help": f"{doc} (default: {default})".replace("(default: )", "(default: none)")}
        if kind is int:
            kwargs["type"] = _flag_type(parse_int)
        elif kind is float:
            kwargs["type"] = _flag_type(parse_float)
        elif origin in (tuple, list):
            kwargs["type"], kwargs["metavar"] = _comma_list, "A,B"
        if f.name in (choices or {}):
            kwargs["choices"] = load(choices[f.name]) if isinstance(choices[f.name], str) else choices[f.name]
        parser.add_argument(flag, **kwargs)


def config_from_args(cls: type, args: argparse.Namespace) -> Any:
    """The config dataclass from parsed flags: fields without a flag, or whose flag was given no value
    (``None``), keep their defaults."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}
    for name, value in values.items():
        if isinstance(value, list) and (typing.get_origin(_type_of(cls, name)) or _type_of(cls, name)) is tuple:
            values[name] = tuple(value)  # nargs/append flags give lists
    return cls(**values)


def check_value(where: str, value: Any, annotation: Any) -> Any:
    """A run-config value checked against a field's annotation; errors name the key."""
    origin = typing.get_origin(annotation)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
    elif annotation in (int, float):
        try:
            value = (parse_int if annotation is int else parse_float)(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {'an integer' if annotation is int else 'a number'}, got {value!r}") from None
    elif annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
    elif origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        value = tuple(value) if origin is tuple else list(value)
    return value


def build_stage_config(name: str, cls: type, params: Any) -> Any:
    """A stage's section of a run config as its config dataclass; every error names ``stage.key``."""
    if params is None or params is True:
        params = {}
    if not isinstance(params, dict):
        raise ConfigError(f"{name}: expected a mapping of settings, got {params!r}")
    hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
    names = [f.name for f in dataclasses.fields(cls)]
    for key in params:
        if key not in names:
            raise ConfigError(f"{name}.{key}: unknown setting; {name} takes {', '.join(names)}")
    checked = {k: check_value(f"{name}.{k}", v, hints.get(k, Any)) for k, v in params.items()}
    try:
        return cls(**checked)
    except ConfigError as exc:
        raise ConfigError(f"{name}.{exc}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from exc


# --- the standard arguments of a stage command, and the command that runs it ------------------------


def add_stage_arguments(parser: argparse.ArgumentParser, stage: Stage) -> None:
    if stage.inputs == "files":
        parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, globs or directories (local, gs://, s3://)")
    elif stage.inputs == "stages":
        parser.add_argument("--in", dest="in_dirs", required=True, nargs="+", metavar="DIR", help="output folder(s) of finished stages")
    else:
        parser.add_argument("--in", dest="in_dir", required=True, metavar="DIR", help="output folder of a finished stage")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--force", action="store_true", help="replace existing output in DIR")
    parser.add_argument("--resume", action="store_true", help="finish an interrupted run in DIR, keeping the work it finished")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="do not print progress lines")
    if stage.flags != ():
        add_config_flags(parser, stage.config_class(), stage.flags, stage.choices)


def stage_source(args: argparse.Namespace) -> Any:
    """What a stage command reads: its raw inputs, or the folder(s) of finished stages."""
    for name in ("inputs", "in_dirs", "in_dir"):
        if getattr(args, name, None) is not None:
            return getattr(args, name)
    raise ConfigError("no input given")


def run_stage_command(stage: Stage, args: argparse.Namespace, beam_args: list[str]):
    """Run a stage command's stage with the config its flags give; print the counts; return the manifest."""
    from tailmine.cli import summarize

    cfg = config_from_args(stage.config_class(), args)
    manifest = stage.run_stage(stage_source(args), args.out, cfg, beam_args, force=args.force, resume=args.resume, progress=args.progress)
    print(summarize(manifest, args.out))
    return manifest


# --- arguments of the commands that are more than a stage's standard ones ---------------------------


def _dedup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", action="store_true", help="print the plan (memory, CPU time, shuffle, disk, partitioning), then stop; "
                        "memory allows for the duplicate rate a finished run in --out observed, else 50%%")


def _decontaminate_arguments(parser: argparse.ArgumentParser) -> None:
    from tailmine.filters.decontam import DecontamConfig

    d = DecontamConfig()
    parser.add_argument("--eval", dest="eval", required=True, nargs="+", metavar="FILE", help="evaluation files, globs or folders")
    parser.add_argument("--eval-field", dest="eval_fields", action="append", metavar="FIELD",
                        help=f"field holding the item text (repeatable; default: the first present of {', '.join(d.eval_fields)})")
    parser.add_argument("--id-field", dest="id_fields", action="append", metavar="FIELD",
                        help=f"field holding an item id (repeatable; default: {', '.join(d.id_fields)}, else the item index)")


def _filter_arguments(parser: argparse.ArgumentParser) -> None:
    from tailmine.filters.config import SOURCE_KINDS

    sub = parser.add_subparsers(dest="filter_command", metavar="ACTION")
    cal = sub.add_parser("calibrate", help="fit per-language thresholds on a reference sample (FineWeb2's approach)",
                         description=(
                             "Annotate the documents of --reference (a finished stage's folder or Parquet document shards)\n"
                             "and write per-language thresholds as a filter config: language-ID threshold\n"
                             "max(0.3, min(0.9, median - std)) of each language's lang_score; every other rule matched by\n"
                             "quantile: it drops the same share of each language's reference as the built-in threshold\n"
                             "drops of the --anchor language's (English)."),
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    cal.add_argument("--reference", required=True, metavar="DIR", help="documents known to be good")
    cal.add_argument("--out", dest="calibrate_out", required=True, metavar="FILE", help="thresholds.yaml to write")
    cal.add_argument("--anchor", default="en", help="language whose built-in thresholds the others are matched to (default en)")
    cal.add_argument("--drop-fraction", type=float, default=0.05, help="share of the reference each rule drops without anchor documents (default 0.05)")
    cal.add_argument("--min-docs", type=int, default=20, help="languages with fewer reference documents are left out (default 20)")
    cal.add_argument("--config", dest="calibrate_config", metavar="FILE", help="filter config (segmenters, source kind)")
    cal.add_argument("--source-kind", dest="calibrate_source_kind", choices=SOURCE_KINDS, help="judge every reference document as this kind")
    parser.add_argument("--in", dest="in_dir", metavar="DIR", help="output folder of a finished stage (required)")
    parser.add_argument("--out", metavar="DIR", help="output directory (required)")
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON thresholds (default: published defaults)")
    parser.add_argument("--source-kind", choices=SOURCE_KINDS, help="judge every document as this kind (default: its source column)")
    parser.add_argument("--force", action="store_true", help="replace existing output in DIR")
    parser.add_argument("--resume", action="store_true", help="finish an interrupted run in DIR")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="do not print progress lines")


def _classify_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="classify_command", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train a quality model and write MODEL_DIR with card.json")
    train.add_argument("--positive", nargs="+", default=[], metavar="FILE", help="reference-quality inputs (files, globs, directories); fasttext/torch")
    train.add_argument("--negative", nargs="+", default=[], metavar="FILE", help="crawl inputs (files, globs, directories); fasttext/torch")
    train.add_argument("--kind", choices=("fasttext", "torch", "encoder"), default="fasttext",
                       help="model kind (default: fasttext); encoder: a head on a frozen Hugging Face encoder (--base, --labels)")
    train.add_argument("--base", metavar="HF_DIR", help="encoder: local Hugging Face folder (config.json, model.safetensors, tokenizer.json)")
    train.add_argument("--labels", metavar="FILE.jsonl", help='encoder: JSONL rows {"text": ..., "label": 0-5 or 0/1} (optional url, book/title, id)')
    train.add_argument("--task", choices=("auto", "regression", "binary"), default="auto", help="encoder: head type (default: auto, binary when all labels are 0/1)")
    train.add_argument("--label-key", default="label", help="encoder: the label's key in --labels rows (default: label)")
    train.add_argument("--out", required=True, metavar="MODEL_DIR", help="model directory to write")
    train.add_argument("--seed", type=int, default=0, help="seed of split, order and initialisation (default: 0)")
    train.add_argument("--version", type=int, default=1, help="model version; the column is quality_<kind>_v<version> (default: 1)")
    train.add_argument("--heldout-fraction", type=float, default=0.2, help="share of groups held out for metrics (default: 0.2)")
    train.add_argument("--max-chunks-per-group", type=int, default=20, help="chunks kept per book / site / article (default: 20)")
    train.add_argument("--device", default="cpu", help="encoder: where embeddings are computed: cpu, cuda[:N] or auto (default: cpu)")
    train.add_argument("--force", action="store_true", help="replace an existing model in MODEL_DIR")
    score = sub.add_parser("score", help="add one score column per model to every document shard")
    score.add_argument("--in", dest="in_dir", required=True, metavar="DIR", help="output folder of a finished stage")
    score.add_argument("--model", nargs="+", required=True, metavar="MODEL_DIR",
                       help="model directories written by `classify train`, or local Hugging Face folders (config.json, model.safetensors, tokenizer.json)")
    score.add_argument("--trust-pickle", action="store_true",
                       help="let a Hugging Face folder without model.safetensors load its .bin/.pt checkpoint (torch.load(weights_only=True))")
    score.add_argument("--out", required=True, metavar="DIR", help="output directory")
    score.add_argument("--device", default="auto", help="torch models: auto, cpu or cuda[:N] (default: auto)")
    score.add_argument("--batch-size", type=int, default=512, help="texts per model call (default: 512)")
    score.add_argument("--max-batch-tokens", type=int, default=32768, help="Hugging Face models: padded tokens per forward pass (default: 32768)")
    score.add_argument("--min-score", action="append", default=[], metavar="COLUMN=VALUE", help="remove rows scoring below VALUE (repeatable)")
    score.add_argument("--force", action="store_true", help="replace existing output in DIR")
    score.add_argument("--resume", action="store_true", help="finish an interrupted run in DIR")
    score.add_argument("--no-progress", dest="progress", action="store_false", help="do not print progress lines")


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="pipeline config file (YAML or JSON)")
    parser.add_argument("--out", metavar="DIR", default=None, help="run folder (overrides the config's out)")
    parser.add_argument("--force", action="store_true", help="rerun every stage even if unchanged")
    parser.add_argument("--estimate", nargs="?", const=1000, type=int, metavar="VCPUS",
                        help="print the CPU-hours, memory per worker, shuffle volume and wall time on VCPUS (default 1,000) of every "
                             "stage for the config's inputs (from their sizes, nothing read) and exit; see docs/scale.md")


def _tokenizer_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = sub.add_parser("train", help="train a byte-level BPE on the text of finished stage(s)")
    t.add_argument("--in", dest="in_dirs", required=True, nargs="+", metavar="DIR", help="output folder(s) of finished stages")
    t.add_argument("--out", required=True, metavar="PATH", help="where to write tokenizer.json")
    t.add_argument("--vocab-size", type=int, default=32000, help="vocabulary size (default: 32000)")
    t.add_argument("--min-frequency", type=int, default=2, help="minimum pair frequency of a merge (default: 2)")
    t.add_argument("--max-bytes", type=int, default=1 << 30, help="train on at most this much text (default: 1 GiB)")
    t.add_argument("--holdout", type=float, default=0.0, help="leave out the groups tailmine mix --holdout skips for its own tokenizer (see above)")
    t.add_argument("--seed", type=int, default=0, help="seed of that split (default: 0)")
    t.add_argument("--eos-token", default="<|endoftext|>", help="end-of-document special token")


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", nargs="?", help="a run folder with one subfolder per stage")
    parser.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), default=None,
                        help="compare two run folders instead (deltas are B - A); written to --out or RUN_B")
    parser.add_argument("--out", metavar="DIR", default=None, help="where to write the report (default: RUN_DIR, or RUN_B with --compare)")
    parser.add_argument("--max-rows", type=int, default=None, help="documents read per stage for histograms (default: the report config's max_rows)")


# --- the registry ------------------------------------------------------------------------------------

STAGE_LIST: tuple[Stage, ...] = (
    Stage(
        name="ingest",
        help="WARC/WET/ARC, HTML, Gutenberg books, text, JSONL, Parquet -> document shards + manifest",
        description=(
            "Read crawl files, HTML pages, Project Gutenberg books, plain text, JSONL and Parquet (gzip/zstd\n"
            "transparently; files, globs and directories) into DIR/docs/part-*.parquet under tailmine's\n"
            "document schema. Broken records go to DIR/quarantine/*.parquet with a reason; every record is\n"
            "counted in DIR/manifest.json (input = output + dropped + quarantined)."
        ),
        main="",
        config="tailmine.ingest.config:IngestConfig",
        run="tailmine.pipelines.ingest:run",
        inputs="files",
        outputs=("docs/", "quarantine/", "drop-samples/", "manifest.json"),
        choices={"format": "tailmine.ingest.config:FORMATS"},
        writes_folder=True,
    ),
    Stage(
        name="filter",
        help="language ID, Gopher/C4/FineWeb quality rules, PII redaction (annotate, then select)",
        description=(
            "Annotate every document with lang, lang_score, quality signals (gopher_*_v1, c4_*_v1,\n"
            "fineweb_*_v1) and PII counts, redact e-mails, IPs and phone numbers, then drop documents that\n"
            "fail a rule (the reason is the rule's name). Rules and thresholds depend on the source kind (web,\n"
            "book, text, jsonl, parquet: from the source column or --source-kind) and the language. Thresholds\n"
            "come from --config (YAML or JSON: keys allowed_languages, langid_max_chars, thresholds, sources,\n"
            "languages, source_kind, segmenters, pii, pii_types); running the stage again on its own output\n"
            "with a new config re-selects without recomputing signals.\n\n"
            "  tailmine filter calibrate --reference DIR --out thresholds.yaml\n"
            "writes per-language thresholds fitted on a reference sample (see --help there)."
        ),
        main="tailmine.pipelines.filters:main",
        arguments=_filter_arguments,
        config="tailmine.filters.config:FilterConfig",
        run="tailmine.pipelines.filters:run",
        outputs=("docs/", "removed/", "manifest.json"),
        standard_arguments=False,
        writes_folder=True,
    ),
    Stage(
        name="dedup",
        help="exact + MinHash-LSH near-duplicate removal, clustered, with a memory planner (--plan)",
        description=(
            "Find exact duplicates (hash of NFKC, lower-cased, whitespace-collapsed text) and near-duplicates\n"
            "(MinHash-LSH over word n-gram shingles; character n-grams for Chinese, Japanese, Thai), cluster\n"
            "them (connected components, computed per shard in rounds) and keep one survivor per cluster\n"
            "(highest quality_* score, then longest text, then smallest id). Every document gets\n"
            "dup_cluster_id and dup_cluster_size; the others go to DIR/removed/ with drop_reason\n"
            "exact_duplicate or near_duplicate; DIR/clusters.parquet lists (id, cluster_id) of every\n"
            "document that has a duplicate. --plan prints peak memory, CPU time, shuffle and disk first and stops."
        ),
        main="tailmine.pipelines.dedup:main",
        arguments=_dedup_arguments,
        config="tailmine.dedup.config:DedupConfig",
        run="tailmine.pipelines.dedup:run",
        outputs=("docs/", "removed/", "clusters.parquet", "manifest.json"),
        writes_folder=True,
    ),
    Stage(
        name="decontaminate",
        help="cut evaluation items out of documents (or drop short ones) by fuzzy n-gram match, with an audit file",
        description=(
            "Index every eval item (JSONL, JSON incl. BBH, Parquet, CSV or text; gzip ok; .tar.gz/.zip archives\n"
            "of them such as MMLU's; files, globs or folders, skipping README/LICENSE-like files with a note)\n"
            "and find it in documents after normalisation (NFKC, case, punctuation), tolerating light edits:\n"
            "seed 3-grams propose regions, a word alignment verifies them. A document holding an item (short\n"
            "items: --short-match of its words; long ones: --ngram words or --min-overlap of them) loses the\n"
            "matched spans when it has at least --excise-min-words words, else it is dropped with reason\n"
            "'contaminated' (--action auto; drop and excise apply one action to all). Writes\n"
            "DIR/contamination.parquet and per eval set items found, documents touched and tokens removed."
        ),
        main="tailmine.pipelines.decontaminate:main",
        arguments=_decontaminate_arguments,
        config="tailmine.filters.decontam:DecontamConfig",
        run="tailmine.pipelines.decontaminate:run_from_config",
        paths=("eval",),
        outputs=("docs/", "removed/", "contamination.parquet", "manifest.json"),
        flags=("ngram", "min_ngram", "min_item_words", "min_overlap", "short_match", "min_identity", "seed", "max_seed_items",
               "excise_min_words", "action"),
        choices={"action": "tailmine.filters.decontam:ACTIONS"},
        writes_folder=True,
    ),
    Stage(
        name="classify",
        help="train quality classifiers (fastText, torch, encoder heads) and add their scores as columns",
        description=(
            "train: DCLM-style quality model from reference-quality files (--positive: books, encyclopedic or\n"
            "  documentation pages) and crawl files (--negative), read in any format `ingest` reads. Writes\n"
            "  MODEL_DIR with the weights and card.json (data, sizes, hyper-parameters, seed, sha256 of the\n"
            "  weights, held-out ROC AUC and precision at k, the features the model learnt).\n"
            "  --kind encoder --base HF_DIR --labels FILE.jsonl: a regression (0-5) or binary head on a frozen\n"
            "  Hugging Face encoder, written as a Hugging Face folder with a README.md model card.\n"
            "score: adds one float32 column per --model (named by the model, e.g. quality_fasttext_v1) to every\n"
            "  document shard of a finished stage, through Beam RunInference; torch and Hugging Face models use\n"
            "  the GPU when there is one. A local Hugging Face folder (config.json, model.safetensors,\n"
            "  tokenizer.json) writes quality_<folder> (+ quality_<folder>_int for regression heads; a head\n"
            "  with more than two labels writes quality_<folder>_label, the predicted class's id2label name,\n"
            "  and quality_<folder> = that class's probability).\n"
            "  Nothing is removed unless --min-score COLUMN=VALUE is given."
        ),
        main="tailmine.pipelines.classify:main",
        arguments=_classify_arguments,
        config="tailmine.pipelines.classify:ClassifyStageConfig",
        run="tailmine.pipelines.classify:run_stage",
        paths=("model", "positive", "negative"),
        outputs=("docs/", "removed/", "model/", "manifest.json"),
        standard_arguments=False,
        writes_folder=True,
    ),
    Stage(
        name="concepts",
        help="concept document frequencies, power-law fit, per-document rarity columns",
        description=(
            "Extract the set of concepts of every document (word 1-3-grams without stop words, capitalised\n"
            "entity-like spans), count document frequencies (exactly, or with Count-Min/HyperLogLog sketches\n"
            "in --mode sketch), fit a discrete power law to them (Clauset et al. 2009: alpha, xmin, KS,\n"
            "bootstrap p-value, LR tests vs lognormal/exponential, Zipf s) and annotate each document with\n"
            "concept_count_v1, concept_min_df_v1, concept_mean_log_df_v1, concept_tail_count_v1.\n"
            "Writes DIR/docs/*.parquet, DIR/concepts-NNNNN.parquet (concept, df, rank; sharded by concept id),\n"
            "DIR/fit.json, manifest.json."
        ),
        main="tailmine.pipelines.concepts:main",
        config="tailmine.concepts.config:ConceptConfig",
        run="tailmine.pipelines.concepts:run",
        outputs=("docs/", "concepts-NNNNN.parquet", "fit.json", "manifest.json"),
        choices={"mode": "tailmine.concepts.config:MODES"},
        writes_folder=True,
    ),
    Stage(
        name="mix",
        help="token budget, rare-concept reweighting, tokenized Megatron-style shards and recipe.json",
        description=(
            "Build a training mixture at a token budget: D from --tokens, or from --compute-flops (C = 6ND;\n"
            "with C alone the Chinchilla split D = 20N). Quality gate (quantile of a quality_* column), source\n"
            "weights (natural, explicit, temperature, UniMax), then (1-lambda)*passive + lambda*UniMax(beta,\n"
            "E_max) over concept buckets, acting on training units (documents cut at paragraph, then sentence\n"
            "boundaries, <= --unit-tokens) with per-unit repeat counts drawn by hash and no document above\n"
            "--max-document-share. Tokenizes (EOS between documents), shuffles globally with --seed, writes\n"
            "DIR/tokens/mix-*.bin/.idx (Megatron MMIDIDX) with\n"
            "lineage, DIR/recipe.json (budget, weights, epochs, shard sha256s, tail metrics beside a passive\n"
            "mixture of the same budget), and with --holdout a decontaminated held-out set of whole domains and\n"
            "book works within 20% of the requested share in DIR/holdout/."
        ),
        main="tailmine.pipelines.mix:main",
        config="tailmine.mixtures.config:MixConfig",
        run="tailmine.pipelines.mix:run",
        paths=("tokenizer",),
        inputs="stages",
        outputs=("tokens/", "recipe.json", "tokenizer.json", "buckets.parquet", "holdout/", "manifest.json"),
        writes_folder=True,
    ),
)
"""The stages of ``tailmine run``, in pipeline order."""

STAGES: dict[str, Stage] = {s.name: s for s in STAGE_LIST}

_RUN_DESCRIPTION = (
    "Run every stage of a YAML/JSON config in order, skipping what is already done. Each stage writes\n"
    "into OUT/<stage>/. A stage whose manifest is complete and whose parameters and inputs are unchanged\n"
    "is skipped; a stage that was interrupted resumes from its finished units; --force reruns everything.\n"
    "Every path the run needs (inputs, eval sets, models, tokenizer) is checked before the first stage.\n"
    "What was done is recorded in OUT/run-state.json. At the end a table shows documents and tokens in\n"
    "and out per stage, and the report is written. Config keys: out, inputs, beam_args, report, and one\n"
    "section per stage (" + ", ".join(STAGES) + ") whose keys are the flags of that stage's command."
)

COMMANDS: dict[str, Command] = {
    "run": Command("run", "run every stage of a YAML/JSON config, skipping stages whose inputs and parameters are unchanged",
                   _RUN_DESCRIPTION, "tailmine.pipelines.run:main", _run_arguments),
    **STAGES,
    "tokenizer": Command(
        "tokenizer", "train a byte-level BPE tokenizer on curated text (tailmine tokenizer train)",
        "``tailmine tokenizer train``: a byte-level BPE trained on curated text, for the mix stage.\n\n"
        "Reads the ``text`` column of every document shard of the given finished stage(s), in manifest order\n"
        "(up to ``--max-bytes`` of text), and trains a byte-level BPE with ``tokenizers`` (GPT-2\n"
        "pre-tokenizer, no normalizer, ``<|endoftext|>`` as the end-of-document token). Held-out documents\n"
        "can be left out with ``--holdout FRACTION --seed S``: the domains and book works that ``tailmine mix``\n"
        "skips when it trains its own tokenizer at that fraction and seed (hash under 3 x FRACTION, where the\n"
        "groups it holds out almost always are; its recipe counts any that are not).",
        "tailmine.pipelines.tokenizer:main", _tokenizer_arguments),
    "report": Command(
        "report", "write a self-contained report.html and report.json for a run folder (or compare two runs)",
        "Read every stage folder of RUN_DIR (ingest/, filter/, dedup/, ...) and write RUN_DIR/report.html\n"
        "(offline, no CDN, no script) and RUN_DIR/report.json: warnings first, the funnel per stage and\n"
        "source with reasons and examples, length/language/score histograms, dedup clusters, contamination\n"
        "per evaluation set, the concept power law, and the mixture's tail coverage and composition.\n"
        "With --compare RUN_A RUN_B: compare.html and compare.json of their differences (config first).",
        "tailmine.reports:main", _report_arguments),
    "demo": Command("demo", "generate a small synthetic sample and run the pipeline on it",
                    "Generate tailmine's synthetic multi-format sample (no download) and run every stage on it.",
                    "tailmine.demo:main", "tailmine.demo:add_arguments", writes_folder=True),
    "experiment": Command("experiment", "run the tail experiment: does upweighting rare concepts pay, at equal tokens, on a tiny LM?",
                          "Experiments on what tailmine's choices buy (see tailmine experiment tail --help).",
                          "tailmine.experiments:main", "tailmine.experiments:add_arguments"),
}
"""Every subcommand, in the order of the pipeline."""
