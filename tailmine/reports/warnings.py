"""Warnings: the few facts of a run a data team must act on, found by fixed rules over ``collect()``'s data.

Each rule is one function of the collected report and the thresholds, listed in :data:`RULES`; the
README's report section documents every rule with its default. A warning is a plain dict::

    {"rule", "severity", "stage", "source", "message", "value", "threshold"}

``value`` is what was measured and ``threshold`` the limit it crossed, in the same unit (a share of
documents, a p-value, a count), so a dashboard can plot them without parsing the message.
Severities: ``error`` (the output is not usable as is, e.g. an empty holdout) and ``warning``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

SEVERITY_ORDER = {"error": 0, "warning": 1}


@dataclass(frozen=True)
class WarningThresholds:
    source_loss: float = 0.5
    """A source losing more than this share of its documents (or its tokens) in one stage."""
    source_min_documents: int = 10
    """Sources with fewer documents in a stage are not judged (2 of 3 is noise, not a finding)."""
    language_loss_ratio: float = 2.0
    """A language dropped at more than this multiple of the reference language's rate ..."""
    language_min_gap: float = 0.05
    """... and by at least this much more in absolute terms (2 × 1% is 2%: not worth a warning)."""
    language_min_documents: int = 10
    """Languages with fewer documents in the stage are not judged."""
    reference_language: str = "en"
    fit_min_documents: int = 1000
    """A power-law fit over fewer documents than this has too short a tail to say much."""
    fit_min_p: float = 0.1
    """Clauset et al.'s rule: the power law is plausible when the bootstrap p-value is above 0.1."""
    alpha_min: float = 1.2
    alpha_max: float = 4.0
    """Outside [alpha_min, alpha_max] the fitted exponent is unlike any text corpus: suspect the input."""
    holdout_min_documents: int = 100
    """A held-out set smaller than this gives a noisy evaluation."""
    holdout_min_of_requested: float = 0.5
    """... as does one with less than this share of the documents the holdout fraction asked for."""
    document_share: float = 0.05
    """One document taking more than this share of a mixture's tokens."""
    contamination_share: float = 0.01
    """An evaluation set touching more than this share of the documents checked."""
    quarantine_share: float = 0.01
    """More than this share of a file's content records quarantined (unreadable, malformed)."""
    quarantine_files_listed: int = 10
    """Files named one by one per stage (most quarantined records first); the rest are one warning,
    so a folder of 500 files of the wrong format reads as one finding, not 500."""


def warning(rule: str, severity: str, stage: Optional[str], source: Optional[str], message: str, value: Any, threshold: Any) -> dict:
    return {"rule": rule, "severity": severity, "stage": stage, "source": source, "message": message, "value": value, "threshold": threshold}


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


def _top_reasons(reasons: dict[str, int], n: int = 2) -> str:
    top = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return ", ".join(f"{r} ({c:,})" for r, c in top)


def source_loss(report: dict, t: WarningThresholds) -> list[dict]:
    """A source losing > ``source_loss`` of its documents, or of its estimated tokens, in one stage.

    Judged for stages that read documents and write documents; the mix stage leaves documents out by
    design (budget, holdout), so it is not judged here."""
    found = []
    for row in report["funnel"]:
        if row["stage"] == "mix" or not row.get("input_by_source"):
            continue
        tokens_in = row.get("input_tokens_by_source") or {}
        for source, n_in in sorted(row["input_by_source"].items()):
            if n_in < t.source_min_documents:
                continue
            n_out = row["output_by_source"].get(source, 0)
            reasons = {**row.get("dropped_by_source", {}).get(source, {}), **row.get("quarantined_by_source", {}).get(source, {})}
            why = f", mostly {_top_reasons(reasons)}" if reasons else ""
            share = (n_in - n_out) / n_in
            if share > t.source_loss:
                found.append(warning("source_document_loss", "warning", row["stage"], source,
                                     f"{source} lost {n_in - n_out:,} of {n_in:,} documents ({_pct(share)}) in {row['stage']}{why}", share, t.source_loss))
            tok_in, tok_out = tokens_in.get(source), row.get("output_tokens_by_source", {}).get(source, 0)
            if tok_in:
                tshare = (tok_in - tok_out) / tok_in
                if tshare > t.source_loss:
                    found.append(warning("source_token_loss", "warning", row["stage"], source,
                                         f"{source} lost ~{tok_in - tok_out:,} of ~{tok_in:,} tokens ({_pct(tshare)}) in {row['stage']}{why}", tshare, t.source_loss))
    return found


