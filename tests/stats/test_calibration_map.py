"""Cross-fitted isotonic calibration maps."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from judge.stats.calibration_map import calibrate_scores, cluster_folds, isotonic_crossfit


def _data(seed=0, n=300):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 6, n).astype(float)
    y = 0.5 + 0.7 * x + rng.normal(0, 0.8, n)
    cl = rng.integers(0, 30, n).astype(str)
    return x, y, cl


def test_folds_keep_clusters_together_and_are_seeded():
    _, _, cl = _data()
    f = cluster_folds(cl, 5, seed=1)
    for c in set(cl):
        assert len(set(f[cl == c])) == 1
    assert set(f) == set(range(5))
    np.testing.assert_array_equal(f, cluster_folds(cl, 5, seed=1))
    assert not np.array_equal(f, cluster_folds(cl, 5, seed=2))


def test_crossfit_is_out_of_fold_and_monotone():
    x, y, cl = _data()
    oof, unl = isotonic_crossfit(x, y, cl, np.arange(1.0, 6.0), folds=5, seed=0)
    insample = IsotonicRegression(out_of_bounds="clip").fit(x, y).predict(x)
    assert not np.allclose(oof, insample)  # cross-fitted, not in-sample
    assert np.all(np.diff(unl) >= 0)  # an average of monotone maps is monotone
    f = cluster_folds(cl, 5, seed=0)
    m = IsotonicRegression(out_of_bounds="clip").fit(x[f != 0], y[f != 0])
    np.testing.assert_allclose(oof[f == 0], m.predict(x[f == 0]))


def test_per_group_maps_where_labels_suffice_else_global():
    x, y, cl = _data()
    g = np.where(np.arange(len(x)) < 280, "big", "small")
    y = y + (g == "big") * 0.5
    cal_l, cal_u, table = calibrate_scores(x, y, g, cl, x, g, min_labels=30, seed=0,
                                           attribute="race")
    fits = table.drop_duplicates("group").set_index("group")["fit"]
    assert fits["big"] == "group" and fits["small"].startswith("global")
    assert fits["all"] == "global"
    assert len(cal_l) == len(x) and not np.isnan(cal_l).any()
    big = table[table.group == "big"].set_index("score")["calibrated"]
    assert big.is_monotonic_increasing
    ref = IsotonicRegression(out_of_bounds="clip").fit(x[g == "big"], y[g == "big"])
    assert big[3.0] == pytest.approx(ref.predict([3.0])[0])
