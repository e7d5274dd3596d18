"""``tailmine report --compare RUN_A RUN_B``: two runs side by side, as teams tune thresholds.

Both runs are read with :func:`collect` (so the comparison shows exactly what each report shows);
the differences are plain data (``compare.json``) rendered to one self-contained ``compare.html``:
the config difference first, then the funnel per stage and source, drops per rule, the power-law
fit (α, x_min), tail coverage and the mixtures' composition. Every delta is B − A.
"""
from __future__ import annotations

from typing import Any, Optional

from tailmine.reports.html import _e, _num, _section, _table, bar_chart, flatten_settings, page, warnings_section


def _delta(a: Optional[float], b: Optional[float]) -> dict:
    """{a, b, delta}; delta is None when either side is missing (a stage that ran in one run only)."""
    both = isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool)
    return {"a": a, "b": b, "delta": (b - a) if both else None}


def _relative(value: Any, run_dir: str) -> Any:
    """Paths inside the run folder written as ``RUN/...``, so two runs in different folders differ
    only where their settings do."""
    root = run_dir.rstrip("/") + "/"
    if isinstance(value, str):
        return value.replace(root, "RUN/")
    if isinstance(value, list):
        return [_relative(v, run_dir) for v in value]
    if isinstance(value, dict):
        return {_relative(k, run_dir): _relative(v, run_dir) for k, v in value.items()}
    return value


_MISSING = "(stage did not run)"


def config_difference(a: dict, b: dict) -> list[dict]:
    """Every stage parameter whose value differs between the runs (or exists in one only); paths
    inside each run folder are compared relative to it."""
    pa_ = {s["stage"]: flatten_settings(_relative(s.get("parameters") or {}, a["run_dir"])) for s in a["stages"]}
    pb_ = {s["stage"]: flatten_settings(_relative(s.get("parameters") or {}, b["run_dir"])) for s in b["stages"]}
    diff = []
    for stage in [s["stage"] for s in a["stages"]] + [s["stage"] for s in b["stages"] if s["stage"] not in pa_]:
        ka, kb = pa_.get(stage), pb_.get(stage)
        if ka is None or kb is None:
            diff.append({"stage": stage, "key": "", "a": _MISSING if ka is None else "ran", "b": _MISSING if kb is None else "ran"})
            continue
        for key in sorted(set(ka) | set(kb)):
            if ka.get(key, _MISSING) != kb.get(key, _MISSING):
                diff.append({"stage": stage, "key": key, "a": ka.get(key, "(unset)"), "b": kb.get(key, "(unset)")})
    return diff


def funnel_difference(a: dict, b: dict) -> list[dict]:
    """Per stage: documents in and out, dropped, quarantined and tokens out, each as {a, b, delta},
    and documents out per source. For every stage Δout = Δin − Δdropped − Δquarantined, and the
    per-source Δs add up to Δout wherever both runs counted every document per source."""
    fa = {f["stage"]: f for f in a["funnel"]}
    fb = {f["stage"]: f for f in b["funnel"]}
    rows = []
    for stage in list(fa) + [s for s in fb if s not in fa]:
        x, y = fa.get(stage, {}), fb.get(stage, {})

        def get(row, key):
            return row.get(key) if row else None

        def tokens(row):
            return None if not row else (row.get("output_tokens") if row.get("output_tokens") is not None else row.get("output_tokens_estimate"))

        sources = sorted(set(get(x, "output_by_source") or {}) | set(get(y, "output_by_source") or {}))
        rows.append({
            "stage": stage,
            "input": _delta(get(x, "input"), get(y, "input")),
            "output": _delta(get(x, "output"), get(y, "output")),
            "dropped": _delta(sum((get(x, "dropped") or {}).values()) if x else None, sum((get(y, "dropped") or {}).values()) if y else None),
            "quarantined": _delta(sum((get(x, "quarantined") or {}).values()) if x else None, sum((get(y, "quarantined") or {}).values()) if y else None),
            "tokens_out": _delta(tokens(x), tokens(y)),
            "tokens_estimated": bool((x and x.get("output_tokens") is None) or (y and y.get("output_tokens") is None)),
            "by_source": {s: _delta((get(x, "output_by_source") or {}).get(s, 0) if x else None, (get(y, "output_by_source") or {}).get(s, 0) if y else None) for s in sources},
            "exact_by_source": bool(x.get("exact_by_source") and y.get("exact_by_source")) if x and y else False,
        })
    return rows


def drops_difference(a: dict, b: dict) -> list[dict]:
    """Per (stage, reason): records dropped or quarantined in each run."""
    def counts(report):
        out = {}
        for f in report["funnel"]:
            for kind in ("dropped", "quarantined"):
                for reason, n in f[kind].items():
                    out[(f["stage"], reason, kind)] = n
        return out

    ca, cb = counts(a), counts(b)
    order = {f["stage"]: i for i, f in enumerate(a["funnel"] + b["funnel"])}
    keys = sorted(set(ca) | set(cb), key=lambda k: (order.get(k[0], 99), k[2], k[1]))
    return [{"stage": s, "reason": r, "kind": k, **_delta(ca.get((s, r, k), 0), cb.get((s, r, k), 0))} for s, r, k in keys]


def fit_difference(a: dict, b: dict) -> dict:
    def pl(report):
        fit = (report["sections"].get("concepts") or {}).get("fit") or {}
        return {**(fit.get("power_law") or {}), "documents": fit.get("documents")}

    x, y = pl(a), pl(b)
    return {k: _delta(x.get(k), y.get(k)) for k in ("alpha", "xmin", "p_value", "n_tail", "documents") if x.get(k) is not None or y.get(k) is not None}


