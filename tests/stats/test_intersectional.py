"""Intersectional cells: counts, MDE against statsmodels, corrections, planted cell effect."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower

import judge.stats.intersectional as inter_mod
from judge.sim.synthetic import planted_frame
from judge.stats import METRIC_COLUMNS, intersectional_cells, minimum_detectable_effect


def row(t, metric, attribute, level):
    hit = t[(t.metric == metric) & (t.attribute == attribute) & (t.level == level)]
    assert len(hit) == 1, (metric, attribute, level)
    return hit.iloc[0]


@pytest.fixture(scope="module")
def world():
    # only Black women get lower scores: an effect that is intersectional
    df = planted_frame(500, seed=9)
    bw = (df["attr.race"] == "Black") & (df["attr.gender"] == "female")
    df.loc[bw, "score"] -= 0.6
    return df


def test_doctests():
    assert doctest.testmod(inter_mod).failed == 0


def test_counts_and_means_match_pandas(world):
    t = intersectional_cells(world, ["race", "gender"], B=200)
    assert list(t.columns) == METRIC_COLUMNS
    assert set(t.attribute) == {"race", "gender", "race|gender"}
    d = world.dropna(subset=["score"])
    sizes = d.groupby(["attr.race", "attr.gender"]).size()
    means = d.groupby(["attr.race", "attr.gender"]).score.mean()
    for (race, gender), n in sizes.items():
        lv = f"{race}|{gender}"
        assert row(t, "cell_n", "race|gender", lv).value == n
        assert row(t, "cell_mean", "race|gender", lv).value == pytest.approx(means[race, gender])
        rest = d[~((d["attr.race"] == race) & (d["attr.gender"] == gender))].score.mean()
        assert row(t, "cell_diff_vs_rest", "race|gender", lv).value == pytest.approx(
            means[race, gender] - rest)


def test_mde_matches_statsmodels(world):
    t = intersectional_cells(world, ["race"], B=50)
    d = world.dropna(subset=["score"])
    cell = d[d["attr.race"] == "Asian"].score
    rest = d[d["attr.race"] != "Asian"].score
    n1, n2 = len(cell), len(rest)
    sd = np.sqrt(((n1 - 1) * cell.var() + (n2 - 1) * rest.var()) / (n1 + n2 - 2))
    es = TTestIndPower().solve_power(nobs1=n1, ratio=n2 / n1, alpha=0.05, power=0.8)
    assert row(t, "cell_mde", "race", "Asian").value == pytest.approx(es * sd)
    assert minimum_detectable_effect(1, 10, 1.0) != minimum_detectable_effect(1, 10, 1.0)  # NaN


def test_planted_intersectional_effect_found_and_holm_applied(world):
    t = intersectional_cells(world, ["race", "gender"], B=400)
    bw = row(t, "cell_diff_vs_rest", "race|gender", "Black|female")
    # the other five cells have the baseline mean: planted diff vs rest = -0.6
    assert bw.ci_high < 0 and bw.ci_low <= -0.6 <= bw.ci_high
    assert bw.p_adj < 0.001
    diffs = t[t.metric == "cell_diff_vs_rest"]
    assert diffs.p_adj.tolist() == pytest.approx(
        multipletests(diffs.p_value, method="holm")[1].tolist())
    assert "holm over 11" in bw.method
    bh = intersectional_cells(world, ["race", "gender"], B=400, correction="bh")
    d2 = bh[bh.metric == "cell_diff_vs_rest"]
    assert d2.p_adj.tolist() == pytest.approx(
        multipletests(d2.p_value, method="fdr_bh")[1].tolist())
    wm = row(t, "cell_diff_vs_rest", "race|gender", "White|male")
    # every other cell is 0.6 / 5 above a rest that holds Black women
    assert wm.ci_low <= 0.12 <= wm.ci_high


def test_small_cells_warn_and_max_order():
    df = pd.DataFrame({"cf_group": [f"g{i}" for i in range(12)],
                       "attr.a": ["x"] * 10 + ["y"] * 2, "attr.b": ["p", "q"] * 6,
                       "score": np.arange(12, dtype=float)})
    t = intersectional_cells(df, max_order=1, min_cell=5, B=50)
    assert set(t.attribute) == {"a", "b"}
    y = row(t, "cell_n", "a", "y")
    assert y.value == 2 and y.warning == ("small cell: n=2 < min_cell=5; only 2 clusters: "
                                          "the bootstrap interval is unreliable")
    assert row(t, "cell_n", "a", "x").warning is None
