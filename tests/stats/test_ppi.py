"""PPI++ for a labelled sample of the judged items: against ppi_py, scipy and planted truth."""

from __future__ import annotations

import numpy as np
import pytest
from ppi_py import ppi_mean_ci, ppi_mean_pointestimate

from judge.stats.ppi import ppi_gap_cluster_bootstrap, sampled_ppi_gap, sampled_ppi_mean


def _data(seed=0, N=900, n=200):
    rng = np.random.default_rng(seed)
    gu = rng.choice(["a", "b", "c"], N)
    cu = rng.integers(0, 60, N).astype(str)
    q = 3 + 0.4 * (gu == "b") - 0.2 * (gu == "c") + rng.normal(0, 1, N)
    yhat_u = q + 0.5 * (gu == "b") + rng.normal(0, 0.5, N)
    lab = rng.choice(N, n, replace=False)
    y = q[lab] + rng.normal(0, 0.5, n)
    return y, yhat_u[lab], gu[lab], cu[lab], yhat_u, gu, cu


def test_cluster_bootstrap_gap_limits_and_seed():
    y, yh, gl, cl, yu, gu, cu = _data(3)
    m_l, m_u = gl != "c", gu != "c"
    args = (y[m_l], yh[m_l], gl[m_l], cl[m_l], yu[m_u], gu[m_u], cu[m_u], "b", "a")
    human_gap = y[gl == "b"].mean() - y[gl == "a"].mean()
    assert ppi_gap_cluster_bootstrap(*args, 0.0, B=100)[0] == pytest.approx(human_gap)
    ppi1 = (yu[gu == "b"].mean() - yu[gu == "a"].mean()
            + (y - yh)[gl == "b"].mean() - (y - yh)[gl == "a"].mean())
    r1 = ppi_gap_cluster_bootstrap(*args, 1.0, B=300, seed=5)
    assert r1[0] == pytest.approx(ppi1)
    assert r1[1] < r1[0] < r1[2] and r1[3] == 60
    assert ppi_gap_cluster_bootstrap(*args, 1.0, B=300, seed=5) == r1
    assert ppi_gap_cluster_bootstrap(*args, 1.0, B=300, seed=6) != r1


# ---------------------------------------------------------------- labelled items a sample of the judged


@pytest.mark.parametrize("weighted", [False, True])
def test_sampled_ppi_mean_point_is_ppi_pys_point_at_its_lam(weighted):
    y, yh, _, _, yu, _, _ = _data(3)  # the labelled items are among ``yu``, as in a run
    w = np.random.default_rng(2).uniform(1, 4, len(y)) if weighted else None
    e = sampled_ppi_mean(y, yh, yu, w=w)
    assert 0 < e.lam <= 1 and e.n_labelled == len(y) and e.n_items == len(yu)
    ref = float(np.ravel(ppi_mean_pointestimate(y, yh, yu, lam=e.lam, w=w))[0])
    assert e.value == pytest.approx(ref, rel=1e-12)
    assert (e.ci_low + e.ci_high) / 2 == pytest.approx(e.value, rel=1e-12)


def test_sampled_ppi_mean_of_fully_labelled_items_is_the_t_interval():
    """Every item labelled: the judge adds nothing and the interval is Student's."""
    from scipy import stats

    rng = np.random.default_rng(4)
    y = rng.normal(3, 1, 40)
    e = sampled_ppi_mean(y, y + rng.normal(0.5, 0.3, 40), y + 0.0)
    lo, hi = stats.t.interval(0.95, 39, loc=y.mean(), scale=stats.sem(y))
    assert (e.value, e.ci_low, e.ci_high) == pytest.approx((y.mean(), lo, hi), rel=1e-12)


def test_sampled_ppi_gap_of_fully_labelled_groups_is_welchs_interval():
    from scipy import stats

    rng = np.random.default_rng(5)
    a, b = rng.normal(3.4, 1.2, 30), rng.normal(3.0, 0.7, 45)
    ea, eb = sampled_ppi_mean(a, a + 1, a), sampled_ppi_mean(b, b - 1, b)
    d = sampled_ppi_gap(ea, eb)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (d.value, d.ci_low, d.ci_high) == pytest.approx((a.mean() - b.mean(), ci.low,
                                                             ci.high), rel=1e-10)


def test_sampled_ppi_mean_covers_where_ppi_py_given_overlapping_sets_does_not():
    """A stratified sample of the judged items (inclusion 1.0 and 0.8): passing all items to
    ``ppi_py`` as "unlabelled" counts the labelled ones twice and under-covers; the sampled
    estimator's interval covers the planted mean at its nominal rate."""
    rng = np.random.default_rng(0)
    truth, reps, new, old = 3.25, 1000, 0, 0
    for _ in range(reps):
        stratum = rng.random(240) < 0.5
        q = 3 + 0.5 * stratum + rng.normal(0, 1, 240)
        y, yhat = q + rng.normal(0, 0.5, 240), q + 0.4 + rng.normal(0, 0.6, 240)
        pi = np.where(stratum, 1.0, 0.8)
        lab = rng.random(240) < pi
        e = sampled_ppi_mean(y[lab], yhat[lab], yhat, w=1 / pi[lab])
        lo, hi = (float(v[0]) for v in ppi_mean_ci(y[lab], yhat[lab], yhat, alpha=0.05,
                                                    w=1 / pi[lab]))
        new += e.ci_low <= truth <= e.ci_high
        old += lo <= truth <= hi
    assert 0.93 <= new / reps <= 0.97
    assert old / reps < 0.92


