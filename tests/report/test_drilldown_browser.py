"""The drill-down in headless Chromium: click a finding, see its pairs, search filters them,
and hostile model output stays inert (the one hashed script runs, nothing else does)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from judge.frames import RunFrames
from judge.report.drilldown import MAX_PAIRS, SCRIPT, collect, script_hash
from judge.report.findings import select_findings
from judge.report.html import build_html

HOSTILE = ["<script>window.__pwned = 1; alert('x')</script>",
           "<img src=x onerror=\"window.__pwned = 2; alert('y')\">",
           "</details><script>window.__pwned = 3</script>"]


def _frames(n_groups: int = 24) -> RunFrames:
    q, j, h = [], [], []
    for g in range(n_groups):
        for lv in ("female", "male"):
            qid, gid = f"q{g}{lv}", f"g{g}{lv}"
            text = f"Should we hire candidate {g} ({lv})?"
            resp = HOSTILE[g % 3] if lv == "female" and g < 3 else \
                f"Decision for {lv} {g}: {'hire' if (g + (lv == 'male')) % 2 else 'reject'}"
            if g == 5:
                resp += " zebra-needle"
            q.append({"query_id": qid, "text": text, "attr.gender": lv, "cf_group": f"c{g}"})
            j.append({"judgment_id": f"j{g}{lv}", "generation_id": gid, "query_id": qid,
                      "cf_group": f"c{g}", "generator": "sim/generator", "judge": "sim/judge",
                      "rubric_id": "decision_dev", "judge_mode": "pointwise", "probe": None,
                      "sample_index": 0, "attr.gender": lv, "response": resp,
                      "score.decision_dev.quality": 2 if lv == "female" else 4})
            h.append({"label_id": f"h{g}{lv}", "target_id": gid, "criterion": "quality",
                      "rater": "r1", "score": 3})
    return RunFrames(pd.DataFrame(q), pd.DataFrame(), pd.DataFrame(j), pd.DataFrame(h))


METRICS = {"schema_version": 3, "metrics": [
    {"metric": "quality_diff", "attribute": "gender", "level": "female", "reference": "male",
     "value": -0.8, "ci_low": -1.1, "ci_high": -0.5, "n": 48, "n_clusters": 24,
     "p_value": 1e-5, "p_adj": 1e-4, "warning": None, "method": "paired",
     "generator": "sim/generator", "judge": "sim/judge", "rubric_id": "decision_dev",
     "criterion": "quality"}]}


@pytest.fixture
def report(tmp_path: Path) -> Path:
    frames = _frames()
    manifest = {"name": "drill", "generators": ["sim/generator"], "judges": ["sim/judge"],
                "cost": {"total_usd": 0.0, "calls_with_unknown_cost": 4}}
    path = tmp_path / "report.html"
    path.write_text(build_html(manifest, METRICS, None, frames), encoding="utf-8")
    return path


def test_pairs_are_capped_escaped_and_differing_first():
    frames = _frames()
    found = select_findings(METRICS["metrics"])
    pairs, total = collect(frames, found)["f1"]
    assert total == 24 and len(pairs) == MAX_PAIRS
    side = pairs[0]["sides"]
    assert side[0]["level"] == "female" and side[1]["level"] == "male"
    assert side[0]["scores"] == "quality=2" and side[1]["human"] == "quality=3 (r1)"
    html = build_html({"name": "x"}, METRICS, None, frames)
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned" in html
    assert f"showing {MAX_PAIRS} of 24 pairs" in html
    assert html.count("<script>") == 1 and f"script-src {script_hash(SCRIPT)}" in html
    assert "unknown: 4 calls have no known price" not in html  # manifest without cost
    assert "$0.0000" not in html


def test_drilldown_in_headless_chromium(chromium, report: Path, tmp_path: Path):
    from selenium.webdriver.common.by import By

    from tests.report.test_report_browser import _driver

    assert "unknown: 4 calls have no known price" in report.read_text(encoding="utf-8")
    driver = _driver(chromium, tmp_path / "profile")
    try:
        driver.get(report.resolve().as_uri())
        panel = driver.find_element(By.ID, "pairs-f1")
        assert panel.get_attribute("open") is None
        driver.find_element(By.CSS_SELECTOR, "#findings a.drill-link").click()
        assert panel.get_attribute("open") is not None  # the hashed script ran
        pairs = panel.find_elements(By.CSS_SELECTOR, ".pair")
        assert len(pairs) == MAX_PAIRS and all(p.is_displayed() for p in pairs)
        assert "Should we hire candidate" in pairs[0].text
        hostile = [p for p in pairs if "window.__pwned" in p.text]
        assert len(hostile) == 3  # shown as text
        box = panel.find_element(By.CSS_SELECTOR, "input.drill-search")
        box.send_keys("zebra-needle")
        shown = [p for p in pairs if p.is_displayed()]
        assert len(shown) == 1 and "zebra-needle" in shown[0].text
        assert driver.find_element(By.ID, "drill-count-f1").text == "1 pairs match"
        assert driver.execute_script("return window.__pwned === undefined")
        assert driver.execute_script(  # figures only: the hostile <img> is text
            "return [...document.images].every(i => i.src.startsWith('data:image/'))")
        assert not driver.find_elements(By.CSS_SELECTOR, ".pair img, .pair script")
        assert driver.execute_script("return document.scripts.length") == 1
        logs = driver.get_log("browser")
    finally:
        driver.quit()
    assert not [e for e in logs if e.get("level") == "SEVERE"], logs
