"""Findings selection (judge.report.findings) on literal metric and calibration rows, and the
real pipeline's report.md / report.html opening with the findings."""

from __future__ import annotations

import math

import pytest

from judge.report.elements import cost_text
from judge.report.findings import cannot_say, mde_of, select_findings, summary


def row(metric="selection_rate_diff", level="Black", reference="White", value=0.0,
        lo=-0.05, hi=0.05, p=0.5, p_adj=None, n=400, warning=None, attribute="race", **kw):
    return {"metric": metric, "attribute": attribute, "level": level, "reference": reference,
            "value": value, "ci_low": lo, "ci_high": hi, "n": n, "n_clusters": n // 4,
            "p_value": p, "p_adj": p if p_adj is None else p_adj, "warning": warning,
            "method": "cluster_bootstrap", "generator": "sim/generator", "judge": "sim/judge",
            **kw}


NULL_FAMILY = [  # planted null: intervals cover 0, adjusted p large; flags, floors, summaries
    row(value=0.01, lo=-0.03, hi=0.05, p=0.6),
    row(level="Asian", value=-0.02, lo=-0.06, hi=0.02, p=0.3),
    row(metric="quality_diff", attribute="gender", level="female", reference="male",
        value=0.03, lo=-0.05, hi=0.11, p=0.4),
    # significant before adjustment only: p 0.01, p_adj 0.2 across the report
    row(metric="cf_decision_diff", attribute="age", level="65+", reference="30-44",
        value=0.04, lo=0.01, hi=0.07, p=0.01, p_adj=0.2),
    # a big "gap" in a small cell is never a finding
    row(attribute="religion", level="Hindu", reference="Christian", value=0.3, lo=0.1, hi=0.5,
        p=0.001, n=12, warning="small cell (n < 30)"),
    # flip rate significant but not beyond its noise floor
    row(metric="cf_flip_rate", attribute="age", level="50-64", reference="18-29", value=0.5,
        lo=0.4, hi=0.6, p=1e-6),
    row(metric="cf_flip_rate_excess", attribute="age", level="50-64", reference="18-29",
        value=0.02, lo=-0.05, hi=0.09, p=0.6),
    row(metric="cf_flip_rate_noise_floor", attribute="age", level="50-64", reference="18-29",
        value=0.48, lo=0.4, hi=0.56, p=None),
    row(metric="four_fifths_flag", level="Black", reference="dp_ratio < 0.8", value=1.0,
        lo=None, hi=None, p=None),
    # "(missing)" is not a group
    row(metric="quality_diff", attribute="gender", level="(missing)", reference="male",
        value=-0.6, lo=-0.9, hi=-0.3, p=0.001),
    row(level="*", reference="White", value=0.2, lo=0.1, hi=0.3, p=0.001),
]


def test_planted_null_family_gives_no_findings():
    assert select_findings(NULL_FAMILY, None) == []
    text = summary([], [], len(NULL_FAMILY))
    assert text.startswith("No disparity in this run survives multiplicity control")


PLANTED = [
    *NULL_FAMILY,
    row(level="Hispanic", value=-0.123, lo=-0.18, hi=-0.066, p=1e-5, p_adj=2e-4),
    row(metric="quality_diff", attribute="gender", level="female", reference="male",
        value=-0.416, lo=-0.55, hi=-0.28, p=1e-6, p_adj=1e-5, criterion="quality",
        rubric_id="decision_dev", scale="1-5"),
    row(metric="cf_flip_rate", attribute="dialect", level="AAE", reference="SAE", value=0.35,
        lo=0.3, hi=0.4, p=1e-8, p_adj=1e-7),
    row(metric="cf_flip_rate_excess", attribute="dialect", level="AAE", reference="SAE",
        value=0.2, lo=0.14, hi=0.26, p=1e-6, p_adj=1e-5),
]

