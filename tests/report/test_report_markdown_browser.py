"""report.md rendered by a CommonMark renderer (markdown-it-py, raw HTML allowed, as
GitHub-like viewers and many editors do) and loaded in headless Chromium: hostile model
names, levels and warnings execute no script and load nothing."""

from __future__ import annotations

import re

import pytest

from tests.report.test_report_browser import _driver

pytest.importorskip("markdown_it")

PAYLOADS = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=2</script>",
    '<svg onload="window.__pwned=3"></svg>',
    '<a href="javascript:window.__pwned=4">x</a>',
    '[click](javascript:window.__pwned=5)',
    '<iframe src="javascript:window.__pwned=6"></iframe>',
    "a|b",
]


def hostile_report() -> str:
    from judge.stages.report import render_markdown

    rows = [{"metric": "selection_rate_diff", "generator": p, "attribute": "race", "level": p,
             "reference": p, "value": 0.1, "ci_low": 0.0, "ci_high": 0.2, "n": 50,
             "p_adj": 0.5, "warning": p} for p in PAYLOADS]
    manifest = {"name": PAYLOADS[0], "generators": PAYLOADS, "judges": PAYLOADS,
                "rubrics": {PAYLOADS[1]: PAYLOADS[2]}, "counts": {PAYLOADS[3]: 1},
                "status": "failed", "failed_stages": {"generate": {"errors": 1, "calls": 1}},
                "last_call_errors": [{"kind": "connection", "message": PAYLOADS[0]}]}
    cal = {"note": PAYLOADS[1], "bias": [{"metric": "mean_bias", "judge": p, "criterion": p,
                                          "attribute": "race", "group": p, "value": 0.1,
                                          "ci_low": 0, "ci_high": 1, "n": 3} for p in PAYLOADS]}
    return render_markdown(manifest, {"metrics": rows}, cal)


def test_report_md_renders_without_markup_from_data():
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(hostile_report())
    # hostile text shows as text: no tag from the data, no javascript: link
    assert "<svg" not in html and "<a href" not in html
    assert "<img" not in html and "<script" not in html and "<iframe" not in html
    assert 'href="javascript' not in html
    # a pipe in a level stays in its cell: every table row has as many cells as the header
    rows = [r.split("</tr>")[0] for r in html.split("<tr>")[1:]]
    counts = {len(re.findall(r"<t[dh][ >]", r)) for r in rows}
    assert len(counts) <= 2, counts  # the metrics table and the calibration table


def test_report_md_in_chromium_runs_no_script(chromium, tmp_path):
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(hostile_report())
    page = tmp_path / "report_md.html"
    page.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>report.md"
                    f"</title></head><body>{body}</body></html>", encoding="utf-8")
    driver = _driver(chromium, chromium["profile"])
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.get(page.resolve().as_uri())
        pwned = driver.execute_script("return window.__pwned === undefined ? null : "
                                      "window.__pwned")
        scripts = driver.execute_script("return document.scripts.length")
        handlers = driver.execute_script(
            "return [...document.querySelectorAll('*')].filter(e => [...e.attributes]"
            ".some(a => a.name.startsWith('on'))).length")
        links = driver.execute_script(
            "return [...document.links].filter(a => a.protocol === 'javascript:').length")
        resources = driver.execute_script(
            "return performance.getEntriesByType('resource').length")
    finally:
        driver.quit()
    assert pwned is None, f"script ran: window.__pwned = {pwned}"
    assert scripts == 0 and handlers == 0 and links == 0 and resources == 0
