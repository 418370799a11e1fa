"""Classification and normalisation of metric rows and calibration sections."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from judge.report.rows import (
    bland_altman_frame,
    bland_altman_points,
    corrected_frame,
    is_intersection,
    kind_of,
    metric_frame,
    null_value,
    parts,
    row_label,
    section_frame,
    small_cell,
    split_sections,
)


def test_metric_frame_fills_schema_and_keeps_none(metrics):
    df = metric_frame(metrics["metrics"])
    for c in ("metric", "p_adj", "generator", "estimate_kind", "planted"):
        assert c in df
    assert df["reference"].map(lambda v: v is None or isinstance(v, str)).all()
    assert df["value"].dtype == float


@pytest.mark.parametrize("label, expected", [("Black×female", ["Black", "female"]),
                                             ("Black|female|30", ["Black", "female", "30"]),
                                             ("White", ["White"]), (None, [])])
def test_parts_accepts_both_separators(label, expected):
    assert parts(label) == expected


@pytest.mark.parametrize("metric, kind", [
    ("parse_failure_rate", "failures"), ("refusal_rate_diff", "failures"),
    ("exposure_share", "exposure"), ("no_producer_share", "exposure"),
    ("gini", "exposure"), ("cf_flip_rate", "counterfactual"),
    ("cfset_differs_share", "counterfactual"), ("demographic_parity_difference", "group"),
    ("score_gap:decision_dev.quality", "group"), ("unawareness_rate", "group")])
def test_kind_of(metric, kind):
    assert kind_of(metric) == kind


def test_split_sections_routes_every_row_once_except_intersections(metrics):
    df = metric_frame(metrics["metrics"])
    sec = split_sections(df)
    inter = df["attribute"].map(is_intersection)
    assert len(sec["intersection"]) == inter.sum() == 10
    non_inter = sum(len(sec[k]) for k in ("group", "counterfactual", "exposure", "failures"))
    assert non_inter == (~inter).sum()
    assert set(sec["headline"]["metric"]) == {
        "demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_tpr_gap",
        "four_fifths_flag",
        "accuracy_gap", "score_gap:decision_dev.quality", "unawareness_rate"}
    assert sec["headline"]["reference"].notna().all()


def test_null_value_and_labels():
    assert null_value("demographic_parity_ratio") == 1.0
    assert null_value("dp_difference") == 0.0
    r = {"attribute": "race", "level": "Black", "reference": "White", "generator": "g1"}
    assert row_label(r) == "race: Black vs White"
    assert row_label(r, ["generator"]) == "race: Black vs White [g1]"
    assert row_label({"attribute": "(all)", "level": "(all)"}) == "all groups"


@pytest.mark.parametrize("row, flagged", [
    ({"n": 12}, True), ({"n": 30}, False), ({"n": 100, "warning": "small cell: n=3"}, True),
    ({"n": 100, "warning": "cell n=12 < 30"}, True), ({"n": math.nan}, False),
    ({"n": 100, "warning": "fewer than 2 clusters"}, False)])
def test_small_cell(row, flagged):
    assert small_cell(row, 30) is flagged


def test_section_frame_aliases_and_rejects_garbage():
    df = section_frame([{"group": "A", "n_labels": 4, "score": 2, "calibrated": 2.5}],
                       need=("level", "x", "y"))
    assert list(df[["level", "n", "x", "y"]].iloc[0]) == ["A", 4, 2, 2.5]
    assert section_frame(None).empty
    assert section_frame({"not": "a list"}).empty
    assert section_frame([{"group": "A"}], need=("x",)).empty


def test_bland_altman_from_agreement_rows(calibration):
    ba = bland_altman_frame(calibration)
    assert sorted(ba["level"]) == ["Black", "White"]
    black = ba[ba["level"] == "Black"].iloc[0]
    assert black["bias"] == pytest.approx(-0.3)
    assert (black["loa_low"], black["loa_high"]) == (-1.5, 1.2)
    assert black["ci_low"] == pytest.approx(-0.4)
    assert bland_altman_points(calibration).empty


def test_bland_altman_summary_and_points_sections():
    summ = [{"attribute": "race", "level": "A", "bias": 0.1, "loa_low": -1, "loa_high": 1}]
    assert len(bland_altman_frame({"bland_altman": summ})) == 1
    pts = [{"group": "A", "mean": 3.0, "diff": 0.5}, {"group": "B", "mean": 2.0, "diff": -1}]
    p = bland_altman_points({"bland_altman": pts})
    assert list(p["level"]) == ["A", "B"] and p["diff"].sum() == -0.5
    assert bland_altman_frame({}).empty


def test_corrected_frame_prefers_calibration_then_metric_rows(metrics, calibration):
    df = metric_frame(metrics["metrics"])
    cal = corrected_frame(df, calibration)
    assert set(cal["kind"]) == {"judge_only", "ppi"}
    assert set(cal["n"]) == {90, 180}  # labelled + unlabelled, not labelled only
    from_metrics = corrected_frame(df, {})
    assert set(from_metrics["kind"]) == {"raw", "corrected"}
    only_raw = df[df["estimate_kind"] != "corrected"]
    assert corrected_frame(only_raw, None).empty
    assert corrected_frame(pd.DataFrame(columns=df.columns), None).empty
