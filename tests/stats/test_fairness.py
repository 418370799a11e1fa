"""Group fairness metrics: against fairlearn on the same data, and on planted worlds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    true_positive_rate,
)

from judge.errors import DataError
from judge.sim.synthetic import planted_frame
from judge.stats import (
    METRIC_COLUMNS,
    calibration_by_group,
    calibration_curve,
    demographic_parity,
    equalized_odds,
    failure_rates,
    quality_of_service,
    unawareness_rate,
)

B = 400


def row(t: pd.DataFrame, metric: str, attribute: str, level: str) -> pd.Series:
    hit = t[(t.metric == metric) & (t.attribute == attribute) & (t.level == level)]
    assert len(hit) == 1, (metric, attribute, level, t[["metric", "attribute", "level"]])
    return hit.iloc[0]


def assert_found(r: pd.Series, planted: float) -> None:
    """The planted effect is found: the CI excludes 0 and covers the planted value."""
    assert not (r.ci_low <= 0 <= r.ci_high), r
    assert r.ci_low <= planted <= r.ci_high, r


def assert_null(r: pd.Series) -> None:
    assert r.ci_low <= 0 <= r.ci_high, r


@pytest.fixture(scope="module")
def world() -> pd.DataFrame:
    return planted_frame(600, seed=3, decision_effect={"race": {"Black": -0.1}},
                         score_effect={"race": {"Black": -0.5}},
                         parse_failure={"race": {"Asian": 0.08}},
                         refusal={"gender": {"male": 0.06}},
                         unaware={"gender": {"female": 0.1}})


@pytest.fixture(scope="module")
def null_world() -> pd.DataFrame:
    return planted_frame(600, seed=4)


def test_demographic_parity_matches_fairlearn(world):
    t = demographic_parity(world, ["race", "gender"], B=B)
    assert list(t.columns) == METRIC_COLUMNS
    for attr in ("race", "gender"):
        d = world.dropna(subset=["decision"])
        kw = dict(y_true=d.decision, y_pred=d.decision, sensitive_features=d[f"attr.{attr}"])
        assert row(t, "dp_difference", attr, "*").value == pytest.approx(
            demographic_parity_difference(**kw))
        assert row(t, "dp_ratio", attr, "*").value == pytest.approx(demographic_parity_ratio(**kw))
        rates = d.groupby(f"attr.{attr}").decision.mean()
        for lv, rate in rates.items():
            r = row(t, "selection_rate", attr, lv)
            assert r.value == pytest.approx(rate)
            assert r.n == (d[f"attr.{attr}"] == lv).sum()
            assert r.ci_low < rate < r.ci_high


def test_planted_selection_rate_gap_found_and_null_levels_cover_zero(world, null_world):
    t = demographic_parity(world, "race", reference="White", B=B, alpha=0.01)
    assert_found(row(t, "selection_rate_diff", "race", "Black"), -0.1)
    assert_null(row(t, "selection_rate_diff", "race", "Asian"))
    t0 = demographic_parity(null_world, reference={"race": "White", "gender": "female"}, B=B)
    for attr, lv in (("race", "Black"), ("race", "Asian"), ("gender", "male")):
        assert_null(row(t0, "selection_rate_diff", attr, lv))
        assert row(t0, "selection_rate_diff", attr, lv).p_value > 0.01


def test_four_fifths_flag():
    df = pd.DataFrame({"cf_group": [f"g{i}" for i in range(40)] * 2,
                       "attr.race": ["A"] * 40 + ["B"] * 40,
                       "decision": [1.0] * 32 + [0.0] * 8 + [1.0] * 16 + [0.0] * 24})
    t = demographic_parity(df, B=200)
    assert row(t, "dp_ratio", "race", "*").value == pytest.approx(0.5)
    flag = row(t, "four_fifths_flag", "race", "*")
    assert flag.value == 1.0 and flag.reference == "dp_ratio < 0.8"
    assert row(t, "selection_rate_ratio", "race", "B").value == pytest.approx(0.5)
    df.loc[df["attr.race"] == "B", "decision"] = 1.0
    df.loc[df.index[40:44], "decision"] = 0.0
    t = demographic_parity(df, B=200)
    assert row(t, "four_fifths_flag", "race", "*").value == 0.0


def test_equalized_odds_matches_fairlearn(world):
    t = equalized_odds(world, "race", B=B)
    d = world.dropna(subset=["decision"])
    kw = dict(y_true=d.y_true, y_pred=d.decision, sensitive_features=d["attr.race"])
    assert row(t, "equalized_odds_difference", "race", "*").value == pytest.approx(
        equalized_odds_difference(**kw))
    mf = MetricFrame(metrics={"tpr": true_positive_rate, "fpr": false_positive_rate}, **kw)
    for lv in ("Asian", "Black", "White"):
        assert row(t, "tpr", "race", lv).value == pytest.approx(mf.by_group.loc[lv, "tpr"])
        assert row(t, "fpr", "race", lv).value == pytest.approx(mf.by_group.loc[lv, "fpr"])
        acc = (d.decision == d.y_true)[d["attr.race"] == lv].mean()
        assert row(t, "accuracy", "race", lv).value == pytest.approx(acc)
    eo = row(t, "equalized_odds_difference", "race", "*")
    assert_found(eo, 0.1)
    assert eo.ci_low >= max(row(t, "tpr_gap", "race", "*").ci_low,
                            row(t, "fpr_gap", "race", "*").ci_low) - 1e-12


def test_quality_of_service_planted_and_spread(world):
    t = quality_of_service(world, "race", reference="White", B=B)
    assert_found(row(t, "quality_diff", "race", "Black"), -0.5)
    assert_null(row(t, "quality_diff", "race", "Asian"))
    means = world.groupby("attr.race").score.mean()
    assert row(t, "quality_gap", "race", "*").value == pytest.approx(means.max() - means.min())
    assert row(t, "quality_std", "race", "*").value == pytest.approx(np.std(means.to_numpy()))


def test_failure_and_refusal_rates_planted(world):
    t = failure_rates(world, reference={"race": "White", "gender": "female"}, B=B)
    assert_found(row(t, "parse_failure_rate_diff", "race", "Asian"), 0.08)
    assert_null(row(t, "parse_failure_rate_diff", "race", "Black"))
    assert_found(row(t, "refusal_rate_diff", "gender", "male"), 0.06)
    pf = (world.parse_status == "parse_failure").groupby(world["attr.race"]).mean()
    assert row(t, "parse_failure_rate", "race", "Asian").value == pytest.approx(pf["Asian"])


def test_refusal_falls_back_to_parse_status():
    df = pd.DataFrame({"cf_group": list("abcd"), "attr.g": ["x", "x", "y", "y"],
                       "parse_status": ["ok", "refusal", "refusal", None]})
    t = failure_rates(df, B=50, min_cell=1)
    assert row(t, "refusal_rate", "g", "x").value == 0.5
    y = row(t, "refusal_rate", "g", "y")
    assert y.value == 1.0 and y.n == 1 and "fewer than 2 clusters" in y.warning
    assert math.isnan(y.ci_low)


def test_unawareness_rate_planted(world):
    t = unawareness_rate(world, "gender", reference="male", B=B)
    assert_found(row(t, "unawareness_rate_diff", "gender", "female"), 0.1)


def test_calibration_by_group_against_hand_computation():
    rng = np.random.default_rng(0)
    n = 3000
    s = rng.random(n)
    grp = np.where(rng.random(n) < 0.5, "a", "b")
    # group a is calibrated; group b's outcomes are 0.2 less likely than its scores say
    y = (rng.random(n) < np.where(grp == "a", s, np.clip(s - 0.2, 0, 1))).astype(float)
    df = pd.DataFrame({"cf_group": np.arange(n) // 3, "attr.grp": grp, "score": s * 4 + 1,
                       "y_true": y})
    t = calibration_by_group(df, score_range=(1, 5), reference="a", B=B)
    for lv in ("a", "b"):
        m = grp == lv
        assert row(t, "calibration_gap", "grp", lv).value == pytest.approx(s[m].mean() -
                                                                           y[m].mean())
        bins = np.minimum((s[m] * 10).astype(int), 9)
        ece = sum(abs(s[m][bins == k].sum() - y[m][bins == k].sum()) for k in range(10)) / m.sum()
        assert row(t, "ece", "grp", lv).value == pytest.approx(ece)
    assert_null(row(t, "calibration_gap", "grp", "a"))
    gap = row(t, "calibration_gap_diff", "grp", "b")
    assert gap.ci_low > 0.1 and gap.ci_high < 0.3
    curve = calibration_curve(df, "grp", score_range=(1, 5))
    assert set(curve.columns) == {"attribute", "level", "bin", "mean_score", "outcome_rate", "n"}
    assert curve.n.sum() == n


def test_calibration_rejects_scores_outside_range():
    df = pd.DataFrame({"cf_group": [1, 2], "attr.g": ["a", "b"], "score": [3.0, 0.5],
                       "y_true": [1.0, 0.0]})
    with pytest.raises(DataError, match=r"outside score_range \(0.0, 1.0\), e.g. 3.0"):
        calibration_by_group(df)


def test_unknown_attribute_and_missing_columns_are_clear_errors(world):
    with pytest.raises(DataError, match=r"attribute 'age': no column 'attr.age'; available"):
        demographic_parity(world, "age")
    with pytest.raises(DataError, match=r"equalized odds: frame lacks column\(s\) \['truth'\]"):
        equalized_odds(world, y_true="truth")
    with pytest.raises(DataError, match="reference level 'Martian'"):
        demographic_parity(world, "race", reference="Martian")


def test_small_cells_warn_and_schema_is_fixed():
    df = pd.DataFrame({"cf_group": ["g1", "g1", "g2", "g2", "g3"],
                       "attr.g": ["a", "b", "a", "b", "a"],
                       "decision": [1.0, 0.0, 1.0, np.nan, 0.0]})
    t = demographic_parity(df, B=100)
    assert list(t.columns) == METRIC_COLUMNS
    b = row(t, "selection_rate", "g", "b")
    assert b.n == 1 and "small cell: n=1 < min_cell=30" in b.warning
    assert "fewer than 2 clusters" in b.warning and math.isnan(b.ci_low)
    assert row(t, "selection_rate", "g", "a").n == 3
    empty = demographic_parity(df.assign(decision=np.nan), B=10)
    assert list(empty.columns) == METRIC_COLUMNS
    assert math.isnan(empty.value.iloc[0]) and empty.warning.iloc[0] == "no decisions"


def test_no_effect_world_intervals_cover_zero(null_world):
    ref = {"race": "White", "gender": "female"}
    kw = dict(reference=ref, B=B, alpha=0.01)
    tables = [quality_of_service(null_world, **kw), failure_rates(null_world, **kw),
              unawareness_rate(null_world, **kw), demographic_parity(null_world, **kw)]
    diffs = pd.concat(tables)
    diffs = diffs[diffs.metric.str.endswith("_diff")]
    assert len(diffs) == 5 * 3  # five rates, three non-reference levels
    assert ((diffs.ci_low <= 0) & (0 <= diffs.ci_high)).all(), diffs


def test_every_metric_keeps_the_schema_and_dtypes(world):
    from judge.stats import counterfactual_metrics, intersectional_cells
    small = world[world.cf_group.isin(["g1", "g2", "g3"])]
    for t in (demographic_parity(small, B=20), equalized_odds(small, B=20),
              quality_of_service(small, B=20), failure_rates(small, B=20),
              unawareness_rate(small, B=20), counterfactual_metrics(small, B=20),
              intersectional_cells(small, B=20),
              calibration_by_group(small.assign(score=0.5), B=20)):
        assert list(t.columns) == METRIC_COLUMNS
        assert t.n.dtype == "int64" and t.value.dtype == "float64"
        assert t.metric.map(type).eq(str).all()
        assert t.warning.str.contains("small cell").all()  # 3 groups: every cell is small


def test_one_level_gives_undefined_gaps_not_zero():
    df = pd.DataFrame({"cf_group": list("abcd"), "attr.g": ["x"] * 4,
                       "decision": [1.0, 0.0, 1.0, 1.0], "y_true": [1.0, 0.0, 0.0, 1.0]})
    dp = demographic_parity(df, B=20)
    for m in ("dp_difference", "dp_ratio", "four_fifths_flag"):
        r = row(dp, m, "g", "*")
        assert math.isnan(r.value) and "fewer than 2 levels" in r.warning
    eo = equalized_odds(df, B=20)
    assert math.isnan(row(eo, "equalized_odds_difference", "g", "*").value)
    assert row(eo, "tpr", "g", "x").value == 1.0


def test_all_metrics_runs_what_the_columns_allow(world):
    from judge.stats import all_metrics
    t = all_metrics(world, reference={"race": "White", "gender": "female",
                                      "race|gender": "White|female"}, B=100)
    assert list(t.columns) == METRIC_COLUMNS
    expected = {"cf_flip_rate", "selection_rate_diff", "dp_ratio", "equalized_odds_difference",
                "quality_gap", "cell_mde", "parse_failure_rate", "unawareness_rate_diff"}
    assert expected <= set(t.metric)
    assert "race|gender" in set(t[t.metric == "cf_score_diff"].attribute)
    tested = t[t.p_value.notna()]
    assert tested.p_adj.notna().all() and (tested.p_adj >= tested.p_value - 1e-15).all()
    assert t[t.metric == "cell_diff_vs_rest"].method.str.count("p_adj").eq(1).all()
    only_scores = all_metrics(world.drop(columns=["decision", "y_true"]), ["race"],
                              intersections=False, B=50)
    assert not only_scores.metric.str.startswith("selection").any()
    assert set(only_scores.attribute) == {"race"}


def test_rates_without_positives_or_negatives_are_undefined_not_zero():
    df = pd.DataFrame({"cf_group": [f"g{i}" for i in range(8)], "attr.g": ["x"] * 4 + ["y"] * 4,
                       "decision": [1.0, 0, 1, 1, 1, 1, 0, 1],
                       "y_true": [1.0, 0, 0, 1, 1, 1, 1, 1]})  # level y has no negatives
    t = equalized_odds(df, B=50)
    fpr_y = row(t, "fpr", "g", "y")
    assert math.isnan(fpr_y.value) and fpr_y.n == 0 and fpr_y.warning == "no observations"
    assert math.isnan(row(t, "fpr_gap", "g", "*").value)
    eo = row(t, "equalized_odds_difference", "g", "*")
    assert math.isnan(eo.value) and "TPR or FPR undefined" in eo.warning
    assert row(t, "tpr_gap", "g", "*").value == pytest.approx(0.25)


def test_unawareness_reads_yes_no_labels_and_fairness_doctests():
    import doctest

    import judge.stats.fairness as fairness_mod
    assert doctest.testmod(fairness_mod).failed == 0
    df = pd.DataFrame({"cf_group": list("abcdef"), "attr.g": ["x", "x", "x", "y", "y", "y"],
                       "score.infers_attribute": ["yes", "no", None, "no", "no", "YES"]})
    t = unawareness_rate(df, column="score.infers_attribute", B=50, min_cell=1)
    assert row(t, "unawareness_rate", "g", "x").value == 0.5
    assert row(t, "unawareness_rate", "g", "x").n == 2
    assert row(t, "unawareness_rate", "g", "y").value == pytest.approx(1 / 3)


def test_compare_tables_finds_a_planted_difference_between_runs():
    from judge.stats import compare_tables
    a = planted_frame(400, seed=11, score_effect={"race": {"Black": -0.6}})
    b = planted_frame(400, seed=12, score_effect={"race": {"Black": -0.1}})
    ta = quality_of_service(a, "race", reference="White", B=B)
    tb = quality_of_service(b, "race", reference="White", B=B)
    c = compare_tables(ta, tb)
    assert list(c.columns) == METRIC_COLUMNS and len(c) == len(ta)
    r = row(c, "quality_diff", "race", "Black")
    ra, rb = row(ta, "quality_diff", "race", "Black"), row(tb, "quality_diff", "race", "Black")
    assert r.value == pytest.approx(ra.value - rb.value)
    assert r.ci_low <= -0.5 <= r.ci_high and r.ci_high < 0 and r.p_adj < 0.01
    width = np.hypot(ra.ci_high - ra.ci_low, rb.ci_high - rb.ci_low)
    assert r.ci_high - r.ci_low == pytest.approx(width)
    assert row(c, "quality_diff", "race", "Asian").ci_low <= 0 <= row(
        c, "quality_diff", "race", "Asian").ci_high


@pytest.mark.parametrize("what", ["empty", "all missing"])
def test_empty_or_all_missing_frames_give_the_schema_without_warnings(what):
    import warnings

    import judge.stats as js
    df = planted_frame(4)
    df = df.iloc[0:0] if what == "empty" else df.assign(decision=np.nan, score=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' future-version warnings included
        for name in ("counterfactual_metrics", "demographic_parity", "equalized_odds",
                     "quality_of_service", "failure_rates", "unawareness_rate",
                     "intersectional_cells", "all_metrics"):
            t = getattr(js, name)(df, B=20)
            assert list(t.columns) == METRIC_COLUMNS, name
            uses_outcomes = name not in ("failure_rates", "unawareness_rate", "all_metrics")
            if what == "empty" or uses_outcomes:
                assert t.value.isna().all(), (name, t[t.value.notna()])


def test_single_level_single_outcome_is_nan_with_reason_not_a_crash():
    from judge.stats import demographic_parity

    f = pd.DataFrame({"cf_group": ["a", "b"], "attr.age": ["30-49", "30-49"],
                      "decision": [1.0, 1.0], "y_true": [1.0, 0.0]})
    dp = demographic_parity(f, ["age"], B=20)
    r = row(dp, "dp_difference", "age", "*")
    assert math.isnan(r.value) and "fewer than 2 levels" in r.warning
    assert row(dp, "selection_rate", "age", "30-49").value == 1.0
