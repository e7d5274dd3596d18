"""``tailmine run CONFIG.yaml``: every configured stage in order, skipping what is already done.

Run it::

    tailmine run pipeline.yaml --out runs/2026-11 -- --runner=DataflowRunner ...

The config is validated before any work starts (errors name the key). Each stage writes into
``OUT/<stage>/``. A stage whose manifest is complete and whose parameters and inputs are unchanged is
skipped; a stage that was interrupted resumes from its finished units; ``--force`` reruns everything.
What was done is recorded in ``OUT/run-state.json`` (fingerprints only: no clock time, so reruns of an
unchanged config change nothing). At the end a table shows documents and tokens in and out per stage,
and the report is written.

Config (YAML or JSON)::

    out: runs/demo            # optional; --out wins
    inputs: [crawl/, books/]  # what ingest reads
    beam_args: []             # optional; anything after `--` on the command line is appended
    ingest: {text_field: "text,content"}
    report: true              # write report.html/report.json at the end (default true)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import typing
from dataclasses import dataclass
from typing import Any, Callable, Optional

from tailmine.errors import ConfigError
from tailmine.fileio import exists, expand_inputs, join, read_bytes, write_bytes_atomic
from tailmine.reports.text import estimate_tokens
from tailmine.schemas.manifest import Manifest

RUN_STATE = "run-state.json"


@dataclass(frozen=True)
class StageSpec:
    """One stage the runner knows: its config dataclass and how to run it.

    ``run(cfg, source, out_dir, beam_args, force, resume)`` gets the raw inputs (a list of paths) for the
    first stage, and the previous stage's folder for the others.
    """

    name: str
    config: type
    run: Callable[..., Manifest]


def _run_ingest(cfg, source, out_dir, beam_args, force, resume) -> Manifest:
    from tailmine.pipelines import ingest

    return ingest.run(source, out_dir, cfg, beam_args, force=force, resume=resume)


def _run_filter(cfg, source, out_dir, beam_args, force, resume) -> Manifest:
    from tailmine.pipelines import filters

    return filters.run(source, out_dir, cfg, beam_args, force=force, resume=resume)


def _run_dedup(cfg, source, out_dir, beam_args, force, resume) -> Manifest:
    from tailmine.pipelines import dedup

    return dedup.run(source, out_dir, cfg, beam_args, force=force, resume=resume)


def _run_decontaminate(cfg, source, out_dir, beam_args, force, resume) -> Manifest:
    from tailmine.pipelines import decontaminate

    return decontaminate.run_from_config(cfg, source, out_dir, beam_args, force, resume)


def _run_classify(cfg, source, out_dir, beam_args, force, resume) -> Manifest:
    from tailmine.pipelines import classify

    return classify.run_stage(cfg, source, out_dir, beam_args, force, resume)


def _run_concepts(cfg, source, out_dir, beam_args, force, resume) -> Manifest:
    from tailmine.pipelines import concepts

    return concepts.run(source, out_dir, cfg, beam_args, force=force, resume=resume)


def _run_mix(cfg, source, out_dir, beam_args, force, resume) -> Manifest:
    from tailmine.pipelines import mix

    return mix.run(source, out_dir, cfg, beam_args, force=force, resume=resume)


def available_stages() -> list[StageSpec]:
    """Stages in pipeline order. A stage module lands here when it is built."""
    from tailmine.concepts.config import ConceptConfig
    from tailmine.dedup.config import DedupConfig
    from tailmine.filters.decontam import DecontamConfig
    from tailmine.filters.config import FilterConfig
    from tailmine.ingest.config import IngestConfig
    from tailmine.mixtures.config import MixConfig
    from tailmine.pipelines.classify import ClassifyStageConfig

    return [
        StageSpec("ingest", IngestConfig, _run_ingest),
        StageSpec("filter", FilterConfig, _run_filter),
        StageSpec("dedup", DedupConfig, _run_dedup),
        StageSpec("decontaminate", DecontamConfig, _run_decontaminate),
        StageSpec("classify", ClassifyStageConfig, _run_classify),
        StageSpec("concepts", ConceptConfig, _run_concepts),
        StageSpec("mix", MixConfig, _run_mix),
    ]


@dataclass(frozen=True)
class RunConfig:
    out: str
    inputs: tuple[str, ...]
    beam_args: tuple[str, ...]
    stages: tuple[tuple[str, Any], ...]  # (stage name, its config object), in pipeline order
    report: bool = True


TOP_LEVEL_KEYS = ("out", "inputs", "beam_args", "report")


def _check_type(where: str, value: Any, annotation: Any) -> Any:
    """Light type checking of YAML values against dataclass annotations, with errors naming the key."""
    if isinstance(annotation, str):
        annotation = {"int": int, "float": float, "str": str, "bool": bool}.get(annotation.split("|")[0].strip(), Any)
    origin = typing.get_origin(annotation)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
    elif annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
    elif annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        value = float(value)
    elif annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
    elif origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        value = tuple(value) if origin is tuple else list(value)
    return value


def build_stage_config(name: str, cls: type, params: Any) -> Any:
    if params is None or params is True:
        params = {}
    if not isinstance(params, dict):
        raise ConfigError(f"{name}: expected a mapping of settings, got {params!r}")
    hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
    names = [f.name for f in dataclasses.fields(cls)]
    for key in params:
        if key not in names:
            raise ConfigError(f"{name}.{key}: unknown setting; {name} takes {', '.join(names)}")
    checked = {k: _check_type(f"{name}.{k}", v, hints.get(k, Any)) for k, v in params.items()}
    try:
        return cls(**checked)
    except ConfigError as exc:
        raise ConfigError(f"{name}.{exc}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from exc


def load_config(text: str, where: str, out: Optional[str] = None, extra_beam_args: Optional[list[str]] = None) -> RunConfig:
    """Parse and validate a run config; every error names the offending key."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML/JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping with keys such as inputs, ingest, ...")
    specs = {s.name: s for s in available_stages()}
    for key in data:
        if key not in TOP_LEVEL_KEYS and key not in specs:
            raise ConfigError(f"{where}: unknown key {key!r}; known keys: {', '.join(TOP_LEVEL_KEYS + tuple(specs))}")
    inputs = data.get("inputs")
    if not inputs or not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise ConfigError(f"{where}: inputs: a list of files, globs or folders is required")
    out_dir = out or data.get("out")
    if not out_dir or not isinstance(out_dir, str):
        raise ConfigError(f"{where}: out: an output folder is required (in the config or with --out)")
    beam_args = data.get("beam_args") or []
    if not isinstance(beam_args, list) or not all(isinstance(a, str) for a in beam_args):
        raise ConfigError(f"{where}: beam_args: expected a list of strings")
    report = data.get("report", True)
    if not isinstance(report, bool):
        raise ConfigError(f"{where}: report: expected true or false")
    stages = []
    first = next(iter(specs))
    for name, spec in specs.items():
        if name in data or name == first:
            stages.append((name, build_stage_config(name, spec.config, data.get(name))))
    return RunConfig(out_dir, tuple(inputs), tuple(beam_args) + tuple(extra_beam_args or ()), tuple(stages), report)


