"""Render the collected report as one self-contained HTML file: inline CSS and SVG, no script, no CDN.

It opens offline, mails as one attachment, and survives being archived next to the data. Every
section carries an ``id`` and every chart ``data-plot``, so tests (and people) can find them.
"""
from __future__ import annotations

import html
import math
from typing import Any, Iterable, Optional

from tailmine.reports.text import round_sig, visible_text

CSS = """
body{font:14px/1.45 -apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
section{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:16px 20px;margin:16px 0}
table{border-collapse:collapse;width:100%;margin:6px 0} th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3}
th{background:#f0f2f5;font-weight:600} td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#6b7485} .note{background:#fff8e1;border-left:3px solid #f0b400;padding:6px 10px;margin:8px 0}
details{margin:4px 0} summary{cursor:pointer} pre{white-space:pre-wrap;background:#f6f7f9;padding:8px;border-radius:4px;max-height:200px;overflow:auto;font-size:12px}
svg{display:block;margin:8px 0} .grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}
td{overflow-wrap:anywhere;vertical-align:top} td.n,th{white-space:nowrap} h4{font-size:13px;margin:8px 0 4px}
.sev-error{white-space:nowrap;color:#fff;background:#c0392b;padding:1px 6px;border-radius:3px} .sev-warning{white-space:nowrap;color:#1d2433;background:#f0b400;padding:1px 6px;border-radius:3px}
#warnings{border-left:4px solid #f0b400}
"""
PALETTE = ("#3b6fd8", "#e0703a", "#2c9c6a", "#a455c9", "#c9a227", "#d0435f", "#4aa3b5", "#7a8699")


def _e(value: Any) -> str:
    """Text for HTML: hidden characters made visible, then escaped for element and attribute context."""
    return html.escape(visible_text(value), quote=True)


def _short(value: Any, limit: int) -> str:
    """Escaped and cut to ``limit`` characters (cut first, so no entity is split)."""
    text = visible_text(value)
    return _e(text if len(text) <= limit else text[: limit - 1] + "…")


def _num(value: Any) -> str:
    """A number as a reader wants it: integers with thousands separators, other numbers to 3
    significant figures; lists, mappings and text formatted item by item."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        r = round_sig(value)
        if abs(r) >= 1000:
            return f"{r:,.0f}"
        return f"{r:.3g}" if abs(r) >= 1e-4 else f"{r:.2e}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_num(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return ", ".join(f"{visible_text(k)}: {_num(v)}" for k, v in value.items())
    return visible_text(value)


def _cell(value: Any) -> str:
    return _e(_num(value))


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 × 10^k steps) covering [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, v = [], first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten within [lo, hi] (both > 0); the ends themselves if the range is under a decade."""
    a, b = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    ticks = [10.0**k for k in range(a, b + 1)]
    return ticks if len(ticks) >= 2 else [lo, hi]


