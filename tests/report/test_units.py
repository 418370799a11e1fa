"""Units of metric rows on their rubric criterion's scale (judge.report.findings, the
``scale`` column): points on a 1-7 scale, proportions from binary criteria in percentage
points, and power statements bounded by the scale's span."""

from __future__ import annotations

import pytest

from judge.report.findings import cannot_say, select_findings, span_of, units_of
from judge.report.sections import plain_title
from judge.stages.report import render_markdown


def row(metric="quality_diff", value=-0.9, lo=-1.3, hi=-0.5, p=1e-6, n=400, scale="1-7",
        **kw):
    return {"metric": metric, "attribute": "gender", "level": "female", "reference": "male",
            "value": value, "ci_low": lo, "ci_high": hi, "n": n, "n_clusters": n // 4,
            "p_value": p, "p_adj": p, "warning": None, "method": "cluster_bootstrap",
            "generator": "sim/generator", "judge": "sim/judge", "rubric_id": "r",
            "criterion": "c", "scale": scale, **kw}


def test_likert_1_7_finding_is_in_points_on_the_1_7_scale():
    (f,) = select_findings([row()])
    assert f.units == "points"
    assert "-0.90 points on the 1-7 scale (95% CI -1.30 to -0.50 points" in f.sentence
    assert "1-5" not in f.sentence


def test_binary_quality_diff_is_in_percentage_points():
    (f,) = select_findings([row(value=-0.12, lo=-0.2, hi=-0.04, scale="0-1")])
    assert f.units == "pp"
    assert "-12.0 percentage points (95% CI -20.0 to -4.0 pp" in f.sentence
    assert "points on the" not in f.sentence
    assert plain_title("quality_diff", "0-1") == "Difference in judged quality (percentage points)"


def test_span_and_power_statement_use_the_rows_scale():
    assert span_of(units_of("quality_diff", "1-7"), "1-7") == 6.0
    assert span_of(units_of("quality_diff", "0-1"), "0-1") == 1.0
    # An MDE of ~5.7 points: within a 1-5 scale's span (4) nothing is detectable, on a 1-7
    # scale (span 6) the MDE is stated in points on that scale.
    wide = dict(value=0.1, lo=-3.9, hi=4.1, p=0.9)
    (on7,) = cannot_say([row(**wide)])
    assert on7.span == 6.0
    assert "only a gap of at least 5.72 points on the 1-7 scale would be detected" \
        in on7.sentence
    (on5,) = cannot_say([row(scale="1-5", **wide)])
    assert on5.span == 4.0
    assert "no gap the scale allows (at most 4.00 points on the 1-5 scale)" in on5.sentence
    (over7,) = cannot_say([row(value=0.1, lo=-4.5, hi=4.7, p=0.9)])
    assert "no gap the scale allows (at most 6.00 points on the 1-7 scale)" in over7.sentence


def test_modest_gap_scales_with_the_span():
    # MDE ~0.34 points: above a modest gap on a 1-5 scale (0.25), below one on 1-7 (0.375)
    narrow = dict(value=0.0, lo=-0.24, hi=0.24, p=0.9)
    assert len(cannot_say([row(scale="1-5", **narrow)])) == 1
    assert cannot_say([row(scale="1-7", **narrow)]) == []


def test_differential_bias_of_a_binary_criterion_is_in_percentage_points():
    cal = {"differential_bias": [{"judge": "sim/judge", "criterion": "c", "attribute": "gender",
                                  "group": "female", "reference": "male", "estimate": -0.05,
                                  "ci_low": -0.09, "ci_high": -0.01}]}
    (f,) = select_findings([row(value=-0.12, lo=-0.2, hi=-0.04, scale="0-1")], cal)
    assert "differential judge bias -5.0 percentage points (95% CI -9.0 to -1.0 pp)" \
        in f.sentence


def test_markdown_details_table_titles_carry_the_scale():
    rows = [row(), row(metric="quality_diff", scale="0-1", value=-0.1, lo=-0.2, hi=0.0,
                       generator="g2")]
    md = render_markdown({"name": "t"}, {"metrics": rows}, None)
    assert "| Difference in judged quality (points on the 1-7 scale) |" in md
    assert "| Difference in judged quality (percentage points) |" in md


@pytest.mark.parametrize("scale", [None, ""])
def test_a_row_without_a_scale_does_not_claim_one(scale):
    (f,) = select_findings([row(scale=scale)])
    assert "points on the rubric's scale" in f.sentence and "1-5" not in f.sentence
