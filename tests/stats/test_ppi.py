"""PPI++ wrappers against ppi_py on the same data."""

from __future__ import annotations

import numpy as np
import pytest
from ppi_py import ppi_mean_ci, ppi_mean_pointestimate, ppi_ols_ci, ppi_ols_pointestimate

from judge.stats.ppi import (
    gap_design,
    implied_lam,
    ppi_gap_cluster_bootstrap,
    ppi_gaps,
    ppi_mean,
    pure_python_ols,
)


def _data(seed=0, N=900, n=200):
    rng = np.random.default_rng(seed)
    gu = rng.choice(["a", "b", "c"], N)
    cu = rng.integers(0, 60, N).astype(str)
    q = 3 + 0.4 * (gu == "b") - 0.2 * (gu == "c") + rng.normal(0, 1, N)
    yhat_u = q + 0.5 * (gu == "b") + rng.normal(0, 0.5, N)
    lab = rng.choice(N, n, replace=False)
    y = q[lab] + rng.normal(0, 0.5, n)
    return y, yhat_u[lab], gu[lab], cu[lab], yhat_u, gu, cu


def test_ppi_mean_equals_ppi_py():
    y, yh, gl, _, yu, gu, _ = _data()
    point, lo, hi = ppi_mean(y, yh, yu, alpha=0.05)
    ref_lo, ref_hi = ppi_mean_ci(y, yh, yu, alpha=0.05)
    assert (lo, hi) == pytest.approx((float(ref_lo[0]), float(ref_hi[0])), rel=1e-12)
    assert point == pytest.approx(float(ppi_mean_pointestimate(y, yh, yu)[0]), rel=1e-12)


def test_weighted_ppi_mean_equals_ppi_py():
    y, yh, gl, _, yu, gu, _ = _data(1)
    w = np.random.default_rng(0).uniform(1, 3, len(y))
    _, lo, hi = ppi_mean(y, yh, yu, w=w, alpha=0.05)
    ref_lo, ref_hi = ppi_mean_ci(y, yh, yu, alpha=0.05, w=w)
    assert (lo, hi) == pytest.approx((float(ref_lo[0]), float(ref_hi[0])), rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_ppi_gaps_equal_ppi_ols_ci(weighted):
    y, yh, gl, _, yu, gu, _ = _data(2)
    w = np.random.default_rng(1).uniform(1, 3, len(y)) if weighted else None
    got = ppi_gaps(y, yh, gl, yu, gu, "a", w=w, alpha=0.05)
    X, Xu = gap_design(gl, ["b", "c"]), gap_design(gu, ["b", "c"])
    with pure_python_ols():  # same source as the jitted helper, minus an 18 s compile
        lo, hi = ppi_ols_ci(X, y, yh, Xu, yu, alpha=0.05, w=w)
    assert list(got) == ["b", "c"]
    for k, g in enumerate(["b", "c"], start=1):
        assert got[g][1:] == pytest.approx((lo[k], hi[k]), rel=1e-12)
    if not weighted:
        # the reported point is ppi_py's point estimate at the lam its interval used
        lam = implied_lam(got["b"][0], y, yh, gl, yu, gu, "b", "a")
        with pure_python_ols():
            est = ppi_ols_pointestimate(X, y, yh, Xu, yu, lam=lam)
        assert got["b"][0] == pytest.approx(est[1], rel=1e-9)
        assert got["c"][0] == pytest.approx(est[2], rel=1e-9)


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


def test_pure_python_ols_restores_the_jitted_helper():
    import ppi_py.ppi as mod

    orig = mod._ols_get_stats
    with pure_python_ols():
        assert mod._ols_get_stats is getattr(orig, "py_func", orig)
    assert mod._ols_get_stats is orig
