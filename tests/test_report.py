"""The data-quality report: content, self-containedness, and a real browser opening it."""
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import TEST_BEAM_ARGS

SECTIONS = ("warnings", "funnel", "reasons", "distributions", "contamination", "concepts", "tail-coverage", "composition", "run")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from tailmine.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    run_demo(str(out), beam_args=TEST_BEAM_ARGS, stream=open(os.devnull, "w"))
    return out


def test_report_json_funnel_matches_manifests_and_samples_every_quarantine_reason(demo_run):
    from tailmine.schemas import read_manifest

    data = json.loads((demo_run / "report.json").read_text())
    manifest = read_manifest(str(demo_run / "ingest"))
    row = data["funnel"][0]
    assert (row["stage"], row["input"], row["output"]) == ("ingest", manifest.counts.input, manifest.counts.output)
    assert row["quarantined"] == manifest.counts.quarantined
    assert sum(row["output_by_source"].values()) == manifest.counts.output
    assert set(data["samples"]["ingest"]) >= set(manifest.counts.quarantined) | set(manifest.counts.dropped)
    last = [f for f in data["funnel"] if f["stage"] != "mix"][-1]  # mix writes token shards, not documents
    assert data["histograms"]["stage"] == last["stage"] and data["histograms"]["length_chars"]["n"] == last["output"]
    mix = [f for f in data["funnel"] if f["stage"] == "mix"]
    if mix:
        recipe = json.loads((demo_run / "mix" / "recipe.json").read_text())
        assert mix[0]["output_tokens"] == recipe["tokens_total"]
        assert abs(recipe["tokens_total"] - recipe["token_budget"]) <= 0.005 * recipe["token_budget"]
        assert data["sections"]["mixture"]["tail_metrics"]["mixture"]["cov_10"] >= 0
    for before, after in zip(data["funnel"], data["funnel"][1:]):
        assert after["input"] == before["output"], "each stage reads what the one before wrote"
    if "dedup" in [f["stage"] for f in data["funnel"]]:
        assert "dup_cluster_size" in data["histograms"]


def test_demo_report_warns_and_its_funnel_balances_per_source(demo_run):
    data = json.loads((demo_run / "report.json").read_text())
    rules = {w["rule"] for w in data["warnings"]}
    assert "fit_few_documents" in rules, "the demo's fit stands on < 1,000 documents"
    fit_warning = next(w for w in data["warnings"] if w["rule"] == "fit_few_documents")
    assert fit_warning["value"] == data["sections"]["concepts"]["fit"]["documents"] < fit_warning["threshold"] == 1000
    for row in data["funnel"]:
        for reason, n in row["dropped"].items():
            assert sum(r.get(reason, 0) for r in row["dropped_by_source"].values()) == n, (row["stage"], reason)
        for reason, n in row["quarantined"].items():
            assert sum(r.get(reason, 0) for r in row["quarantined_by_source"].values()) == n, (row["stage"], reason)
        assert sum(row["output_by_source"].values()) == row["output"], row["stage"]
        if row["input_by_source"] is not None and row["exact_by_source"] and "(unattributed)" not in row["dropped_by_source"]:
            for source, n_in in row["input_by_source"].items():
                lost = sum(row["dropped_by_source"].get(source, {}).values()) + sum(row["quarantined_by_source"].get(source, {}).values())
                assert n_in == row["output_by_source"].get(source, 0) + lost, (row["stage"], source)
    mix = next(f for f in data["funnel"] if f["stage"] == "mix")
    assert sum(mix["output_tokens_by_source"].values()) == mix["output_tokens"], "real tokens per source add up to the mixture"
    html = (demo_run / "report.html").read_text()
    assert html.index('id="warnings"') < html.index('id="funnel"')
    concepts = html.split('<section id="concepts">')[1].split("</section>")[0]
    assert "data-warning='fit_few_documents'" in concepts, "the plot of a fit on few documents says so where it is drawn"


def test_cli_summary_and_report_show_the_same_token_estimate(demo_run):
    from tailmine.pipelines.run import summary_table
    from tailmine.schemas import read_manifest

    data = json.loads((demo_run / "report.json").read_text())
    manifests = {row["stage"]: read_manifest(str(demo_run / row["stage"])) for row in data["funnel"]}
    lines = summary_table(manifests).splitlines()
    for row in data["funnel"]:
        line = next(l for l in lines if l.split()[0] == row["stage"])
        shown = line.split()[-1]
        expected = f"{row['output_tokens']:,}" if row.get("output_tokens") is not None else f"~{row['output_tokens_estimate']:,}"
        assert shown == expected, (row["stage"], line)


@pytest.fixture(scope="module")
def second_seed(tmp_path_factory):
    from tailmine.demo import run_demo

    out = tmp_path_factory.mktemp("demo-seed1")
    run_demo(str(out), seed=1, beam_args=TEST_BEAM_ARGS, stream=open(os.devnull, "w"))
    return out