def _fingerprint(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=lambda o: dataclasses.asdict(o) if dataclasses.is_dataclass(o) else str(o))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _input_listing(inputs: tuple[str, ...]) -> list[tuple[str, int]]:
    return [(f.path, f.size) for f in expand_inputs(inputs)]


def run(config: RunConfig, force: bool = False, stream=None) -> dict[str, Manifest]:
    """Run every configured stage in order; returns {stage: manifest}.

    Beam's file systems get the run's options first (``s3://`` needs its endpoint and credentials
    before the inputs are listed), object stores are checked, and the run folder is locked (see
    :mod:`tailmine.lock`) for the whole run, each stage folder for its stage."""
    from tailmine.fileio import check_access
    from tailmine.lock import OutputLock
    from tailmine.pipelines.options import configure_filesystems

    options = configure_filesystems(list(config.beam_args))
    check_access([*config.inputs, config.out], options)
    with OutputLock(config.out, "tailmine run"):
        return _run_locked(config, force, stream or sys.stderr)


def _run_locked(config: RunConfig, force: bool, stream) -> dict[str, Manifest]:
    from tailmine.lock import OutputLock
    from tailmine.schemas.manifest import read_manifest

    specs = {s.name: s for s in available_stages()}
    state_path = join(config.out, RUN_STATE)
    state = json.loads(read_bytes(state_path)) if exists(state_path) and not force else {}
    manifests: dict[str, Manifest] = {}
    upstream = _fingerprint(_input_listing(config.inputs))
    source: Any = list(config.inputs)
    for name, cfg in config.stages:
        out_dir = join(config.out, name)
        side_inputs = _input_listing(tuple(cfg.eval)) if getattr(cfg, "eval", None) else []  # edited eval files rerun the stage
        fingerprint = _fingerprint(name, cfg, upstream, side_inputs)
        previous = state.get(name, {})
        done = previous.get("fingerprint") == fingerprint and previous.get("status") == "done" and exists(join(out_dir, "manifest.json"))
        if done:
            print(f"[{name}] unchanged since the last run: skipped", file=stream)
            manifests[name] = read_manifest(out_dir)
        else:
            resume = previous.get("fingerprint") == fingerprint and previous.get("status") == "running"
            state[name] = {"fingerprint": fingerprint, "status": "running"}
            _save_state(state_path, state)
            with OutputLock(out_dir, f"tailmine run: {name}"):
                manifests[name] = specs[name].run(cfg, source, out_dir, list(config.beam_args), not resume, resume)
            state[name]["status"] = "done"
            _save_state(state_path, state)
        upstream = fingerprint
        source = out_dir
    print(summary_table(manifests), file=stream)
    if config.report:
        from tailmine.reports import write_report

        html_path, _ = write_report(config.out)
        print(f"report: {html_path}", file=stream)
    return manifests


