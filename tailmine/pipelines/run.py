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

import json
import sys
from dataclasses import dataclass
from typing import Any, Optional

from tailmine.errors import ConfigError, InputError
from tailmine.fileio import exists, expand_inputs, join, read_bytes, write_bytes_atomic
from tailmine.reports.text import estimate_tokens
from tailmine.runtime.fingerprints import fingerprint
from tailmine.schemas.manifest import Manifest
from tailmine.stages import STAGE_LIST, Stage, build_stage_config

RUN_STATE = "run-state.json"


def available_stages() -> list[Stage]:
    """Stages in pipeline order, from the registry (:data:`tailmine.stages.STAGE_LIST`)."""
    return list(STAGE_LIST)


@dataclass(frozen=True)
class RunConfig:
    out: str
    inputs: tuple[str, ...]
    beam_args: tuple[str, ...]
    stages: tuple[tuple[str, Any], ...]  # (stage name, its config object), in pipeline order
    report: bool = True


TOP_LEVEL_KEYS = ("out", "inputs", "beam_args", "report")


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
            stages.append((name, build_stage_config(name, spec.config_class(), data.get(name))))
    return RunConfig(out_dir, tuple(inputs), tuple(beam_args) + tuple(extra_beam_args or ()), tuple(stages), report)


def needed_paths(config: RunConfig) -> list[tuple[str, str]]:
    """(key, path) of every file or folder the run will read: its inputs and each configured stage's
    path settings (:attr:`tailmine.stages.Stage.paths`: eval sets, models, training inputs, a tokenizer)."""
    specs = {s.name: s for s in available_stages()}
    found = [("inputs", path) for path in config.inputs]
    for name, cfg in config.stages:
        for key in specs[name].paths:
            value = getattr(cfg, key, None)
            for path in [value] if isinstance(value, str) else list(value or ()):
                if path:
                    found.append((f"{name}.{key}", path))
    return found


def check_paths_exist(config: RunConfig) -> None:
    """Before the first stage: every path the run will read exists (a missing eval set or model would
    otherwise stop the run after the stages before it); one error names every missing key and path."""
    missing = []
    for key, path in needed_paths(config):
        try:
            expand_inputs([path])
        except InputError:
            missing.append(f"{key}: {path}")
    if missing:
        raise ConfigError("not found (nothing was run): " + "; ".join(missing))


def _fingerprint(*parts: Any) -> str:
    return fingerprint(parts, length=20)


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
    check_access([*config.inputs, *(path for _, path in needed_paths(config)), config.out], options)
    check_paths_exist(config)
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
                manifests[name] = specs[name].run_stage(source, out_dir, cfg, list(config.beam_args), force=not resume, resume=resume)
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


# --- command line: `tailmine run` (its arguments: tailmine.stages) --------------------------------


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
