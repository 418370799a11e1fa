"""Judge bias statistics against statsmodels, sklearn and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from sklearn.metrics import confusion_matrix
from statsmodels.stats.multitest import multipletests

from judge.stats.bias import (
    REASON_CHANCE,
    confusion_by_group,
    differential_bias,
    error_rates,
    mean_by_group,
    rogan_gladen,
)


def _data(seed=0, n=400, C=40):
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b", "c"], n)
    cl = rng.integers(0, C, n).astype(str)
    ce = rng.normal(0, 0.3, C)
    d = 0.1 + 0.5 * (g == "b") + ce[cl.astype(int)] + rng.normal(0, 1, n)
    return d, g, cl


def test_differential_bias_matches_statsmodels_formula():
    d, g, cl = _data()
    tab, joint = differential_bias(d, g, cl, reference="a")
    df = pd.DataFrame({"d": d, "g": g, "cl": pd.factorize(cl)[0]})
    ref = smf.ols("d ~ C(g, Treatment('a'))", df).fit(
        cov_type="cluster", cov_kwds={"groups": df["cl"]}, use_t=True)
    names = ["C(g, Treatment('a'))[T.b]", "C(g, Treatment('a'))[T.c]"]
    assert tab["group"].tolist() == ["b", "c"]
    np.testing.assert_allclose(tab["estimate"], ref.params[names], rtol=1e-10)
    np.testing.assert_allclose(tab["se"], ref.bse[names], rtol=1e-10)
    np.testing.assert_allclose(tab["p_value"], ref.pvalues[names], rtol=1e-10)
    np.testing.assert_allclose(tab["ci_low"], ref.conf_int().loc[names, 0], rtol=1e-10)
    np.testing.assert_allclose(tab["p_holm"], multipletests(ref.pvalues[names], method="holm")[1])
    wt = ref.wald_test(", ".join(f"{n} = 0" for n in names), scalar=True)
    assert joint["statistic"] == pytest.approx(float(wt.statistic))
    assert joint["p_value"] == pytest.approx(float(wt.pvalue))
    assert joint["df_denom"] == 39  # clusters - 1


def test_weighted_differential_bias_matches_wls():
    d, g, cl = _data(1)
    w = np.random.default_rng(2).uniform(1, 4, len(d))
    tab, _ = differential_bias(d, g, cl, reference="a", weights=w)
    df = pd.DataFrame({"d": d, "g": g, "cl": pd.factorize(cl)[0]})
    ref = smf.wls("d ~ C(g, Treatment('a'))", df, weights=w).fit(
        cov_type="cluster", cov_kwds={"groups": df["cl"]}, use_t=True)
    np.testing.assert_allclose(tab["se"], ref.bse.iloc[1:], rtol=1e-10)


def test_differential_bias_without_reference_group_is_nan_with_reason():
    d, g, cl = _data()
    tab, joint = differential_bias(d, g, cl, reference="zzz")
    assert tab["estimate"].isna().all() and "no labelled items" in tab["warning"].iloc[0]
    assert math.isnan(joint["p_value"])


def test_differential_bias_with_fewer_clusters_than_parameters_has_no_interval():
    """2 clusters (counterfactual groups), each holding all 6 religions: the cluster-robust
    covariance of 6 parameters is singular. statsmodels then reports SEs of ~1e-16 and p ~
    1e-70 on pure noise (seen in the null world); we report the estimate only, with why."""
    rng = np.random.default_rng(0)
    groups = np.tile(["Christian", "Buddhist", "Hindu", "Jewish", "Muslim", "none"], 8)
    clusters = np.repeat(["c1", "c2"], 24)
    d = rng.normal(0, 0.7, len(groups))
    tab, joint = differential_bias(d, groups, clusters, "Christian")
    assert len(tab) == 5 and tab["estimate"].notna().all()
    assert tab[["se", "ci_low", "ci_high", "p_value", "p_holm"]].isna().all().all()
    assert tab["warning"].str.contains("singular").all()
    assert math.isnan(joint["p_value"]) and "no joint test" in joint["warning"]
    # the same data over 24 clusters: real intervals again, none of them a point
    tab, joint = differential_bias(d, groups, np.repeat([f"c{i}" for i in range(8)], 6),
                                   "Christian")
    assert tab["p_value"].between(0, 1).all() and (tab["ci_high"] - tab["ci_low"] > 0.1).all()


def test_weighted_mean_by_group():
    d, g, cl = _data()
    w = np.linspace(1, 2, len(d))
    est = mean_by_group(d, g, cl, w, B=300, seed=3)
    m = g == "b"
    assert est["b"].value == pytest.approx(np.average(d[m], weights=w[m]))
    assert est["b"].ci_low < est["b"].value < est["b"].ci_high
    assert est["b"].n == m.sum()
    one = mean_by_group([1.0, 2.0], ["a", "a"], ["c1", "c1"], B=10)
    assert math.isnan(one["a"].ci_low) and "fewer than 2 clusters" in one["a"].warning


def test_confusion_and_error_rates_match_sklearn():
    rng = np.random.default_rng(4)
    h = rng.integers(0, 2, 300)
    j = np.where(rng.random(300) < 0.8, h, 1 - h)
    cl = rng.integers(0, 30, 300).astype(str)
    conf = confusion_by_group(j, h, np.zeros(300), [0, 1])
    cm = confusion_matrix(j, h, labels=[0, 1])  # rows judge, cols human
    got = conf.pivot(index="judge", columns="human", values="count").to_numpy()
    np.testing.assert_array_equal(got, cm)
    er = error_rates(j, h, cl, [1], B=200, seed=0)[1]
    assert er["tpr"].value == pytest.approx(cm[1, 1] / cm[:, 1].sum())
    assert er["fpr"].value == pytest.approx(cm[1, 0] / cm[:, 0].sum())
    assert er["tpr"].ci_low <= er["tpr"].value <= er["tpr"].ci_high


def test_rogan_gladen_formula_and_chance_judge():
    rng = np.random.default_rng(5)
    j_all = (rng.random(1000) < 0.4).astype(float)
    c_all = rng.integers(0, 50, 1000)
    h = (rng.random(200) < 0.3).astype(float)
    j = np.where(rng.random(200) < 0.85, h, 1 - h)
    c = rng.integers(0, 50, 200)
    est = rogan_gladen(j_all, c_all, j, h, c, B=200)
    sens, spec = (j * h).sum() / h.sum(), ((1 - j) * (1 - h)).sum() / (1 - h).sum()
    assert est.value == pytest.approx((j_all.mean() + spec - 1) / (sens + spec - 1))
    assert est.ci_low <= est.value <= est.ci_high
    chance = rogan_gladen(j_all, c_all, np.ones(200), h, c, B=50)  # sens 1, spec 0
    assert math.isnan(chance.value) and chance.warning == REASON_CHANCE
