"""The report's content without Beam: warning rules, drop attribution, number and text formatting,
and escaping of everything taken from documents, on a small run folder written here by hand."""
import hashlib
import json
import re
from html.parser import HTMLParser

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tailmine.reports import ReportConfig, WarningThresholds, collect, compare, find_warnings, render, write_report
from tailmine.reports.collect import UNATTRIBUTED, attribute_drops
from tailmine.reports.compare import render_compare
from tailmine.reports.html import _num, histogram_chart, nice_ticks
from tailmine.reports.text import estimate_tokens, visible_text
from tailmine.schemas import DOCUMENT_SCHEMA
from tailmine.schemas.document import QUARANTINE_SCHEMA
from tailmine.schemas.manifest import Counts, Manifest, ShardInfo, read_manifest

# Breaks out of an element (script), of a double- and a single-quoted attribute, and hides a
# right-to-left override: each field gets it with its own marker so the test can find it again.
ATTACK = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>'><svg onload=alert(3)>\u202e"


def payload(field: str) -> str:
    return f"{field.upper()}-MARK {ATTACK}"


def _write(stage_dir, rel_path, rows, schema=None):
    """Write rows to STAGE_DIR/REL_PATH; returns the manifest's entry for the shard."""
    path = stage_dir / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema) if schema is not None else pa.Table.from_pylist(rows)
    pq.write_table(table, path)
    return ShardInfo(rel_path, table.num_rows, path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())


def _doc(i, source, text, lang=None, **extra):
    row = {"id": payload("id") + f"-{i}", "source": source, "url": payload("url"), "title": payload("title"), "text": text, "raw_bytes": len(text),
           "timestamp": None, "source_file": payload("source_file"), "source_record": i, "source_offset": None, "metadata": None}
    if lang is not None:
        row["lang"] = lang
    row.update(extra)
    return row


def _manifest(folder, stage, outputs, counts, quarantine=(), removed=(), extra=None, parameters=None):
    Manifest(stage=stage, tailmine_version="test", schema_version="1", parameters=parameters or {"note": payload("parameter")},
             inputs=[], outputs=list(outputs), quarantine=list(quarantine), counts=counts, extra=extra or {}, removed=list(removed)).write(str(folder))


def make_run(root, books=20, books_dropped=15):
    """A run of ingest -> filter -> decontaminate -> concepts -> mix with payloads in every field that
    comes from documents (ids, URLs, titles, text, files, sources, languages, eval items, concepts)."""
    src = payload("source")
    text = payload("text") + " plain words \x07 and a bell " * 3
    docs = [_doc(i, "gutenberg", text) for i in range(books)] + [_doc(books + i, src, text) for i in range(5)]
    ingest = root / "ingest"
    out = _write(ingest, "docs/part-00000.parquet", docs, DOCUMENT_SCHEMA)
    q = _write(ingest, "quarantine/part-00000.parquet", [
        {"source_file": payload("source_file"), "source_record": 7, "source_offset": 0, "stage": "ingest", "reason": "invalid_json",
         "detail": payload("detail"), "snippet": payload("snippet").encode() + b"\xff\xfe"}], QUARANTINE_SCHEMA)
    _manifest(ingest, "ingest", [out], Counts(len(docs) + 1, len(docs), {}, {"invalid_json": 1}),
              quarantine=[q], extra={"output_chars": sum(len(d["text"]) for d in docs)})

    lang = payload("lang")
    kept = [dict(d, lang="en") for d in docs[books_dropped:]]
    dropped = [dict(d, lang=lang, drop_reason="gopher_long_doc") for d in docs[:books_dropped]]
    filt = root / "filter"
    out = _write(filt, "docs/part-00000.parquet", kept)
    rem = _write(filt, "removed/part-00000.parquet", dropped)
    _manifest(filt, "filter", [out], Counts(len(docs), len(kept), {"gopher_long_doc": len(dropped)}, {}),
              removed=[rem])

    eval_set = payload("eval_set")
    deco = root / "decontaminate"
    out = _write(deco, "docs/part-00000.parquet", kept[1:])
    rem = _write(deco, "removed/part-00000.parquet", [dict(kept[0], drop_reason="contaminated")])
    pq.write_table(pa.table({"id": [kept[0]["id"]], "eval_file": [eval_set], "item_index": [0], "item_id": [payload("eval_item")], "overlap": [0.9], "kept": [False]}),
                   deco / "contamination.parquet")
    _manifest(deco, "decontaminate", [out], Counts(len(kept), len(kept) - 1, {"contaminated": 1}, {}),
              removed=[rem],
              extra={"decontamination": {eval_set: {"items": 3, "items_too_short": 0, "items_found": 1, "documents_affected": 1}}, "documents_affected": 1})

    concepts = root / "concepts"
    out = _write(concepts, "docs/part-00000.parquet", kept[1:])
    pq.write_table(pa.table({"concept": [payload("concept"), "ordinary"], "df": [5, 2], "rank": [1, 2]}), concepts / "concepts.parquet")
    (concepts / "fit.json").write_text(json.dumps({"documents": len(kept) - 1, "power_law": {"alpha": 5.5, "p_value": 0.02, "xmin": 2}}))
    _manifest(concepts, "concepts", [out], Counts(len(kept) - 1, len(kept) - 1, {}, {}))

    mix = root / "mix"
    mixed = kept[1:]
    _write(mix, "tokens/mix-00000.lineage.parquet", [{"id": d["id"], "source": d["source"], "tokens": 10 + 90 * (i == 0)} for i, d in enumerate(mixed)])
    total = 10 * (len(mixed) - 1) + 100
    recipe = {"tokens_total": total, "sources": {src: {"documents": len(mixed), "tokens": total, "epochs": 1.0}},
              "holdout": {"fraction": 0.1, "documents": 0, "tokens": 0}, "documents": {"input": len(mixed)},
              "shards": [{"path": "tokens/mix-00000.bin"}],
              "tail_metrics": {"mixture": {"cov_1": 0.5}, "passive": {"cov_1": 0.4}}, "epochs": {"1": len(mixed)}}
    (mix / "recipe.json").write_text(json.dumps(recipe))
    _manifest(mix, "mix", [], Counts(len(mixed), len(mixed), {}, {}), extra={"tokens_total": total, "token_shards": [{"path": "tokens/mix-00000.bin"}], "holdout_shards": []})
    return root