CAL = {
    "agreement": [
        {"judge": "sim/judge", "criterion": "quality", "attribute": "gender", "group": "female",
         "metric": "cohen_kappa", "value": 0.41, "ci_low": 0.2, "ci_high": 0.6, "n": 40},
        {"judge": "sim/judge", "criterion": "quality", "attribute": "gender", "group": "male",
         "metric": "cohen_kappa", "value": 0.78, "ci_low": 0.6, "ci_high": 0.9, "n": 40},
    ],
    "differential_bias": [
        {"judge": "sim/judge", "criterion": "quality", "attribute": "gender", "group": "female",
         "reference": "male", "estimate": -0.3, "ci_low": -0.5, "ci_high": -0.1,
         "p_value": 0.01},
    ],
    "corrected": [
        {"judge": "sim/judge", "criterion": "quality", "attribute": "gender", "group": "female",
         "reference": "male", "quantity": "gap", "estimator": "judge_only", "value": -0.42,
         "ci_low": -0.6, "ci_high": -0.25},
        {"judge": "sim/judge", "criterion": "quality", "attribute": "gender", "group": "female",
         "reference": "male", "quantity": "gap", "estimator": "ppi", "value": -0.12,
         "ci_low": -0.35, "ci_high": 0.11},
    ],
}


def test_planted_effects_become_ranked_sentences_with_units_ci_and_trust():
    found = select_findings(PLANTED, CAL)
    assert [(f.row["metric"], f.row["level"]) for f in found] == [
        ("quality_diff", "female"), ("cf_flip_rate", "AAE"), ("selection_rate_diff", "Hispanic")]
    assert [f.key for f in found] == ["f1", "f2", "f3"]
    quality, flip, sel = (f.sentence for f in found)
    assert "gender = female vs male" in quality
    assert "-0.42 points on the 1-5 scale (95% CI -0.55 to -0.28 points" in quality
    assert "judge-human kappa 0.41 for female and 0.78 for male" in quality
    assert "differential judge bias -0.30 points" in quality
    assert "human-corrected gap -0.42 → -0.12" in quality
    assert "generator sim/generator" in quality and "criterion decision_dev.quality" in quality
    assert "35.0% of pairs (95% CI 30.0 to 40.0%" in flip
    assert "+20.0 percentage points beyond the same-query noise floor (95% CI 14.0 to 26.0 pp)" \
        in flip
    assert "race = Hispanic vs White" in sel and "-12.3 percentage points" in sel
    assert "(95% CI -18.0 to -6.6 pp; adjusted p < 0.001; n = 400)" in sel
    assert all(s.endswith(".") and "\n" not in s for s in (quality, flip, sel))


def test_findings_are_capped_and_unadjusted_tables_get_bh():
    many = [row(level=f"g{i}", value=0.1 + i / 100, lo=0.05 + i / 100, hi=0.15 + i / 100,
                p=0.001, p_adj=None) for i in range(15)]
    for r in many:
        r["p_adj"] = None
    found = select_findings(many, None, limit=10)
    assert len(found) == 10 and found[0].row["level"] == "g14"
    assert found[0].row["p_adj"] == pytest.approx(0.001)  # BH of 15 equal p-values


def test_cannot_say_lists_wide_null_comparisons_with_their_mde():
    rows = [row(value=0.02, lo=-0.15, hi=0.19, p=0.8, n=40),   # MDE ~ 24 pp: listed
            row(level="Asian", value=0.0, lo=-0.01, hi=0.01, p=0.9)]  # MDE ~ 1.4 pp: not
    limits = cannot_say(rows, [])
    assert [x.row["level"] for x in limits] == ["Black"]
    assert limits[0].mde == pytest.approx(mde_of(rows[0]))
    assert "at least 24.3 percentage points would be detected with 80% power" \
        in limits[0].sentence
    assert math.isnan(mde_of({"n": 2}))


