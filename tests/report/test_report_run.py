"""report.html of a real pipeline run (a tiny sim config), checked against the files the run
wrote. The other report tests use literal fixture data; these fail when the pipeline renames
a metric or a calibration key that the report reads, or changes a shape it expects.
"""

from __future__ import annotations

import json
import math
import re

import pytest

pytestmark = pytest.mark.e2e

SECTION_IDS = ["findings", "cannot-say", "drilldown", "headline", "counterfactual", "groups",
               "intersections", "calibration", "probes", "exposure", "failures", "caveats",
               "summary"]
#: Metric names the pipeline writes for this config, and the section that must show each.
SHOWN_IN = {
    "headline": ["selection_rate_diff", "selection_rate_ratio"],
    "counterfactual": ["cf_decision_diff", "cf_score_diff", "cf_score_absdiff"],
    "groups": ["selection_rate", "tpr", "fpr", "accuracy", "quality", "dp_difference",
               "dp_ratio", "equalized_odds_difference"],
    "failures": ["parse_failure_rate", "refusal_rate"],
}


@pytest.fixture(scope="module")
def run(tiny_run):
    d = tiny_run  # tests/conftest.py: lending_decision + answer_quality, attribute_swap

    def section(doc: str, sid: str) -> str:
        i = SECTION_IDS.index(sid)
        end = doc.index(f'id="{SECTION_IDS[i + 1]}"') if i + 1 < len(SECTION_IDS) else None
        return doc[doc.index(f'id="{sid}"'):end]

    doc = (d / "report.html").read_text(encoding="utf-8")
    return {"doc": doc, "section": lambda sid: section(doc, sid),
            "metrics": json.loads((d / "metrics.json").read_text())["metrics"],
            "cal": json.loads((d / "calibration.json").read_text()),
            "manifest": json.loads((d / "manifest.json").read_text())}


def _ci(value: float, lo: float, hi: float) -> str:
    return f"{value:.3f} [{lo:.3f}, {hi:.3f}]"


def test_every_section_renders(run):
    doc = run["doc"]
    assert re.findall(r'<section id="([a-z-]+)"', doc) == SECTION_IDS
    assert "could not be rendered" not in doc


@pytest.mark.parametrize("sid", sorted(SHOWN_IN))
def test_metrics_the_pipeline_writes_reach_their_section(run, sid):
    written = {r["metric"] for r in run["metrics"]}
    text = run["section"](sid)
    for name in SHOWN_IN[sid]:
        assert name in written, f"the pipeline no longer writes {name!r}"
        assert name in text, f"{name!r} not shown in section {sid!r}"


def test_rule_flags_are_listed_with_their_state(run):
    flags = [r for r in run["metrics"] if r["metric"] == "four_fifths_flag"]
    assert flags, "no four_fifths_flag row"
    head = run["section"]("headline")
    state = {1: "⚑ raised", 0: "not raised", None: "undetermined"}
    for r in flags:  # undetermined (interval straddles 0.8) is never shown as "not raised"
        assert f"{state[r['value']]}: four_fifths_flag on {r['attribute']} (" in head


def test_calibration_section_shows_the_calibration_json(run):
    cal, text = run["cal"], run["section"]("calibration")
    assert f"{cal['n_labels']} human labels on {cal['n_items_labelled']} items" in text
    for metric in ("exact_agreement", "cohen_kappa"):
        assert metric in {r["metric"] for r in cal["agreement"]}
        assert f"<th>{metric}</th>" in text
    bias = [r for r in cal["bias"] if r["metric"] == "mean_bias"
            and r["ci_low"] is not None and r["ci_high"] is not None]
    assert bias and {r["attribute"] for r in bias} >= {"all", "race", "gender"}
    for r in bias:
        assert _ci(r["value"], r["ci_low"], r["ci_high"]) in text, (r["attribute"], r["group"])
    diff = [r for r in cal["differential_bias"] if r["ci_low"] is not None
            and not math.isnan(r["estimate"])]
    assert diff and "Differential judge bias" in text
    for r in diff:
        assert _ci(r["estimate"], r["ci_low"], r["ci_high"]) in text


def test_probe_results_are_shown(run):
    probes = {r["probe"] for r in run["cal"]["probes"]}
    assert "attribute_swap" in probes
    text = run["section"]("probes")
    assert "No judge probes" not in text
    for p in probes:
        assert p in text


def test_summary_and_coverage_match_the_manifest(run):
    m, summary = run["manifest"], run["section"]("summary")
    for ref, digest in m["rubrics"].items():
        rid, version = ref.split("@")
        assert rid in summary and version in summary and digest in summary
    words = " ".join(re.sub(r"<[^>]+>", " ", summary).split())
    for key in ("queries", "generations", "judgments", "human_labels"):
        assert f"{key} {m['counts'][key]}" in words
    cav = run["section"]("caveats")
    measured = dict(re.findall(r"<li><code>([^<]+)</code>: ([^<]*)</li>", cav))
    for r in run["cal"]["bias"]:
        if r["attribute"] != "all":
            assert r["group"] in measured[r["attribute"]].split(", ")
    assert not [v for v in measured.values() if "dp_ratio" in v]  # a rule is not a level
