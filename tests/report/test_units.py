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


def test_markdown_details_table_values_are_in_the_titles_units_and_name_the_criterion():
    """A rate difference titled in percentage points shows -12.5, not -0.125; a score
    difference stays in points; rows of two rubrics' criteria are told apart."""
    rows = [row(metric="selection_rate_diff", value=-0.125, lo=-0.444, hi=0.125, scale="0-1",
                rubric_id="hiring_screening", criterion="decision", planted=-0.1),
            row(metric="selection_rate_diff", value=0.2, lo=0.05, hi=0.35, scale="0-1",
                rubric_id="lending_decision", criterion="decision"),
            row(value=-0.9, lo=-1.3, hi=-0.5)]
    md = render_markdown({"name": "t"}, {"metrics": rows}, None)
    lines = {ln.split(" | ")[2]: ln for ln in md.splitlines()
             if ln.startswith("| Difference in")}
    assert "| -12.5 [-44.4, 12.5] |" in lines["hiring_screening.decision"]
    assert "| -10.0 | yes |" in lines["hiring_screening.decision"]  # planted, same units
    assert "| 20.0 [5.0, 35.0] |" in lines["lending_decision.decision"]
    assert "| -0.900 [-1.300, -0.500] |" in lines["r.c"]
    assert "| criterion |" in md and "| judge |" not in md  # one judge: no judge column


def test_forest_plots_are_drawn_in_the_titles_units():
    """The plot titled "(percentage points)" gets x 100 values, its null line too; a ratio
    and a score are left as they are (and the module's doctests pass)."""
    import doctest

    import pandas as pd

    import judge.report.sections as sections
    from judge.report.sections import in_title_units

    assert doctest.testmod(sections).failed == 0
    df = pd.DataFrame({"value": [-0.125], "ci_low": [-0.4], "ci_high": [0.1],
                       "planted": [None]})
    pp, null = in_title_units(df, "selection_rate_diff", "0-1", 0.0)
    assert pp[["value", "ci_low", "ci_high"]].iloc[0].tolist() == [-12.5, -40.0, 10.0]
    assert null == 0.0 and pp["planted"].isna().all()
    ratio, rnull = in_title_units(df, "selection_rate_ratio", None, 1.0)
    assert ratio["value"].iloc[0] == -0.125 and rnull == 1.0
    pts, _ = in_title_units(df, "quality_diff", "1-5", 0.0)
    assert pts["value"].iloc[0] == -0.125