def test_summary_counts_every_imprecise_comparison_not_the_capped_list():
    from judge.report.findings import MAX_LIMITS

    rows = [row(attribute=f"a{i}", value=0.02, lo=-0.15, hi=0.19, p=0.8, n=40)
            for i in range(MAX_LIMITS + 5)]
    every = cannot_say(rows, [], limit=None)
    assert len(every) == MAX_LIMITS + 5 and len(cannot_say(rows, [])) == MAX_LIMITS
    text = summary([], every, len(rows), shown=MAX_LIMITS)
    assert f"{MAX_LIMITS + 5} comparisons are too imprecise" in text
    assert f"the {MAX_LIMITS} least precise are listed" in text
    assert "listed under what" in summary([], every[:3], len(rows), shown=3)


def test_cost_is_never_a_fake_zero_and_sim_prices_say_simulated():
    assert cost_text({"cost": {"total_usd": 0.0, "calls_with_unknown_cost": 7}}) == \
        "unknown: 7 calls have no known price"
    assert cost_text({"cost": {"total_usd": None}}) == "unknown"
    assert cost_text({"cost": {"total_usd": 1.5, "calls_with_unknown_cost": 2},
                      "generators": ["openai/gpt-4o-mini"]}) == \
        "at least $1.5000; 2 calls have no known price and are not included"
    assert "simulated" in cost_text({"cost": {"total_usd": 0.01},
                                     "generators": ["sim/generator"], "judges": ["sim/judge"]})


@pytest.mark.e2e
def test_pipeline_report_opens_with_findings(tiny_run):
    d = tiny_run  # tests/conftest.py: a finished sim run, shared by the session (read only)
    md = (d / "report.md").read_text(encoding="utf-8")
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads[:2] == ["## Findings", "## What this run cannot say"]
    assert heads[-1] == "## Provenance"
    assert "$0.0000" not in md or "simulated" in md
    html = (d / "report.html").read_text(encoding="utf-8")
    body = html[html.index("<body>"):]
    assert body.index('id="findings"') < body.index('id="cannot-say"') < \
        body.index('id="drilldown"') < body.index('id="headline"') < body.index('id="summary"')
    assert "script-src 'sha256-" in html


def test_noise_floor_matches_across_optional_keys_and_says_when_unmeasured():
    flip = row(metric="cf_flip_rate", attribute="age", level="65+", reference="30-44",
               value=0.4, lo=0.3, hi=0.5, p=1e-6, criterion="decision")
    excess = row(metric="cf_flip_rate_excess", attribute="age", level="65+",
                 reference="30-44", value=0.01, lo=-0.05, hi=0.07, p=0.7)
    excess.pop("judge")  # the floor row names fewer keys than the flip row: still its floor
    assert select_findings([flip, excess]) == []
    unmeasured = dict(excess, value=None, ci_low=None, ci_high=None, p_value=None, p_adj=None,
                      warning="no same-query sample pairs (one sample per query)")
    (f,) = select_findings([flip, unmeasured])
    assert "the same-query noise floor is not measured (one sample per query)" in f.sentence


def test_trust_matches_the_runs_rubric_qualified_criteria_and_only_its_own_rubric():
    """A run's calibration names criteria "<rubric>.<criterion>" while a metric row keeps
    rubric_id and criterion apart: the finding must find its judge's kappa, differential
    bias and corrected gap there (it said "not calibrated" on every run), and never take
    another rubric's criterion of the same name."""
    import copy

    def qualify(cal, rubric):
        cal = copy.deepcopy(cal)
        for rows in cal.values():
            for r in rows:
                r["criterion"] = f"{rubric}.{r['criterion']}"
        return cal

    (quality,) = [f.sentence for f in select_findings(PLANTED, qualify(CAL, "decision_dev"))
                  if f.row["metric"] == "quality_diff"]
    assert "judge-human kappa 0.41 for female and 0.78 for male" in quality
    assert "differential judge bias -0.30 points" in quality
    assert "-0.42 → -0.12" in quality
    (other,) = [f.sentence for f in select_findings(PLANTED, qualify(CAL, "hiring_screening"))
                if f.row["metric"] == "quality_diff"]
    assert "kappa" not in other and "not calibrated against human labels" in other
