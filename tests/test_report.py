"""The data-quality report: content, self-containedness, and a real browser opening it."""
import json
import os
import shutil

import pytest

from conftest import TEST_BEAM_ARGS

SECTIONS = ("funnel", "reasons", "distributions", "contamination", "concepts", "tail-coverage", "composition", "run")


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


def test_report_html_is_self_contained_and_has_every_section(demo_run):
    html = (demo_run / "report.html").read_text()
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    assert 'data-plot="funnel"' in html and 'data-plot="length"' in html
    assert "<script" not in html and "http://" not in html.split("</style>")[0] and "https://" not in html.split("</style>")[0]
    assert "truncated_record" in html and "invalid_json" in html
    assert 'data-plot="contamination"' in html and "demo-eval.jsonl" in html, "the demo's eval set is checked and shown"


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


def test_browser_opens_report_finds_sections_and_plots_without_console_errors(demo_run, tmp_path):
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
        assert {p.get_attribute("data-plot") for p in plots} >= {"funnel", "length", "reasons-ingest"}
        assert all(p.size["width"] > 100 and p.size["height"] > 20 for p in plots)
        errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
        assert errors == []
        screenshot = demo_run / "report-screenshot.png"
        assert driver.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
    finally:
        driver.quit()
