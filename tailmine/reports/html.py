"""Render the collected report as one self-contained HTML file: inline CSS and SVG, no script, no CDN.

It opens offline, mails as one attachment, and survives being archived next to the data. Every
section carries an ``id`` and every chart ``data-plot``, so tests (and people) can find them.
"""
from __future__ import annotations

import html
import json
import math
from typing import Any, Iterable, Optional

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
"""
PALETTE = ("#3b6fd8", "#e0703a", "#2c9c6a", "#a455c9", "#c9a227", "#d0435f", "#4aa3b5", "#7a8699")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Optional[float]) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{int(value):,}"


def bar_chart(name: str, items: list[tuple[str, float]], width: int = 520, unit: str = "") -> str:
    """Horizontal bars, one per (label, value)."""
    if not items:
        return f'<p class="muted" data-plot="{_e(name)}">no data</p>'
    top = max(v for _, v in items) or 1
    row, label_w = 22, 250
    h = row * len(items) + 6
    parts = [f'<svg data-plot="{_e(name)}" width="{width}" height="{h}" role="img" aria-label="{_e(name)}">']
    for i, (label, value) in enumerate(items):
        y = i * row + 3
        w = max(1.0, (width - label_w - 90) * value / top)
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">{_e(label)[:40]}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{PALETTE[i % len(PALETTE)]}"><title>{_e(label)}: {_num(value)}{unit}</title></rect>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="12">{_num(value)}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram_chart(name: str, hist: dict, xlabel: str, width: int = 500, height: int = 200) -> str:
    counts, edges = hist.get("counts", []), hist.get("edges", [])
    if not counts:
        return f'<p class="muted" data-plot="{_e(name)}">no data</p>'
    left, bottom = 44, 34
    plot_w, plot_h = width - left - 10, height - bottom - 10
    top = max(counts) or 1
    bw = plot_w / len(counts)
    parts = [f'<svg data-plot="{_e(name)}" width="{width}" height="{height}" role="img" aria-label="{_e(name)}">']
    parts.append(f'<line x1="{left}" y1="{10 + plot_h}" x2="{left + plot_w}" y2="{10 + plot_h}" stroke="#999"/>')
    for i, c in enumerate(counts):
        bh = plot_h * c / top
        parts.append(
            f'<rect x="{left + i * bw:.1f}" y="{10 + plot_h - bh:.1f}" width="{max(bw - 1, 1):.1f}" height="{bh:.1f}" fill="#3b6fd8">'
            f"<title>{_num(edges[i])} – {_num(edges[i + 1])}: {c:,}</title></rect>"
        )
    parts.append(f'<text x="{left}" y="{height - 18}" font-size="11">{_num(edges[0])}</text>')
    parts.append(f'<text x="{left + plot_w}" y="{height - 18}" font-size="11" text-anchor="end">{_num(edges[-1])}</text>')
    scale = " (log scale)" if hist.get("log") else ""
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 4}" font-size="12" text-anchor="middle">{_e(xlabel)}{scale}</text>')
    parts.append(f'<text x="{left - 6}" y="16" font-size="11" text-anchor="end">{top:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


def loglog_chart(name: str, points: list[list[float]], line: Optional[dict] = None, width: int = 520, height: int = 300) -> str:
    """Rank–frequency scatter on log–log axes; ``line`` = {s, c, s_low, s_high} draws df = c·rank^-s and its band."""
    points = [(x, y) for x, y in points if x > 0 and y > 0]
    if not points:
        return f'<p class="muted" data-plot="{_e(name)}">no data</p>'
    left, bottom, pad = 50, 36, 10
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
        parts.append(f'<text x="{sx(v):.1f}" y="{pad + ph + 14}" font-size="11" text-anchor="middle">1e{v}</text>')
    for v in range(math.ceil(y0), math.floor(y1) + 1):
        parts.append(f'<text x="{left - 4}" y="{sy(v) + 4:.1f}" font-size="11" text-anchor="end">1e{v}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 4}" font-size="12" text-anchor="middle">rank</text>')
    parts.append(f'<text x="12" y="{pad + ph / 2}" font-size="12" transform="rotate(-90 12 {pad + ph / 2})" text-anchor="middle">document frequency</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: Iterable[list[Any]], numeric: Iterable[int] = ()) -> str:
    numeric = set(numeric)
    head = "".join(f'<th class="{"n" if i in numeric else ""}">{_e(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="{"n" if i in numeric else ""}">{_num(c) if i in numeric else _e(c)}</td>' for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{section_id}"><h2>{_e(title)}</h2>{body}</section>'


def _missing(stage: str) -> str:
    return f'<p class="note">The {stage} stage has not run in this folder yet; this section fills in when it does.</p>'


def render(report: dict[str, Any]) -> str:
    funnel = report["funnel"]
    sections = []
    # 1. Funnel
    rows = []
    for f in funnel:
        tokens = f.get("output_tokens")
        shown = f"{tokens:,}" if tokens is not None else ("–" if f["output_tokens_estimate"] is None else f"~{f['output_tokens_estimate']:,}")
        rows.append([f["stage"], f["input"], f["output"], sum(f["dropped"].values()), sum(f["quarantined"].values()), shown])
    body = _table(["stage", "records in", "documents out", "dropped", "quarantined", "tokens out"], rows, numeric=(1, 2, 3, 4))
    body += bar_chart("funnel", [(f["stage"], f["output"]) for f in funnel], unit=" docs")
    body += '<p class="muted">Tokens marked ~ are estimated as UTF-8 bytes / 4; the mix stage counts real tokens with its tokenizer.</p>'
    sources = sorted({s for f in funnel for s in f["output_by_source"]})
    if sources:
        body += "<h3>Documents out per source</h3>" + _table(
            ["stage"] + sources, [[f["stage"]] + [f["output_by_source"].get(s, 0) for s in sources] for f in funnel], numeric=range(1, len(sources) + 1)
        )
    sections.append(_section("funnel", "Funnel: documents and tokens per stage", body))
    # 2. Reasons with samples
    body = ""
    for f in funnel:
        reasons = [(r, n, "dropped") for r, n in f["dropped"].items()] + [(r, n, "quarantined") for r, n in f["quarantined"].items()]
        if not reasons:
            continue
        body += f"<h3>{_e(f['stage'])}</h3>" + bar_chart(f"reasons-{f['stage']}", [(f"{r} ({k})", n) for r, n, k in reasons])
        for reason, n, kind in reasons:
            examples = report["samples"].get(f["stage"], {}).get(reason, [])
            if not examples:
                continue
            inner = "".join(
                f"<p class='muted'>{_e(x['where'])} {_e(x.get('detail') or '')}</p><pre>{_e(x['text'])}</pre>" for x in examples
            )
            body += f"<details data-reason='{_e(reason)}'><summary>{_e(reason)}: {n:,} {kind} — {len(examples)} example(s)</summary>{inner}</details>"
    sections.append(_section("reasons", "Why records were dropped or quarantined (with examples)", body or "<p>No record was dropped.</p>"))
    # 3. Distributions
    hist = report.get("histograms") or {}
    body = ""
    if hist:
        body += f"<p class='muted'>Documents after the {_e(hist['stage'])} stage ({hist['documents_read']:,} of {hist['documents_total']:,} read).</p><div class='grid'>"
        body += "<div><h3>Length</h3>" + histogram_chart("length", hist["length_chars"], "characters per document") + "</div>"
        if "language" in hist:
            body += "<div><h3>Language</h3>" + bar_chart("language", sorted(hist["language"].items(), key=lambda kv: -kv[1])[:15], width=460) + "</div>"
        else:
            body += "<div><h3>Language</h3>" + _missing("filter") + "</div>"
        for key, h in hist.items():
            if key.startswith("score:"):
                body += f"<div><h3>{_e(key[6:])}</h3>" + histogram_chart(f"score-{key[6:]}", h, key[6:]) + "</div>"
        if "dup_cluster_size" in hist:
            body += "<div><h3>Duplicate cluster sizes</h3>" + histogram_chart("dup-clusters", hist["dup_cluster_size"], "documents per cluster") + "</div>"
        else:
            body += "<div><h3>Duplicate cluster sizes</h3>" + _missing("dedup") + "</div>"
        body += "</div>"
    sections.append(_section("distributions", "Distributions: length, language, quality scores, duplicates", body or _missing("ingest")))
    # 4. Contamination
    contamination = report["sections"].get("contamination")
    if contamination:
        per_set = contamination.get("decontamination") or {}
        rows = [
            [name, v.get("items"), v.get("items_too_short"), v.get("items_found"), v.get("documents_affected")]
            for name, v in sorted(per_set.items())
            if isinstance(v, dict)
        ]
        body = (
            _table(["eval set", "items", "too short to match", "items found", "documents affected"], rows, numeric=(1, 2, 3, 4))
            if rows
            else f"<pre>{_e(json.dumps(contamination, indent=1)[:3000])}</pre>"
        )
        body += bar_chart("contamination", [(row[0].rsplit("/", 1)[-1], row[4] or 0) for row in rows], unit=" docs")
    else:
        body = _missing("decontaminate")
    sections.append(_section("contamination", "Contamination per evaluation set", body))
    # 5. Concepts
    concepts = report["sections"].get("concepts")
    if concepts:
        fit = concepts.get("fit", {})
        body = loglog_chart("rank-frequency", concepts.get("rank_frequency", []), concepts.get("line"))
        body += "<p class='muted'>Line: the fitted power law of document frequencies over its tail (df ≥ x_min), df ∝ rank^-1/(α-1); band: α's bootstrap 95% interval.</p>"
        pl = fit.get("power_law") or fit
        facts = [[k, pl.get(k)] for k in ("alpha", "alpha_ci", "xmin", "ks", "p_value", "plausible", "zipf_s", "n", "n_tail") if k in pl]
        for name, comparison in sorted((pl.get("comparisons") or {}).items()):
            facts.append([f"vs {name}", f"favours {comparison.get('favours')} (R={comparison.get('loglikelihood_ratio', 0):.3g}, p={comparison.get('p_value', 1):.3g})"])
        if "good_turing_missing_mass" in fit:
            facts.append(["Good–Turing missing mass", fit["good_turing_missing_mass"]])
        if facts:
            body += _table(["fit", "value"], facts)
        if concepts.get("top_concepts"):
            body += "<h3>Most frequent concepts</h3>" + _table(["rank", "concept", "documents"], [[c["rank"], c["concept"], c["df"]] for c in concepts["top_concepts"]], numeric=(0, 2))
    else:
        body = _missing("concepts")
    sections.append(_section("concepts", "Concept rank–frequency (log–log) with the fitted power law", body))
    # 6. Mixture
    mixture = report["sections"].get("mixture")
    if mixture:
        metrics = mixture.get("tail_metrics") or {}
        body = ""
        if metrics:
            chosen, passive = metrics.get("mixture", {}), metrics.get("passive", {})
            keys = [k for k in chosen if k.startswith("cov")]
            body += bar_chart("tail-coverage", [(f"{k} mixture", chosen[k]) for k in keys] + [(f"{k} passive", passive.get(k, 0)) for k in keys])
        by_source = mixture.get("sources") or {}
        if by_source:
            items = [(name, (v.get("tokens") if isinstance(v, dict) else v) or 0) for name, v in by_source.items()]
            body += "<h3>Composition by source</h3>" + bar_chart("composition", items, unit=" tok")
        spread = mixture.get("spread") or {}
        if "mixture" in spread:
            body += "<h3>Spread</h3>" + _table(["mixture", "documents", "units", "largest document share"], [
                [n, spread[n]["documents"], spread[n]["units"], f"{spread[n]['largest_document_share']:.2%}"] for n in ("mixture", "passive")], numeric=(1, 2))
        epochs = mixture.get("epochs") or mixture.get("repetition_profile") or {}
        if epochs:
            body += "<h3>Epochs</h3>" + bar_chart("epochs", [(str(k), v) for k, v in epochs.items()])
        body = body or f"<pre>{_e(json.dumps(mixture, indent=1)[:3000])}</pre>"
        tail_body, comp_body = body, ""
    else:
        tail_body, comp_body = _missing("mix"), _missing("mix")
    sections.append(_section("tail-coverage", "Tail coverage: mixture beside a passive mixture of the same budget", tail_body))
    sections.append(_section("composition", "Mixture composition by source and epochs", comp_body or "<p class='muted'>Shown above.</p>"))
    # 7. Run details
    rows = [[s["stage"], s["folder"], json.dumps(s["parameters"], sort_keys=True)[:300]] for s in report["stages"]]
    sections.append(_section("run", "Run details", _table(["stage", "folder", "parameters"], rows)))
    title = f"tailmine report — {report['run_dir']}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{_e(title)}</title><style>{CSS}</style></head>"
        f"<body><main><h1>tailmine data-quality report</h1><p class='muted'>{_e(report['run_dir'])}</p>"
        + "".join(sections)
        + "</main></body></html>\n"
    )