def _tick_label(value: float, step: Optional[float] = None) -> str:
    """Compact axis label: 1, 10, 1k, 2.5M, 0.01. With ``step`` (the tick spacing) small values get as
    many decimals as the spacing needs, so 0.999994 and 0.999996 read differently."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size and (step is None or step >= size / 100):
            return _num(round_sig(value / size)) + suffix
    if step is not None and step > 0 and abs(value) < 1000:
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        if round(step * 10**decimals, 6) % 1:  # a 2.5 × 10^k step needs one digit more
            decimals += 1
        return f"{value:,.{decimals}f}"
    return _num(round_sig(value) if value else 0)


def bar_chart(name: str, items: list[tuple[str, float]], width: int = 560, unit: str = "") -> str:
    """Horizontal bars, one per (label, value), each labelled with its value and unit."""
    if not items:
        return f'<p class="muted" data-plot="{_e(name)}">no data</p>'
    top = max(v for _, v in items) or 1
    row, label_w = 22, 250
    h = row * len(items) + 6
    parts = [f'<svg data-plot="{_e(name)}" width="{width}" height="{h}" role="img" aria-label="{_e(name)}">']
    for i, (label, value) in enumerate(items):
        y = i * row + 3
        w = max(1.0, (width - label_w - 110) * value / top)
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">{_short(label, 40)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{PALETTE[i % len(PALETTE)]}"><title>{_e(label)}: {_cell(value)}{_e(unit)}</title></rect>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="12">{_cell(value)}{_e(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram_chart(name: str, hist: dict, xlabel: str, ylabel: str = "documents", width: int = 500, height: int = 220) -> str:
    """Bars over bins, with labelled ticks on both axes; a log x axis when the bins are log-spaced."""
    counts, edges = hist.get("counts", []), hist.get("edges", [])
    if not counts:
        return f'<p class="muted" data-plot="{_e(name)}">no data</p>'
    log = bool(hist.get("log"))
    left, bottom, top_pad = 54, 40, 10
    plot_w, plot_h = width - left - 14, height - bottom - top_pad
    top = max(counts) or 1
    y_ticks = [t for t in nice_ticks(0, top, 4) if t <= top * 1.0001]
    y_top = max(top, y_ticks[-1])
    bw = plot_w / len(counts)
    x_lo, x_hi = edges[0], edges[-1]
    tr = (lambda v: math.log10(max(v, 1e-12))) if log else (lambda v: v)
    span = (tr(x_hi) - tr(x_lo)) or 1

    def sx(v):
        return left + plot_w * (tr(v) - tr(x_lo)) / span

    parts = [f'<svg data-plot="{_e(name)}" width="{width}" height="{height}" role="img" aria-label="{_e(name)}">']
    base = top_pad + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#999"/>')
    parts.append(f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{base}" stroke="#999"/>')
    for i, c in enumerate(counts):
        bh = plot_h * c / y_top
        parts.append(
            f'<rect x="{left + i * bw:.1f}" y="{base - bh:.1f}" width="{max(bw - 1, 1):.1f}" height="{bh:.1f}" fill="#3b6fd8">'
            f"<title>{_cell(edges[i])} – {_cell(edges[i + 1])}: {c:,} {_e(ylabel)}</title></rect>"
        )
    x_ticks = log_ticks(max(x_lo, 1e-12), x_hi) if log else nice_ticks(x_lo, x_hi, 5)
    x_step = None if log or len(x_ticks) < 2 else x_ticks[1] - x_ticks[0]
    for t in x_ticks:
        if x_lo - 1e-9 <= t <= x_hi + 1e-9:
            x = sx(t)
            parts.append(f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" stroke="#999"/>')
            parts.append(f'<text data-tick="x" x="{x:.1f}" y="{base + 16}" font-size="11" text-anchor="middle">{_e(_tick_label(t, x_step))}</text>')
    for t in y_ticks:
        y = base - plot_h * t / y_top
        parts.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{left}" y2="{y:.1f}" stroke="#999"/>')
        parts.append(f'<text data-tick="y" x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{_e(_tick_label(t, y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else None))}</text>')
    scale = " (log scale)" if log else ""
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 4}" font-size="12" text-anchor="middle">{_e(xlabel)}{scale}</text>')
    parts.append(f'<text x="12" y="{top_pad + plot_h / 2}" font-size="12" transform="rotate(-90 12 {top_pad + plot_h / 2})" text-anchor="middle">{_e(ylabel)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def loglog_chart(name: str, points: list[list[float]], line: Optional[dict] = None, width: int = 520, height: int = 300) -> str:
    """Rank–frequency scatter on log–log axes; ``line`` = {s, c, s_low, s_high} draws df = c·rank^-s and its band."""
    points = [(x, y) for x, y in points if x > 0 and y > 0]
    if not points:
        return f'<p class="muted" data-plot="{_e(name)}">no data</p>'
    left, bottom, pad = 56, 38, 10
    pw, ph = width - left - pad, height - bottom - pad
    lx = [math.log10(x) for x, _ in points]
    ly = [math.log10(y) for _, y in points]
    x0, x1 = min(lx), max(lx) or 1
    y0, y1 = min(ly), max(ly)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)

    def sx(v):
        return left + pw * (v - x0) / (x1 - x0)

    def sy(v):
        return pad + ph * (1 - (v - y0) / (y1 - y0))

    parts = [f'<svg data-plot="{_e(name)}" width="{width}" height="{height}" role="img" aria-label="{_e(name)}">']
    parts.append(f'<rect x="{left}" y="{pad}" width="{pw}" height="{ph}" fill="none" stroke="#ccc"/>')
    if line and line.get("s") is not None:
        # drawn unclamped and clipped to the plot area, so the line keeps its true slope at the edges
        clip = f"clip-{_e(name)}"
        parts.append(f'<clipPath id="{clip}"><rect x="{left}" y="{pad}" width="{pw}" height="{ph}"/></clipPath>')
        c = math.log10(line.get("c", 10 ** y1))
        x_end = min(x1, math.log10(line["rank_max"])) if line.get("rank_max") else x1  # the law covers the fitted tail only

        def at(s, v):
            return f"{sx(v):.1f},{sy(c - s * v):.1f}"

        if line.get("s_low") is not None and line.get("s_high") is not None:
            band = [at(line["s_low"], x0), at(line["s_low"], x_end), at(line["s_high"], x_end), at(line["s_high"], x0)]
            parts.append(f'<polygon data-band="1" clip-path="url(#{clip})" fill="#e0703a" fill-opacity="0.18" points="{" ".join(band)}"/>')
        parts.append(
            f'<polyline data-fit="1" clip-path="url(#{clip})" fill="none" stroke="#e0703a" stroke-width="2" points="{at(line["s"], x0)} {at(line["s"], x_end)}"/>'
        )
    for x, y in zip(lx, ly):
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2" fill="#3b6fd8"/>')
    for v in range(math.ceil(x0), math.floor(x1) + 1):
        parts.append(f'<text data-tick="x" x="{sx(v):.1f}" y="{pad + ph + 14}" font-size="11" text-anchor="middle">{_e(_tick_label(10.0**v))}</text>')
    for v in range(math.ceil(y0), math.floor(y1) + 1):
        parts.append(f'<text data-tick="y" x="{left - 4}" y="{sy(v) + 4:.1f}" font-size="11" text-anchor="end">{_e(_tick_label(10.0**v))}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 4}" font-size="12" text-anchor="middle">concept rank (log scale)</text>')
    parts.append(f'<text x="12" y="{pad + ph / 2}" font-size="12" transform="rotate(-90 12 {pad + ph / 2})" text-anchor="middle">documents containing the concept (log)</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: Iterable[list[Any]], numeric: Iterable[int] = (), raw: Iterable[int] = ()) -> str:
    """A table; ``numeric`` columns are right-aligned, ``raw`` columns hold HTML built here (already escaped)."""
    numeric, raw = set(numeric), set(raw)
    head = "".join(f'<th class="{"n" if i in numeric else ""}">{_e(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="{"n" if i in numeric else ""}">{c if i in raw else _cell(c)}</td>' for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{_e(title)}</h2>{body}</section>'


def _missing(stage: str) -> str:
    return f'<p class="note">The {stage} stage has not run in this folder yet; this section fills in when it does.</p>'


def _tokens_cell(row: dict) -> str:
    if row.get("output_tokens") is not None:
        return _num(row["output_tokens"])
    return "–" if row.get("output_tokens_estimate") is None else "~" + _num(row["output_tokens_estimate"])


def warnings_section(warnings: list[dict]) -> str:
    if not warnings:
        return "<p>No warning rule fired (rules and thresholds: README, section Report).</p>"
    rows = [[f"<span class='sev-{_e(w['severity'])}'>{_e(w['severity'])}</span>", w["stage"], w["source"], w["message"], w["value"], w["threshold"]] for w in warnings]
    return _table(["severity", "stage", "source", "what to look at", "value", "threshold"], rows, numeric=(4, 5), raw=(0,))


def funnel_section(funnel: list[dict]) -> str:
    rows = [[f["stage"], f["input"], f["output"], sum(f["dropped"].values()), sum(f["quarantined"].values()), _e(_tokens_cell(f))] for f in funnel]
    body = _table(["stage", "records in", "documents out", "dropped", "quarantined", "tokens out"], rows, numeric=(1, 2, 3, 4, 5), raw=(5,))
    body += bar_chart("funnel", [(f["stage"], f["output"]) for f in funnel], unit=" docs")
    body += '<p class="muted">Tokens marked ~ are estimated as characters / 4 (the same estimate as the command line); the mix stage counts real tokens with its tokenizer.</p>'
    sources = sorted({s for f in funnel for s in f.get("output_by_source", {})} | {s for f in funnel for s in (f.get("input_by_source") or {})})
    if sources:
        stages = [f["stage"] for f in funnel]
        rows = []
        for source in sources:
            rows.append([source, "documents"] + [f.get("output_by_source", {}).get(source, 0) for f in funnel])
            rows.append(["", "tokens"] + [f.get("output_tokens_by_source", {}).get(source) for f in funnel])
        body += "<h3>Source × stage: documents and tokens out</h3>" + _table(["source", ""] + stages, rows, numeric=range(2, len(stages) + 2))
        body += "<p class='muted'>Tokens before mix are estimates (characters / 4); the mix column counts real tokens.</p>"
    losses = []
    for f in funnel:
        for source, reasons in (f.get("dropped_by_source") or {}).items():
            n_in = (f.get("input_by_source") or {}).get(source)
            for reason, n in reasons.items():
                tokens = (f.get("dropped_tokens_by_source") or {}).get(source, {}).get(reason)
                losses.append([f["stage"], source, reason, n, None if not n_in else n / n_in, tokens])
        for source, reasons in (f.get("quarantined_by_source") or {}).items():
            for reason, n in reasons.items():
                losses.append([f["stage"], source, f"{reason} (quarantined)", n, None, None])
    if losses:
        losses.sort(key=lambda r: (-r[3], r[0], r[1], r[2]))
        body += "<h3>Losses by source and reason</h3>" + _table(
            ["stage", "source", "reason", "documents", "share of its input", "tokens (est.)"], losses, numeric=(3, 4, 5))
    return body


def _examples(examples: list[dict]) -> str:
    return "".join(
        f"<p class='muted'>{_e(x['where'])} {_e(x.get('title') or '')} {_e(x.get('detail') or '')}</p><pre>{_e(x['text'])}</pre>" for x in examples
    )


def reasons_section(report: dict) -> str:
    body = ""
    for f in report["funnel"]:
        reasons = [(r, n, "dropped") for r, n in f["dropped"].items()] + [(r, n, "quarantined") for r, n in f["quarantined"].items()]
        if not reasons:
            continue
        body += f"<h3>{_e(f['stage'])}</h3>" + bar_chart(f"reasons-{f['stage']}", [(f"{r} ({k})", n) for r, n, k in reasons], unit=" records" if f["stage"] == "ingest" else " docs")
        for reason, n, kind in reasons:
            examples = report["samples"].get(f["stage"], {}).get(reason, [])
            kept = report.get("kept_samples", {}).get(f["stage"], {}).get(reason, [])
            if not examples:
                continue
            inner = f"<div><h4>{_e(kind)}</h4>{_examples(examples)}</div>"
            if kept:
                inner = f"<div class='grid'>{inner}<div><h4>kept (same sources)</h4>{_examples(kept)}</div></div>"
            body += f"<details data-reason='{_e(reason)}'><summary>{_e(reason)}: {n:,} {kind} — {len(examples)} example(s){' beside kept ones' if kept else ''}</summary>{inner}</details>"
    return body or "<p>No record was dropped or quarantined.</p>"


def distributions_section(hist: dict) -> str:
    if not hist:
        return _missing("ingest")
    body = f"<p class='muted'>Documents after the {_e(hist['stage'])} stage ({hist['documents_read']:,} of {hist['documents_total']:,} read).</p><div class='grid'>"
    body += "<div><h3>Length</h3>" + histogram_chart("length", hist["length_chars"], "characters per document") + "</div>"
    if "language" in hist:
        body += "<div><h3>Language</h3>" + bar_chart("language", sorted(hist["language"].items(), key=lambda kv: -kv[1])[:15], width=460, unit=" docs") + "</div>"
    else:
        body += "<div><h3>Language</h3>" + _missing("filter") + "</div>"
    for key, h in hist.items():
        if key.startswith("score:"):
            body += f"<div><h3>{_e(key[6:])}</h3>" + histogram_chart(f"score-{key[6:]}", h, f"{key[6:]} (score)") + "</div>"
    if "dup_cluster_size" in hist:
        body += "<div><h3>Duplicate cluster sizes</h3>" + histogram_chart("dup-clusters", hist["dup_cluster_size"], "documents per cluster", ylabel="clusters") + "</div>"
    else:
        body += "<div><h3>Duplicate cluster sizes</h3>" + _missing("dedup") + "</div>"
    return body + "</div>"


def contamination_section(section: Optional[dict]) -> str:
    if not section:
        return _missing("decontaminate")
    sets = section.get("eval_sets") or {}
    if not sets:
        return "<p>No evaluation set was checked.</p>"
    rows = [[name, s.get("items"), s.get("items_too_short"), s.get("items_found"), s.get("documents_affected"), s.get("documents_removed"),
             ("~" if s.get("tokens_removed_estimated") else "") + _num(s.get("tokens_removed"))] for name, s in sorted(sets.items())]
    body = _table(["eval set", "items", "too short to match", "items found", "documents affected", "documents removed", "tokens removed"], rows, numeric=range(1, 7))
    body += bar_chart("contamination", [(name.rsplit("/", 1)[-1], s.get("documents_affected") or 0) for name, s in sorted(sets.items())], unit=" docs")
    for name, s in sorted(sets.items()):
        found = s.get("found") or []
        if found:
            table = _table(["item", "index", "documents", "removed", "largest overlap"], [[x["item"], x["index"], x["documents"], x["removed"], x["max_overlap"]] for x in found], numeric=(1, 2, 3, 4))
            body += f"<details data-eval-set='{_e(name)}'><summary>{_e(name)}: {len(found):,} item(s) found</summary>{table}</details>"
    return body


def concepts_section(concepts: Optional[dict]) -> str:
    if not concepts:
        return _missing("concepts")
    fit = concepts.get("fit", {})
    body = loglog_chart("rank-frequency", concepts.get("rank_frequency", []), concepts.get("line"))
    body += "<p class='muted'>Line: the fitted power law of document frequencies over its tail (df ≥ x_min), df ∝ rank^-1/(α-1); band: α's bootstrap 95% interval.</p>"
    pl = fit.get("power_law") or fit
    facts = [[k, pl.get(k)] for k in ("alpha", "alpha_ci", "xmin", "ks", "p_value", "plausible", "zipf_s", "n", "n_tail") if k in pl]
    if "documents" in fit:
        facts.insert(0, ["documents", fit["documents"]])
    for name, comparison in sorted((pl.get("comparisons") or {}).items()):
        facts.append([f"vs {name}", f"favours {comparison.get('favours')} (R={_num(comparison.get('loglikelihood_ratio', 0))}, p={_num(comparison.get('p_value', 1))})"])
    if "good_turing_missing_mass" in fit:
        facts.append(["Good–Turing missing mass", fit["good_turing_missing_mass"]])
    if facts:
        body += _table(["fit", "value"], facts)
    if concepts.get("top_concepts"):
        body += "<h3>Most frequent concepts</h3>" + _table(["rank", "concept", "documents"], [[c["rank"], c["concept"], c["df"]] for c in concepts["top_concepts"]], numeric=(0, 2))
    return body


def tail_section(mixture: Optional[dict]) -> str:
    if not mixture:
        return _missing("mix")
    metrics = mixture.get("tail_metrics") or {}
    chosen, passive = metrics.get("mixture") or {}, metrics.get("passive") or {}
    keys = [k for k in chosen if k.startswith("cov")]
    if not keys:
        return f"<p>{_e(metrics.get('note') or 'The mix stage wrote no tail metrics.')}</p>"
    body = bar_chart("tail-coverage", [(f"{k} mixture", chosen[k]) for k in keys] + [(f"{k} passive", passive.get(k, 0)) for k in keys])
    body += "<p class='muted'>cov_k: share of the tail concepts that the mixture (or the passive mixture of the same budget) exposes at least k times.</p>"
    rows = [[k, chosen.get(k), passive.get(k)] for k in sorted(set(chosen) | set(passive)) if isinstance(chosen.get(k, passive.get(k)), (int, float))]
    body += _table(["metric", "mixture", "passive"], rows, numeric=(1, 2))
    return body


def composition_section(mixture: Optional[dict]) -> str:
    if not mixture:
        return _missing("mix")
    body = ""
    by_source = {k: v for k, v in (mixture.get("sources") or {}).items() if isinstance(v, dict)}
    total = sum((v.get("tokens") or 0) for v in by_source.values()) or 1
    if by_source:
        body += bar_chart("composition", [(name, v.get("tokens") or 0) for name, v in sorted(by_source.items())], unit=" tokens")
        body += _table(["source", "documents in the pool", "tokens", "share of tokens", "epochs", "weight"],
                       [[name, v.get("documents"), v.get("tokens"), (v.get("tokens") or 0) / total, v.get("epochs"), v.get("weight")] for name, v in sorted(by_source.items())],
                       numeric=range(1, 6))
    largest = mixture.get("largest_document")
    if largest:
        body += f"<p>Largest document: {_e(largest['id'])} ({_e(largest['source'])}), {_num(largest['tokens'])} tokens, {_num(100 * largest['share'])}% of the mixture.</p>"
    spread = mixture.get("spread") or {}
    if "mixture" in spread:
        body += "<h3>Spread</h3>" + _table(["mixture", "documents", "units", "largest document share"], [
            [n, spread[n]["documents"], spread[n]["units"], f"{_num(100 * spread[n]['largest_document_share'])}%"] for n in ("mixture", "passive") if n in spread], numeric=(1, 2))
    profile = mixture.get("repetition_profile") or {}
    epochs = mixture.get("epochs") or profile.get("units_by_epochs") or profile.get("documents_by_epochs") or {}
    if epochs:  # the mix stage counts training units (recipe format 2); older recipes counted documents
        what = "units" if mixture.get("recipe_format", 1) >= 2 or "units_by_epochs" in profile else "docs"
        body += f"<h3>{'Units' if what == 'units' else 'Documents'} by epochs</h3>" + bar_chart("epochs", [(f"{k} epoch(s)", v) for k, v in epochs.items()], unit=f" {what}")
    holdout = mixture.get("holdout") or {}
    if holdout.get("fraction"):
        body += f"<p>Holdout: {_num(holdout.get('documents'))} documents, {_num(holdout.get('tokens'))} tokens (fraction {_num(holdout.get('fraction'))}).</p>"
    return body or "<p>The mix stage wrote no composition.</p>"


def flatten_settings(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``{"a.b.c": leaf}`` in sorted key order (an empty dict is a leaf): one row per
    setting in the run details, one comparable key per setting in ``--compare``."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in sorted(value.items()):
            out.update(flatten_settings(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix or "(value)": value}


def run_section(stages: list[dict]) -> str:
    body = ""
    for s in stages:
        rows = [["folder", s["folder"]], ["tailmine version", s.get("tailmine_version")]] + [[k, v] for k, v in flatten_settings(s.get("parameters") or {}).items()]
        body += f"<details data-stage='{_e(s['stage'])}'><summary>{_e(s['stage'])}: {len(rows) - 2} parameter(s)</summary>{_table(['setting', 'value'], rows)}</details>"
    return body


def page(title: str, subtitle: str, sections: list[str]) -> str:
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{_e(title)}</title><style>{CSS}</style></head>"
        f"<body><main><h1>{_e(title)}</h1><p class='muted'>{_e(subtitle)}</p>" + "".join(sections) + "</main></body></html>\n"
    )


def _inline(warnings: list[dict], rules: tuple[str, ...]) -> str:
    """The warnings about what a section shows, repeated where the reader looks at it."""
    return "".join(f"<p class='note' data-warning='{_e(w['rule'])}'>⚠ {_e(w['message'])}</p>" for w in warnings if w["rule"] in rules)


def render(report: dict[str, Any]) -> str:
    sections = report.get("sections", {})
    mixture = sections.get("mixture")
    warnings = report.get("warnings", [])
    parts = [
        _section("warnings", f"Warnings ({len(warnings)})", warnings_section(warnings)),
        _section("funnel", "Funnel: documents and tokens per stage and source",
                 _inline(warnings, ("source_document_loss", "source_token_loss", "language_loss")) + funnel_section(report["funnel"])),
        _section("reasons", "Why records were dropped or quarantined (with examples, beside kept documents)", reasons_section(report)),
        _section("distributions", "Distributions: length, language, quality scores, duplicates", distributions_section(report.get("histograms") or {})),
        _section("contamination", "Contamination per evaluation set", _inline(warnings, ("contamination",)) + contamination_section(sections.get("contamination"))),
        _section("concepts", "Concept rank–frequency (log–log) with the fitted power law",
                 _inline(warnings, ("fit_few_documents", "fit_rejected", "fit_alpha_out_of_range")) + concepts_section(sections.get("concepts"))),
        _section("tail-coverage", "Tail coverage: mixture beside a passive mixture of the same budget", tail_section(mixture)),
        _section("composition", "Mixture composition by source and epochs",
                 _inline(warnings, ("document_share", "holdout_empty", "holdout_undersized")) + composition_section(mixture)),
        _section("run", "Run details", run_section(report["stages"])),
    ]
    return page("tailmine data-quality report", report["run_dir"], parts)