def tail_difference(a: dict, b: dict) -> dict:
    """Tail coverage of each run's mixture and its passive baseline, metric by metric."""
    out = {}
    for side in ("mixture", "passive"):
        x = ((a["sections"].get("mixture") or {}).get("tail_metrics") or {}).get(side) or {}
        y = ((b["sections"].get("mixture") or {}).get("tail_metrics") or {}).get(side) or {}
        for key in sorted(set(x) | set(y)):
            if key.startswith("cov") and isinstance(x.get(key, y.get(key)), (int, float)):
                out[f"{key} ({side})"] = _delta(x.get(key), y.get(key))
    return out


def composition_difference(a: dict, b: dict) -> dict:
    """Tokens and share of tokens per source in each run's mixture."""
    def shares(report):
        sources = {k: v for k, v in ((report["sections"].get("mixture") or {}).get("sources") or {}).items() if isinstance(v, dict)}
        total = sum(v.get("tokens") or 0 for v in sources.values()) or 1
        return {k: ((v.get("tokens") or 0), (v.get("tokens") or 0) / total) for k, v in sources.items()}

    x, y = shares(a), shares(b)
    return {s: {"tokens": _delta(x.get(s, (0, 0))[0], y.get(s, (0, 0))[0]), "share": _delta(x.get(s, (0, 0))[1], y.get(s, (0, 0))[1])}
            for s in sorted(set(x) | set(y))}


def compare(a: dict, b: dict) -> dict:
    """The differences between two collected reports (A, then B); deltas are B − A."""
    return {
        "run_a": a["run_dir"],
        "run_b": b["run_dir"],
        "config": config_difference(a, b),
        "funnel": funnel_difference(a, b),
        "drops": drops_difference(a, b),
        "fit": fit_difference(a, b),
        "tail": tail_difference(a, b),
        "composition": composition_difference(a, b),
        "warnings": {"a": a.get("warnings", []), "b": b.get("warnings", [])},
    }


def _signed(value: Any) -> str:
    if value is None:
        return "–"
    text = _num(value)
    return text if text.startswith("-") or value == 0 else "+" + text


def _delta_row(label: list, d: dict) -> list:
    return label + [d["a"], d["b"], _e(_signed(d["delta"]))]


def render_compare(diff: dict) -> str:
    """``compare.html``: one self-contained page, config difference on top."""
    sections = []
    config = diff["config"]
    body = _table(["stage", "setting", "A", "B"], [[c["stage"], c["key"], c["a"], c["b"]] for c in config]) if config else "<p>The two runs used the same settings in every stage they share.</p>"
    sections.append(_section("config", "Config difference", body))
    rows = []
    for f in diff["funnel"]:
        for measure in ("input", "output", "dropped", "quarantined", "tokens_out"):
            label = measure.replace("_", " ") + (" (~ estimated)" if measure == "tokens_out" and f["tokens_estimated"] else "")
            rows.append(_delta_row([f["stage"] if measure == "input" else "", label], f[measure]))
    body = _table(["stage", "measure", "A", "B", "Δ (B − A)"], rows, numeric=(2, 3, 4), raw=(4,))
    body += bar_chart("funnel-delta", [(f["stage"], abs(f["output"]["delta"] or 0)) for f in diff["funnel"]], unit=" docs (|Δ| out)")
    src_rows = [_delta_row([f["stage"], s], d) for f in diff["funnel"] for s, d in f["by_source"].items() if d["delta"]]
    body += "<h3>Documents out per source (changed only)</h3>" + (
        _table(["stage", "source", "A", "B", "Δ"], src_rows, numeric=(2, 3, 4), raw=(4,)) if src_rows else "<p>No source changed in any stage.</p>")
    sections.append(_section("funnel", "Funnel per stage and source", body))
    drops = [d for d in diff["drops"] if d["delta"]]
    body = _table(["stage", "rule", "kind", "A", "B", "Δ"], [_delta_row([d["stage"], d["reason"], d["kind"]], d) for d in drops], numeric=(3, 4, 5), raw=(5,)) if drops else "<p>Every rule dropped the same number of records in both runs.</p>"
    sections.append(_section("drops", "Drops per rule (changed only)", body))
    fit = diff["fit"]
    body = _table(["fit", "A", "B", "Δ"], [_delta_row([k], d) for k, d in fit.items()], numeric=(1, 2, 3), raw=(3,)) if fit else "<p>Neither run has a concept fit.</p>"
    sections.append(_section("fit", "Power-law fit: α and x_min", body))
    tail = diff["tail"]
    body = _table(["metric", "A", "B", "Δ"], [_delta_row([k], d) for k, d in tail.items()], numeric=(1, 2, 3), raw=(3,)) if tail else "<p>Neither run has tail metrics.</p>"
    sections.append(_section("tail-coverage", "Tail coverage (mixture and passive baseline)", body))
    comp = diff["composition"]
    rows = [[s, c["tokens"]["a"], c["tokens"]["b"], _e(_signed(c["tokens"]["delta"])), c["share"]["a"], c["share"]["b"]] for s, c in comp.items()]
    body = _table(["source", "tokens A", "tokens B", "Δ tokens", "share A", "share B"], rows, numeric=(1, 2, 3, 4, 5), raw=(3,)) if comp else "<p>Neither run has a mixture.</p>"
    sections.append(_section("composition", "Mixture composition by source", body))
    n = len(diff["warnings"]["a"]) + len(diff["warnings"]["b"])
    body = "<h3>A</h3>" + warnings_section(diff["warnings"]["a"]) + "<h3>B</h3>" + warnings_section(diff["warnings"]["b"])
    sections.append(_section("warnings", f"Warnings of each run ({n})", body))
    return page("tailmine run comparison", f"A: {diff['run_a']}   B: {diff['run_b']}", sections)
