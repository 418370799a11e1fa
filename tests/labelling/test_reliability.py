"""Reliability checks, against the krippendorff package."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pandas as pd
import pytest

from judge.labelling import check_reliability, format_report
from tests.labelling.conftest import HELPFUL


def _labels(n_items=60, raters=("a", "b", "c"), noise=0.4, bad=None, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, n_items)
    rows = []
    for r in raters:
        for i, t in enumerate(truth):
            s = rng.integers(1, 6) if r == bad else int(np.clip(round(t + rng.normal(0, noise)),
                                                                1, 5))
            rows.append({"item_id": f"i{i}", "rater": r, "criterion": "helpful", "score": int(s)})
    return pd.DataFrame(rows), truth


def test_alpha_equals_krippendorff_and_ci_covers_it():
    df, _ = _labels()
    rep = check_reliability(df, specs={"helpful": HELPFUL}, B=200, seed=1)
    mat = df.pivot(index="rater", columns="item_id", values="score").to_numpy(float)
    want = krippendorff.alpha(reliability_data=mat, level_of_measurement="ordinal",
                              value_domain=[1, 2, 3, 4, 5])
    row = rep.criteria.iloc[0]
    assert row["alpha_humans"] == pytest.approx(want, abs=1e-12)
    assert row["ci_low"] < row["alpha_humans"] < row["ci_high"]
    assert row["level"] == "ordinal" and row["n_items_multi_rated"] == 60
    again = check_reliability(df, specs={"helpful": HELPFUL}, B=200, seed=1)
    assert again.criteria.equals(rep.criteria)  # seeded


def test_nominal_alpha_for_categorical_scales():
    df = pd.DataFrame({"item_id": ["x", "x", "y", "y", "z", "z"], "rater": ["a", "b"] * 3,
                       "criterion": "safe", "score": ["yes", "yes", "no", "no", "yes", "no"]})
    from tests.labelling.conftest import SAFE

    rep = check_reliability(df, specs={"safe": SAFE}, B=50)
    mat = [[1, 0, 1], [1, 0, 0]]
    assert rep.criteria.iloc[0]["alpha_humans"] == pytest.approx(
        krippendorff.alpha(reliability_data=mat, level_of_measurement="nominal"))


def test_outlier_rater_time_and_skips_are_flagged():
    df, _ = _labels(raters=("a", "b", "c", "d"), bad="d")
    answers = pd.DataFrame({"rater": ["a"] * 10 + ["d"] * 10, "row_id": [f"r{i}" for i in range(20)],
                            "skipped": [False] * 10 + [True] * 4 + [False] * 6,
                            "seconds": [30.0] * 10 + [1.0] * 8 + [400.0, 30.0]})
    rep = check_reliability(df, specs={"helpful": HELPFUL}, answers=answers, B=50)
    r = rep.raters.set_index("rater")
    assert bool(r.loc["d", "outlier"]) and not r.loc[["a", "b", "c"], "outlier"].any()
    assert r.loc["d", "alpha_vs_others"] < r.loc["a", "alpha_vs_others"]
    assert r.loc["d", "skip_rate"] == pytest.approx(0.4) and r.loc["d", "n_too_fast"] == 8
    text = format_report(rep)
    assert "rater d is an outlier" in text and "skipped 40% of items" in text
    assert "8 of 10 answers took < 3 s" in text


def test_warns_when_humans_agree_less_than_the_judge():
    df, truth = _labels(noise=1.5, seed=3)
    judge = pd.DataFrame({"item_id": [f"i{i}" for i in range(len(truth))],
                          "criterion": "helpful", "score": truth})
    rep = check_reliability(df, specs={"helpful": HELPFUL}, judgments=judge, B=50)
    row = rep.criteria.iloc[0]
    assert row["alpha_judge_humans"] > row["alpha_humans"]
    assert any("cannot evaluate the judge" in w for w in rep.warnings)
    good, truth = _labels(noise=0.2, seed=3)
    rep = check_reliability(good, specs={"helpful": HELPFUL}, B=50,
                            judgments=judge.assign(score=np.clip(6 - truth, 1, 5)))
    assert not any("cannot evaluate" in w for w in rep.warnings)


def test_single_rater_alpha_is_nan_with_a_reason():
    df, _ = _labels(raters=("a",))
    rep = check_reliability(df, specs={"helpful": HELPFUL}, B=20)
    assert math.isnan(rep.criteria.iloc[0]["alpha_humans"])
    assert "needs items rated by >= 2 raters" in rep.criteria.iloc[0]["warning"]