def test_clustered_fully_labelled_mean_is_statsmodels_cluster_robust_interval():
    """Labels correlated within clusters: the interval is the CR1 one statsmodels gives for a
    mean (t with G - 1 degrees of freedom), wider than the item-level one; with one item
    per cluster nothing changes."""
    import statsmodels.api as sm

    rng = np.random.default_rng(8)
    cl = np.repeat(np.arange(12), 7)
    y = 3 + rng.normal(0, 1, 12)[cl] + rng.normal(0, 0.3, len(cl))
    yhat = y + rng.normal(0.3, 0.4, len(cl))
    e = sampled_ppi_mean(y, yhat, yhat, clusters=cl)
    fit = sm.OLS(y, np.ones(len(y))).fit(cov_type="cluster", cov_kwds={"groups": cl},
                                         use_t=True)
    lo, hi = fit.conf_int(0.05)[0]
    assert (e.value, e.ci_low, e.ci_high, e.df) == pytest.approx((y.mean(), lo, hi, 11),
                                                                 rel=1e-10)
    plain = sampled_ppi_mean(y, yhat, yhat)
    assert e.ci_high - e.ci_low > 1.5 * (plain.ci_high - plain.ci_low)
    single = sampled_ppi_mean(y, yhat, yhat, clusters=np.arange(len(y)))
    assert (single.ci_low, single.ci_high) == pytest.approx((plain.ci_low, plain.ci_high),
                                                            rel=1e-12)


def test_clustered_sampled_ppi_mean_covers_a_planted_mean_with_cluster_effects():
    """Counterfactual groups of 4 items share a template effect that both judge and humans
    see; humans labelled a stratified sample. Item-level intervals under-cover; the
    clustered ones cover the planted mean at about the nominal rate."""
    rng = np.random.default_rng(1)
    reps, with_cl, without = 1000, 0, 0
    cl = np.repeat(np.arange(30), 4)
    for _ in range(reps):
        tmpl = rng.normal(0, 0.8, 30)[cl]
        yhat = 3 + tmpl + rng.normal(0, 0.5, len(cl))
        y = 3 + tmpl + 0.6 * (yhat - 3 - tmpl) + rng.normal(0, 0.6, len(cl))
        stratum = yhat > 3
        pi = np.where(stratum, 0.7, 0.4)
        lab = rng.random(len(cl)) < pi
        kw = {"w": 1 / pi[lab]}
        e = sampled_ppi_mean(y[lab], yhat[lab], yhat, clusters=cl[lab], **kw)
        f = sampled_ppi_mean(y[lab], yhat[lab], yhat, **kw)
        with_cl += e.ci_low <= 3 <= e.ci_high
        without += f.ci_low <= 3 <= f.ci_high
    # 0.948 here; item-level 0.805
    assert 0.93 <= with_cl / reps <= 0.97
    assert without / reps < 0.90


def test_sampled_ppi_mean_refuses_what_it_cannot_use():
    with pytest.raises(ValueError, match="at least 2 labelled"):
        sampled_ppi_mean([3.0], [3.0], [3.0, 4.0])
    with pytest.raises(ValueError, match="positive and finite"):
        sampled_ppi_mean([3.0, 4.0], [3.0, 4.0], [3.0, 4.0, 5.0], w=[1.0, 0.0])


def test_sampled_ppi_mean_degrees_of_freedom_follow_the_sample_design():
    """A stratum with two labelled items of weight 10 carries most of the design variance:
    its interval gets few degrees of freedom (Satterthwaite), not n - 1."""
    rng = np.random.default_rng(6)
    y_all = rng.normal(3, 1, 60)
    yhat_all = y_all + rng.normal(0, 0.8, 60)
    lab = np.r_[np.arange(40), 40, 41]  # 40 of 40 in one stratum, 2 of 20 in the other
    w = np.r_[np.ones(40), 10.0, 10.0]
    e = sampled_ppi_mean(y_all[lab], yhat_all[lab], yhat_all, w=w)
    assert 1 <= e.df < 30 < len(lab) - 1
    assert sampled_ppi_mean(y_all[:40], yhat_all[:40], yhat_all).df == 39  # one stratum


def test_sampled_ppi_mean_at_lam_zero_is_the_weighted_human_mean():
    y, yh, _, _, yu, _, _ = _data(7)
    w = np.random.default_rng(3).uniform(1, 4, len(y))
    e = sampled_ppi_mean(y, yh, yu, w=w, lam=0.0)
    assert e.lam == 0.0 and e.value == pytest.approx(np.average(y, weights=w), rel=1e-12)