class Page(HTMLParser):
    """Every tag, attribute and text node of a page, as a browser's parser sees them."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.attributes, self.text = [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)


SAFE_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3", "h4", "p", "section", "table", "thead", "tbody", "tr", "th", "td",
             "details", "summary", "pre", "div", "span", "svg", "rect", "text", "line", "circle", "polygon", "polyline", "clippath", "title"}


def _assert_safe(page_html: str, fields: list[str]) -> None:
    page = Page(page_html)
    assert set(page.tags) <= SAFE_TAGS, set(page.tags) - SAFE_TAGS
    assert not [name for name, _ in page.attributes if name.startswith("on")], "an event handler attribute was injected"
    assert not [v for name, v in page.attributes if name in ("href", "src") and v], "a link or source was injected"
    shown = "\n".join(page.text) + "\n".join(v or "" for _, v in page.attributes)
    visible_attack = visible_text(ATTACK)
    for field in fields:
        assert f"{field.upper()}-MARK {visible_attack}" in shown, f"{field}: payload not shown intact (escaped) in the page"
    assert "\u202e" not in page_html, "a bidirectional override reached the page unescaped"


DOCUMENT_FIELDS = ["id", "url", "title", "text", "source_file", "source", "detail", "snippet", "lang", "eval_set", "eval_item", "concept", "parameter"]


def test_every_field_from_documents_is_escaped_in_report_and_comparison(tmp_path):
    run = make_run(tmp_path / "run")
    html_path, json_path = write_report(str(run))
    page_html = open(html_path, encoding="utf-8").read()
    _assert_safe(page_html, DOCUMENT_FIELDS)
    assert "<script" not in page_html and "\\x07" in page_html and "\\xff\\xfe" in page_html, "hidden bytes are shown as escapes"
    data = json.loads(open(json_path).read())
    other = make_run(tmp_path / "other", books_dropped=10)
    manifest = read_manifest(str(other / "filter"))
    manifest.parameters = {"note": payload("parameter") + " changed"}
    manifest.write(str(other / "filter"))
    diff = compare(data, collect(str(other)))
    _assert_safe(render_compare(diff), ["parameter", "source", "source_file"])


def test_synthetic_run_raises_the_rules_it_was_built_to_raise(tmp_path):
    data = collect(str(make_run(tmp_path / "run")))
    rules = {(w["rule"], w["source"]) for w in data["warnings"]}
    assert ("source_document_loss", "gutenberg") in rules and ("source_token_loss", "gutenberg") in rules  # 15 of 20 books dropped
    assert {r for r, _ in rules} >= {"language_loss", "fit_rejected", "fit_alpha_out_of_range", "fit_few_documents", "holdout_empty",
                                    "document_share", "contamination", "quarantine"}
    assert data["warnings"][0]["rule"] == "holdout_empty" and data["warnings"][0]["severity"] == "error", "errors come first"
    for w in data["warnings"]:
        assert set(w) == {"rule", "severity", "stage", "source", "message", "value", "threshold"}
    html_text = render(data)
    assert html_text.index('id="warnings"') < html_text.index('id="funnel"')
    filt = next(f for f in data["funnel"] if f["stage"] == "filter")
    assert filt["dropped_by_source"] == {"gutenberg": {"gopher_long_doc": 15}}
    assert filt["input_by_source"]["gutenberg"] == 20 and filt["output_by_source"]["gutenberg"] == 5


def test_source_loss_needs_more_than_the_threshold(tmp_path):
    data = collect(str(make_run(tmp_path / "run", books=20, books_dropped=10)))  # exactly 50%: not more than half
    assert not [w for w in data["warnings"] if w["rule"] == "source_document_loss"]
    data = collect(str(make_run(tmp_path / "run2", books=20, books_dropped=11)), ReportConfig(warnings=WarningThresholds(source_loss=0.6)))
    assert not [w for w in data["warnings"] if w["rule"] == "source_document_loss"]


def test_language_rule_compares_with_english_and_ignores_small_gaps():
    base = {"funnel": [], "sections": {}}
    langs = {"en": {"kept": 90, "dropped": 10}, "de": {"kept": 70, "dropped": 30}, "fr": {"kept": 85, "dropped": 15}, "ja": {"kept": 1, "dropped": 5}}
    found = find_warnings({**base, "languages": {"filter": langs}})
    assert [(w["rule"], w["value"]) for w in found] == [("language_loss", 0.3)], "de at 3x English; fr at 1.5x; ja too small to judge"
    assert found[0]["threshold"] == pytest.approx(0.2)
    langs["en"] = {"kept": 100, "dropped": 0}
    langs["fr"] = {"kept": 98, "dropped": 2}  # 2% against 0%: under the absolute gap
    assert [w["message"].split(" of ")[1].split(" ")[0] for w in find_warnings({**base, "languages": {"filter": langs}})] == ["de"]


def test_fit_and_holdout_rules_at_their_edges():
    def run(fit=None, recipe=None):
        return {w["rule"] for w in find_warnings({"funnel": [], "sections": {"concepts": {"fit": fit or {}}, "mixture": recipe or {}}})}

    assert run({"documents": 1000, "power_law": {"alpha": 1.2, "p_value": 0.1}}) == set()
    assert run({"documents": 999, "power_law": {"alpha": 4.01, "p_value": 0.099}}) == {"fit_few_documents", "fit_alpha_out_of_range", "fit_rejected"}
    assert run(recipe={"holdout": {"fraction": 0.0, "documents": 0}}) == set(), "no holdout asked for: nothing to warn"
    assert run(recipe={"holdout": {"fraction": 0.05, "documents": 0}}) == {"holdout_empty"}
    assert run(recipe={"holdout": {"fraction": 0.05, "documents": 99}, "documents": {"input": 1000}}) == {"holdout_undersized"}
    assert run(recipe={"holdout": {"fraction": 0.05, "documents": 100}, "documents": {"input": 1000}}) == set()
    assert run(recipe={"holdout": {"fraction": 0.5, "documents": 2000}, "documents": {"input": 10000}}) == {"holdout_undersized"}, "under half of what was asked"
    assert run(recipe={"largest_document": {"share": 0.05}}) == set() and run(recipe={"largest_document": {"share": 0.0501}}) == {"document_share"}


def test_quarantine_names_the_worst_files_and_sums_the_rest():
    """A folder of files in the wrong format is one finding: the worst files by name, the rest in one line."""
    files = {f"in/{i:03d}.json": {"records": 10, "quarantined": 10 if i % 2 else 9, "reasons": {"invalid_json": 10 if i % 2 else 9}} for i in range(25)}
    files["in/fine.jsonl"] = {"records": 1000, "quarantined": 10, "reasons": {"invalid_json": 10}}  # exactly 1%: not over
    found = [w for w in find_warnings({"funnel": [], "sections": {}, "quarantine_by_file": {"ingest": files}}) if w["rule"] == "quarantine"]
    named = [w["source"] for w in found if w["source"]]
    assert len(found) == 11 and len(named) == 10
    assert all(int(p[3:6]) % 2 for p in named), "the files with the most quarantined records are the ones named"
    rest = [w for w in found if w["source"] is None][0]
    assert rest["message"].startswith("15 more files") and "137 of 150 records" in rest["message"] and "invalid_json (137)" in rest["message"]
    few = find_warnings({"funnel": [], "sections": {}, "quarantine_by_file": {"ingest": dict(list(files.items())[:3])}},
                        WarningThresholds(quarantine_files_listed=10))
    assert [w["source"] for w in few] == ["in/000.json", "in/001.json", "in/002.json"], "few enough: every file named"


def test_attribute_drops_places_only_what_is_certain():
    assert attribute_drops({"a": 3}, {"x": {"a": 2}, "y": {"a": 1}}, None) == {"x": {"a": 2}, "y": {"a": 1}}
    # one reason left and the per-source losses account for it exactly: placed by source
    assert attribute_drops({"a": 2, "b": 5}, {"x": {"a": 2}}, {"x": 4, "y": 3}) == {"x": {"a": 2, "b": 2}, "y": {"b": 3}}
    # two reasons left: which source lost which is unknown, so it is not guessed
    assert attribute_drops({"a": 2, "b": 5}, {}, {"x": 4, "y": 3}) == {UNATTRIBUTED: {"a": 2, "b": 5}}
    assert attribute_drops({"b": 5}, {}, {"x": 4, "y": 3}) == {UNATTRIBUTED: {"b": 5}}, "losses (7) do not match the count (5)"


def test_numbers_are_rounded_and_hidden_bytes_shown():
    assert _num(0.36216293337137967) == "0.362" and _num(12345.678) == "12,300" and _num(1234567) == "1,234,567"
    assert _num([2.187114676535392, 2.31049375043874]) == "[2.19, 2.31]" and _num(5.108764243624257e-38) == "5.11e-38" and _num(None) == "–"
    assert visible_text(b"ok \xff\xfe end") == "ok \\xff\\xfe end"
    assert visible_text("a\tb\nc\x00d\u200be\u202ef\ufffd") == "a\tb\nc\\x00d\\u200be\\u202ef\\ufffd"
    assert estimate_tokens(10) == 2 and estimate_tokens(None) is None


def test_histogram_ticks_are_labelled_and_distinct_on_narrow_and_log_ranges():
    narrow = histogram_chart("n", {"edges": [0.999993 + i * 0.0000007 for i in range(11)], "counts": [1] * 10, "log": False}, "score")
    labels = re.findall(r'data-tick="x"[^>]*>([^<]+)<', narrow)
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    log = histogram_chart("l", {"edges": [10 ** (i / 2) for i in range(11)], "counts": [1] * 10, "log": True}, "characters per document")
    assert re.findall(r'data-tick="x"[^>]*>([^<]+)<', log) == ["1", "10", "100", "1k", "10k", "100k"] and "(log scale)" in log
    assert re.findall(r'data-tick="y"[^>]*>([^<]+)<', log), "the count axis is labelled"
    assert nice_ticks(0, 600) == [0, 200, 400, 600]


def test_sampled_report_still_sums_per_reason_and_marks_estimates(tmp_path):
    data = collect(str(make_run(tmp_path / "run")), ReportConfig(max_rows=3))
    for row in data["funnel"]:
        for reason, n in row["dropped"].items():
            assert sum(r.get(reason, 0) for r in row["dropped_by_source"].values()) == n, (row["stage"], reason)
    filt = next(f for f in data["funnel"] if f["stage"] == "filter")
    assert filt["exact_by_source"] is False and filt["dropped_by_source"][UNATTRIBUTED]["gopher_long_doc"] == 12, "3 of 15 removed rows read"
    assert sum(filt["output_by_source"].values()) == filt["output"], "scaled up from the rows read"


def test_report_command_needs_one_run_or_two_to_compare(tmp_path, capsys):
    from tailmine.cli import main

    run = make_run(tmp_path / "run")
    assert main(["report", str(run), "--compare", str(run), str(run)]) == 2
    assert main(["report"]) == 2
    assert "RUN_DIR" in capsys.readouterr().err
    assert main(["report", "--compare", str(run), str(run), "--out", str(tmp_path / "cmp")]) == 0
    diff = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert diff["config"] == [] and all(f["output"]["delta"] == 0 for f in diff["funnel"]), "a run compared with itself differs nowhere"