def test_compare_two_demo_seeds_funnel_deltas_add_up(demo_run, second_seed, tmp_path):
    from tailmine.cli import main

    assert main(["report", "--compare", str(demo_run), str(second_seed), "--out", str(tmp_path)]) == 0
    diff = json.loads((tmp_path / "compare.json").read_text())
    a = {f["stage"]: f for f in json.loads((demo_run / "report.json").read_text())["funnel"]}
    assert [f["stage"] for f in diff["funnel"]] == list(a)
    assert any(f["output"]["delta"] for f in diff["funnel"]), "two seeds make different samples"
    for f in diff["funnel"]:
        d = {k: f[k]["delta"] for k in ("input", "output", "dropped", "quarantined")}
        assert d["output"] == d["input"] - d["dropped"] - d["quarantined"], f["stage"]
        assert f["output"]["a"] == a[f["stage"]]["output"]
        if f["exact_by_source"]:
            assert sum(v["delta"] for v in f["by_source"].values()) == d["output"], f["stage"]
        drops = [x["delta"] for x in diff["drops"] if x["stage"] == f["stage"] and x["kind"] == "dropped"]
        assert sum(drops) == d["dropped"], f["stage"]
    assert diff["fit"]["alpha"]["delta"] == pytest.approx(diff["fit"]["alpha"]["b"] - diff["fit"]["alpha"]["a"])
    assert {"config", "funnel", "drops", "fit", "tail", "composition"} <= set(diff)
    assert str(demo_run) not in json.dumps(diff["config"]), "paths inside each run are compared relative to it"
    html = (tmp_path / "compare.html").read_text()
    assert html.index('id="config"') < html.index('id="funnel"') and "<script" not in html


def test_report_html_is_self_contained_and_has_every_section(demo_run):
    html = (demo_run / "report.html").read_text()
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    assert 'data-plot="funnel"' in html and 'data-plot="length"' in html
    assert "<script" not in html and "http://" not in html.split("</style>")[0] and "https://" not in html.split("</style>")[0]
    assert "truncated_record" in html and "invalid_json" in html
    assert 'data-plot="contamination"' in html and "demo-eval.jsonl" in html, "the demo's eval set is checked and shown"
    assert "<details data-eval-set=" in html and "kept (same sources)" in html and 'data-tick="x"' in html
    assert "Shown above" not in html


def test_report_on_a_folder_without_stages_names_it(tmp_path):
    from tailmine.errors import ManifestError
    from tailmine.reports import write_report

    with pytest.raises(ManifestError, match=str(tmp_path)):
        write_report(str(tmp_path))


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_browser_opens_report_finds_sections_and_plots_without_console_errors(demo_run, second_seed, tmp_path):
    chromium, driver_path = _chromium(), shutil.which("chromedriver")
    if not chromium or not driver_path:
        message = "headless Chromium not installed (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " -- .ci/run installs it")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get((demo_run / "report.html").as_uri())
        for section in SECTIONS:
            element = driver.find_element(By.ID, section)
            assert element.is_displayed() and element.find_element(By.TAG_NAME, "h2").text
        plots = driver.find_elements(By.CSS_SELECTOR, "svg[data-plot]")
        assert {p.get_attribute("data-plot") for p in plots} >= {"funnel", "length", "reasons-ingest", "composition", "tail-coverage"}
        assert all(p.size["width"] > 100 and p.size["height"] > 20 for p in plots)
        warnings = driver.find_element(By.ID, "warnings")
        assert warnings.location["y"] < driver.find_element(By.ID, "funnel").location["y"], "warnings come first"
        assert "fit_few_documents" not in warnings.text and "power-law fit stands on" in warnings.text
        assert "Source × stage" in driver.find_element(By.ID, "funnel").text
        ticks = driver.find_elements(By.CSS_SELECTOR, "svg[data-plot='length'] text[data-tick]")
        assert len(ticks) >= 4 and all(t.text for t in ticks), "the length histogram's axes are labelled"
        eval_set = driver.find_element(By.CSS_SELECTOR, "#contamination details[data-eval-set]")
        assert not eval_set.find_element(By.TAG_NAME, "table").is_displayed(), "the per-item list starts folded"
        eval_set.find_element(By.TAG_NAME, "summary").click()
        assert eval_set.find_element(By.TAG_NAME, "table").is_displayed()
        reason = next(d for d in driver.find_elements(By.CSS_SELECTOR, "#reasons details[data-reason]") if "beside kept ones" in d.text)
        reason.find_element(By.TAG_NAME, "summary").click()
        assert "kept (same sources)" in reason.text
        errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
        assert errors == []
        from tailmine.reports import write_compare

        compare_html, _ = write_compare(str(demo_run), str(second_seed), str(tmp_path / "compare"))
        driver.get(Path(compare_html).as_uri())
        for section in ("config", "funnel", "drops", "fit", "tail-coverage", "composition"):
            assert driver.find_element(By.ID, section).is_displayed(), section
        assert driver.find_element(By.ID, "config").location["y"] < driver.find_element(By.ID, "funnel").location["y"]
        assert [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")] == []
        driver.get((demo_run / "report.html").as_uri())
        screenshot = demo_run / "report-screenshot.png"
        assert driver.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
    finally:
        driver.quit()
