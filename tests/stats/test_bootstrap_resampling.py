"""The additive bootstrap helpers used by the fairness metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from judge.stats._metric_table import boot_means, boot_means_multi
from judge.stats.bootstrap import group_means_bootstrap, resampled_sums


def test_resampled_sums_equals_weight_matrix_product():
    rng = np.random.default_rng(0)
    M = rng.normal(size=(37, 4))
    full = resampled_sums(M, B=50, seed=3, chunk=50)
    picks = np.random.default_rng(3).integers(0, 37, size=(50, 37), dtype=np.int32)
    W = np.stack([np.bincount(r, minlength=37) for r in picks]).astype(float)
    assert full == pytest.approx(W @ M)
    assert resampled_sums(M, B=50, seed=3, chunk=7) == pytest.approx(full)  # chunk-free
    assert np.all(resampled_sums(np.ones((37, 1)), B=50, seed=3) == 37)
    assert resampled_sums(sparse.csr_matrix(M), B=50, seed=3) == pytest.approx(full)
    assert resampled_sums(np.zeros((0, 2)), B=5).shape == (5, 2)


def test_boot_means_agrees_with_group_means_bootstrap():
    rng = np.random.default_rng(1)
    n = 400
    v = rng.normal(size=n)
    v[::17] = np.nan
    g = pd.Series(np.where(rng.random(n) < 0.5, "a", "b"))
    c = np.arange(n) // 4
    ours = boot_means(v, g, c, B=200, seed=5)
    point, reps, nn, nc = group_means_bootstrap(v, g, c, B=200, seed=5)
    assert ours.levels == ["a", "b"]
    assert ours.point == pytest.approx(point.to_numpy())
    assert list(ours.n) == list(nn) and list(ours.n_clusters) == list(nc)
    # the same resampling scheme, different random draws: similar spread
    assert ours.reps.std(0) == pytest.approx(reps.to_numpy().std(0), rel=0.25)


def test_boot_means_multi_shares_replicates():
    v = np.arange(20, dtype=float)
    g = pd.Series(["a", "b"] * 10)
    c = np.arange(20) // 2
    a, b = boot_means_multi([v, v * 2], g, c, B=100, seed=0)
    assert b.reps == pytest.approx(2 * a.reps)