def _save_state(path: str, state: dict) -> None:
    write_bytes_atomic(path, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode())


def summary_table(manifests: dict[str, Manifest]) -> str:
    """Documents and (estimated) tokens in and out per stage, with dropped and quarantined counts.

    The estimate is the report's (:func:`tailmine.reports.text.estimate_tokens`): the terminal and
    ``report.html`` show the same number for the same stage."""
    lines = [f"{'stage':<14}{'docs in':>11}{'docs out':>11}{'dropped':>10}{'quarantined':>13}{'tokens in':>14}{'tokens out':>14}"]
    tokens_in = "–"
    for name, m in manifests.items():
        c = m.counts
        chars = m.extra.get("output_chars")
        tokens_out = "–" if chars is None else f"~{estimate_tokens(chars):,}"
        if "tokens_total" in m.extra:
            tokens_out = f"{m.extra['tokens_total']:,}"  # counted by the tokenizer: no estimate mark
        lines.append(
            f"{name:<14}{c.input:>11,}{c.output:>11,}{sum(c.dropped.values()):>10,}{sum(c.quarantined.values()):>13,}"
            f"{tokens_in:>14}{tokens_out:>14}"
        )
        tokens_in = tokens_out
    lines.append("(~: tokens estimated as characters / 4; the mix stage counts real tokens)")
    return "\n".join(lines)


# --- command line: `tailmine run` ----------------------------------------------------------------

HELP = "run every stage of a YAML/JSON config, skipping stages whose inputs and parameters are unchanged"
DESCRIPTION = __doc__.split("Config (YAML or JSON)::")[0].strip().split("\n\n", 1)[-1]


def add_arguments(parser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="pipeline config file (YAML or JSON)")
    parser.add_argument("--out", metavar="DIR", default=None, help="run folder (overrides the config's out)")
    parser.add_argument("--force", action="store_true", help="rerun every stage even if unchanged")
    parser.add_argument("--estimate", nargs="?", const=1000, type=int, metavar="VCPUS",
                        help="print the CPU-hours, memory per worker, shuffle volume and wall time on VCPUS (default 1,000) of every "
                             "stage for the config's inputs (from their sizes, nothing read) and exit; see docs/scale.md")


def main(args, beam_args) -> int:
    try:
        text = read_bytes(args.config).decode("utf-8")
    except (OSError, IOError) as exc:
        raise ConfigError(f"{args.config}: cannot read the config ({exc})") from exc
    config = load_config(text, args.config, args.out, beam_args)
    if args.estimate:
        from tailmine.pipelines.estimate import estimate_config

        print(estimate_config(config, args.estimate))
        return 0
    run(config, force=args.force)
    return 0