def language_loss(report: dict, t: WarningThresholds) -> list[dict]:
    """A language dropped at > ``language_loss_ratio`` × the reference language's rate (and by at
    least ``language_min_gap`` more): the rules are tuned on English and may not fit it."""
    found = []
    for stage, langs in report.get("languages", {}).items():
        ref = langs.get(t.reference_language)
        if not ref or ref["kept"] + ref["dropped"] < t.language_min_documents:
            continue
        ref_rate = ref["dropped"] / (ref["kept"] + ref["dropped"])
        limit = t.language_loss_ratio * ref_rate
        for lang, c in sorted(langs.items()):
            n = c["kept"] + c["dropped"]
            if lang == t.reference_language or n < t.language_min_documents:
                continue
            rate = c["dropped"] / n
            if rate > limit and rate - ref_rate >= t.language_min_gap:
                found.append(warning("language_loss", "warning", stage, None,
                                     f"{stage} dropped {_pct(rate)} of {lang} documents ({c['dropped']:,} of {n:,}) against {_pct(ref_rate)} of "
                                     f"{t.reference_language}: check the per-language thresholds", rate, limit))
    return found


def power_law_fit(report: dict, t: WarningThresholds) -> list[dict]:
    """The concept fit stands on < ``fit_min_documents`` documents, is rejected (p < ``fit_min_p``),
    or has α outside [``alpha_min``, ``alpha_max``]."""
    fit = (report["sections"].get("concepts") or {}).get("fit") or {}
    pl = fit.get("power_law") or {}
    found = []
    docs = fit.get("documents")
    if docs is not None and docs < t.fit_min_documents:
        found.append(warning("fit_few_documents", "warning", "concepts", None,
                             f"the power-law fit stands on {docs:,} documents (< {t.fit_min_documents:,}): its α and tail are rough", docs, t.fit_min_documents))
    p = pl.get("p_value")
    if p is not None and p < t.fit_min_p:
        found.append(warning("fit_rejected", "warning", "concepts", None,
                             f"the power law is rejected by its goodness-of-fit test (p = {p:.3g} < {t.fit_min_p:g}): read α as a summary, not a law", p, t.fit_min_p))
    alpha = pl.get("alpha")
    if alpha is not None and not t.alpha_min <= alpha <= t.alpha_max:
        found.append(warning("fit_alpha_out_of_range", "warning", "concepts", None,
                             f"α = {alpha:.3g} is outside [{t.alpha_min:g}, {t.alpha_max:g}], unlike text corpora: check the concept extraction and input",
                             alpha, [t.alpha_min, t.alpha_max]))
    return found


def holdout(report: dict, t: WarningThresholds) -> list[dict]:
    """A holdout was asked for (fraction > 0) and holds no document, or too few."""
    recipe = report["sections"].get("mixture") or {}
    h = recipe.get("holdout") or {}
    fraction = h.get("fraction") or 0
    if fraction <= 0:
        return []
    docs = h.get("documents") or 0
    if docs == 0:
        return [warning("holdout_empty", "error", "mix", None, f"the holdout fraction is {fraction:g} but no document was held out", 0, 1)]
    pool = (recipe.get("documents") or {}).get("input") or 0
    needed = max(t.holdout_min_documents, t.holdout_min_of_requested * fraction * pool)
    if docs < needed:
        return [warning("holdout_undersized", "warning", "mix", None,
                        f"the holdout has {docs:,} documents (asked: {fraction:g} of {pool:,}); below {needed:,.0f} its evaluation is noisy", docs, needed)]
    return []


