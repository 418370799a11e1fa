"""report.html in headless Chromium, from disk, with the network disabled.

Asserts no console errors and that every figure rendered (non-zero natural size and
on-screen box), and saves a full-page screenshot as ``report.png`` next to the report.
Chromium comes from the Debian packages ``chromium`` and ``chromium-driver``; the
``chromium`` fixture installs them (root + apt) or skips with the reason.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-extensions", "--disable-default-apps",
         "--disable-dev-shm-usage", "--proxy-server=http://127.0.0.1:9",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1280,1000"]

FIGURES_JS = """
const out = [];
for (const im of document.images) {
  const r = im.getBoundingClientRect();
  out.push({kind: 'img', alt: im.alt, complete: im.complete, nw: im.naturalWidth,
            nh: im.naturalHeight, w: r.width, h: r.height});
}
for (const sv of document.querySelectorAll('svg')) {
  const r = sv.getBoundingClientRect();
  out.push({kind: 'svg', alt: '', complete: true, nw: r.width, nh: r.height,
            w: r.width, h: r.height});
}
return out;
"""


def _driver(chromium: dict, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not download anything
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium["binary"]
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(executable_path=chromium["driver"]))


def check_in_browser(chromium: dict, report: Path, profile: Path) -> dict:
    """Load ``report`` offline; assert no console errors and every figure rendered;
    save ``report.png`` beside it. Returns what was measured."""
    driver = _driver(chromium, profile)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        driver.get(report.resolve().as_uri())
        driver.execute_script("return document.readyState")
        assert driver.title.startswith(("Fairness report", "Comparison"))
        figures = driver.execute_script(FIGURES_JS)
        resources = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        logs = driver.get_log("browser")
        metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics["cssContentSize"]
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                     "scale": 1}})
    finally:
        driver.quit()
    png = report.parent / "report.png" if report.name == "report.html" else \
        report.with_suffix(".png")
    png.write_bytes(base64.b64decode(shot["data"]))
    errors = [e for e in logs if e.get("level") == "SEVERE"]
    assert not errors, f"console errors: {errors}"
    assert [r for r in resources if not r.startswith("data:")] == [], resources
    bad = [f for f in figures if not (f["complete"] and f["nw"] > 0 and f["nh"] > 0
                                      and f["w"] > 0 and f["h"] > 0)]
    assert not bad, f"figures that did not render: {bad}"
    return {"figures": figures, "png": png, "height": size["height"]}


def test_fixture_report_renders_offline(chromium, fixture_report: Path, tmp_path: Path):
    n_img = fixture_report.read_text(encoding="utf-8").count("<img ")
    seen = check_in_browser(chromium, fixture_report, tmp_path / "profile")
    assert len(seen["figures"]) == n_img >= 15
    png = seen["png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    height = int.from_bytes(png[20:24], "big")
    assert height >= 1000 and height == pytest.approx(seen["height"], abs=2)


@pytest.mark.e2e
def test_small_run_report_renders_offline(chromium, tmp_path: Path):
    """The real pipeline on a few counterfactual groups: report.html opens and draws."""
    import yaml

    import judge

    root = Path(__file__).resolve().parents[2]
    cfg = {"name": "browser", "output_dir": str(tmp_path / "runs"), "seed": 7,
           "queries": {"scenarios": [str(root / "datasets/scenarios/*.yaml")], "limit": 3},
           "generators": [{"model": "sim/generator", "samples": 1, "concurrency": 8}],
           "judges": [{"model": "sim/judge", "concurrency": 8}],
           "rubrics": ["decision_dev"], "plugins": {"sim": {"profile": str(root / "datasets/sim/default.yaml")}},
           "human_labels": {"simulate": {"raters": 2, "items": 24}},
           "cache": {"enabled": False}, "report": {"bootstrap": 200, "min_cell": 5}}
    path = tmp_path / "browser.yaml"
    path.write_text(yaml.safe_dump(cfg))
    judge.run(str(path))
    report = tmp_path / "runs" / "browser" / "report.html"
    assert report.is_file()
    seen = check_in_browser(chromium, report, tmp_path / "profile")
    assert len(seen["figures"]) >= 2  # headline forest plots and judge bias at least
    assert (report.parent / "report.png").stat().st_size > 10_000


def test_check_catches_broken_figures_and_blocked_fetches(chromium, tmp_path: Path):
    """The checker itself fails on a figure that does not decode and on a network fetch."""
    bad = tmp_path / "report.html"
    bad.write_text("<!DOCTYPE html><html><head><title>Fairness report: broken</title></head>"
                   "<body><img src=\"data:image/png;base64,AAAA\" alt=\"broken\">"
                   "<img src=\"https://example.invalid/x.png\" alt=\"remote\"></body></html>")
    with pytest.raises(AssertionError) as err:
        check_in_browser(chromium, bad, tmp_path / "profile")
    msg = str(err.value)
    assert "console errors" in msg or "did not render" in msg
    assert (tmp_path / "report.png").is_file()