def document_share(report: dict, t: WarningThresholds) -> list[dict]:
    """One document takes > ``document_share`` of a mixture's tokens (all its copies together)."""
    largest = (report["sections"].get("mixture") or {}).get("largest_document") or {}
    share = largest.get("share")
    if share is None or share <= t.document_share:
        return []
    return [warning("document_share", "warning", "mix", largest.get("source"),
                    f"one document ({largest.get('id')}, {largest.get('source')}) is {_pct(share)} of the mixture's tokens "
                    f"({largest.get('tokens', 0):,} tokens): cap it (max_document_share) or add data", share, t.document_share)]


def contamination(report: dict, t: WarningThresholds) -> list[dict]:
    """An evaluation set whose items touch > ``contamination_share`` of the documents checked."""
    section = report["sections"].get("contamination") or {}
    n = section.get("documents_in") or 0
    found = []
    for name, s in sorted((section.get("eval_sets") or {}).items()):
        docs = s.get("documents_affected") or 0
        if n and docs / n > t.contamination_share:
            found.append(warning("contamination", "warning", "decontaminate", None,
                                 f"{name}: {docs:,} of {n:,} documents ({_pct(docs / n)}) contain its items; is the set leaked into the crawl?",
                                 docs / n, t.contamination_share))
    return found


def quarantine(report: dict, t: WarningThresholds) -> list[dict]:
    """More than ``quarantine_share`` of a file's content records quarantined: the worst
    ``quarantine_files_listed`` files of a stage by name, the others summed in one warning."""
    found = []
    for stage, files in report.get("quarantine_by_file", {}).items():
        over = [(path, f) for path, f in files.items() if f["records"] and f["quarantined"] / f["records"] > t.quarantine_share]
        over.sort(key=lambda pf: (-pf[1]["quarantined"], pf[0]))
        for path, f in over[: t.quarantine_files_listed]:
            share = f["quarantined"] / f["records"]
            found.append(warning("quarantine", "warning", stage, path,
                                 f"{path}: {f['quarantined']:,} of {f['records']:,} records quarantined ({_pct(share)}): {_top_reasons(f['reasons'])}",
                                 share, t.quarantine_share))
        rest = over[t.quarantine_files_listed:]
        if rest:
            quarantined, records = sum(f["quarantined"] for _, f in rest), sum(f["records"] for _, f in rest)
            reasons: dict[str, int] = {}
            for _, f in rest:
                for reason, n in f["reasons"].items():
                    reasons[reason] = reasons.get(reason, 0) + n
            found.append(warning("quarantine", "warning", stage, None,
                                 f"{len(rest):,} more files over {_pct(t.quarantine_share)} quarantined: {quarantined:,} of {records:,} records "
                                 f"({_pct(quarantined / records)}): {_top_reasons(reasons)}; e.g. {rest[0][0]}",
                                 quarantined / records, t.quarantine_share))
    return found


RULES: tuple[Callable[[dict, WarningThresholds], list[dict]], ...] = (
    source_loss, language_loss, power_law_fit, holdout, document_share, contamination, quarantine,
)


def find_warnings(report: dict, thresholds: Optional[WarningThresholds] = None) -> list[dict]:
    """Every rule's warnings, errors first, then in pipeline order."""
    thresholds = thresholds or WarningThresholds()
    stage_order = {row["stage"]: i for i, row in enumerate(report.get("funnel", []))}
    found = [w for rule in RULES for w in rule(report, thresholds)]
    return sorted(found, key=lambda w: (SEVERITY_ORDER.get(w["severity"], 9), stage_order.get(w["stage"], 99), w["rule"], str(w["source"])))
