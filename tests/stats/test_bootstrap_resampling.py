"""The one cluster bootstrap (judge.stats.bootstrap.ClusterBootstrap) and every interval of
judge.stats on strongly within-cluster-correlated data.

Each ``test_*_resamples_clusters`` test computes an interval twice on the same data, once
with the real clusters and once with every row (or counterfactual pair) its own cluster,
and asserts the first is clearly wider (see tests/stats/_clustered.py). Making the core
resample rows (``self._units = np.arange(len(self.codes))`` in ClusterBootstrap) fails
every one of them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from judge.stats import (
    all_metrics,
    calibration_by_group,
    counterfactual_metrics,
    counterfactual_set_summary,
    demographic_parity,
    equalized_odds,
    failure_rates,
    individual_fairness,
    intersectional_cells,
    producer_exposure,
    quality_of_service,
    rate_by_group,
    unawareness_rate,
)
from judge.stats.agreement import agreement_table
from judge.stats.bias import differential_bias, error_rates, mean_by_group, rogan_gladen
from judge.stats.bootstrap import (
    NAN_ESTIMATE_REASON_FEW,
    ClusterBootstrap,
    bootstrap_stat,
    group_diff_ci,
    mean_ci,
    resampled_sums,
)
from judge.stats.counterfactual import SET_DIFFERS, SET_DIMENSION
from judge.stats.ppi import ppi_gap_cluster_bootstrap, sampled_ppi_mean
from judge.stats.probes import probe_effects
from tests.stats._clustered import (
    assert_estimate_wider,
    assert_wider,
    clustered_frame,
)

B = 200


# ---------------------------------------------------------------- the core

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


def test_weights_are_one_stream_whatever_the_chunking(monkeypatch):
    import judge.stats.bootstrap as bs

    cl = np.repeat(np.arange(9), 3)
    W = ClusterBootstrap(cl, B=40, seed=11).weights()
    assert W.shape == (40, 9) and (W.sum(1) == 9).all()
    np.testing.assert_array_equal(W, ClusterBootstrap(cl, B=40, seed=11, chunk=3).weights())
    monkeypatch.setattr(bs, "CHUNK_CELLS", 20)  # too big to keep: drawn 2 replicates at a time
    np.testing.assert_array_equal(W, ClusterBootstrap(cl, B=40, seed=11).weights())
    assert not np.array_equal(W, ClusterBootstrap(cl, B=40, seed=12).weights())


def test_sums_are_weights_times_per_cluster_sums_and_ignore_row_order():
    rng = np.random.default_rng(2)
    cl = rng.choice(["x", "y", "z", "w"], 50)
    X = rng.normal(size=(50, 3))
    boot = ClusterBootstrap(cl, B=30, seed=4)
    total, reps = boot.sums(X)
    M = np.stack([X[cl == c].sum(0) for c in sorted(set(cl))])
    assert total == pytest.approx(X.sum(0))
    assert reps == pytest.approx(boot.weights() @ M)
    perm = rng.permutation(50)
    assert ClusterBootstrap(cl[perm], B=30, seed=4).sums(X[perm])[1] == pytest.approx(reps)
    g = (X[:, 0] > 0).astype(int)
    gt, gr = boot.sums(X, g, 2)
    assert gt.shape == (2, 3) and gr.shape == (30, 2, 3)
    assert gr.sum(1) == pytest.approx(reps)  # the groups split the same replicate sums


def test_group_means_share_one_draw_and_count_clusters():
    v = np.arange(20, dtype=float)
    v[3] = np.nan
    g = ["a", "b"] * 10
    c = np.arange(20) // 2
    a, b = ClusterBootstrap(c, B=100, seed=0).group_means([v, v * 2], g)
    assert a.levels == ["a", "b"]
    np.testing.assert_allclose(b.reps, 2 * a.reps)
    assert list(a.n) == [10, 9] and list(a.n_clusters) == [10, 9]
    assert a.point[1] == pytest.approx(np.nanmean(v[1::2]))
    w = np.linspace(1, 3, 20)
    (wm,) = ClusterBootstrap(c, B=10, seed=0).group_means([v], weights=w)
    ok = ~np.isnan(v)
    assert wm.levels == ["*"] and wm.point[0] == pytest.approx(np.average(v[ok], weights=w[ok]))


def test_statistic_resamples_the_same_clusters_as_the_sums():
    rng = np.random.default_rng(5)
    v = rng.normal(size=60)
    boot = ClusterBootstrap(np.arange(60) // 4, B=50, seed=9)
    by_index = boot.statistic(lambda idx: v[idx].mean())
    assert by_index == pytest.approx(boot.group_means([v])[0].reps[:, 0])
    assert np.isnan(boot.statistic(lambda idx: 1 / 0)).all()


def test_validation_and_undefined_intervals():
    with pytest.raises(ValueError, match="B must be a positive number of replicates, not 0"):
        ClusterBootstrap([1, 2], B=0)
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\), not 1.5"):
        ClusterBootstrap([1, 2], alpha=1.5)
    one = mean_ci([1.0, 2.0, 3.0], ["c", "c", "c"], B=20)
    assert one.value == 2.0 and math.isnan(one.ci_low) and one.warning == NAN_ESTIMATE_REASON_FEW
    assert mean_ci([math.nan], ["c"], B=20).warning == "no observations"
    boot = ClusterBootstrap(["a", None, "b", None])
    assert boot.n_clusters == 3  # a missing cluster label is one cluster of its own
    assert "n_clusters=3" in repr(boot)


def test_doctests():
    import doctest

    import judge.stats.bootstrap as mod

    assert doctest.testmod(mod).failed == 0


def test_reproducible_from_the_seed():
    f = clustered_frame(1)
    one = mean_ci(f["score"], f["cf_group"], B=B, seed=7)
    assert mean_ci(f["score"], f["cf_group"], B=B, seed=7) == one
    assert mean_ci(f["score"], f["cf_group"], B=B, seed=8) != one
    t1 = rate_by_group(f, "score", "m", ["race"], B=B, seed=7)
    pd.testing.assert_frame_equal(t1, rate_by_group(f, "score", "m", ["race"], B=B, seed=7))


# ---------------------------------------------------------------- bootstrap.py wrappers

def test_mean_ci_resamples_clusters():
    f = clustered_frame(0)
    assert_estimate_wider(mean_ci(f["score"], f["cf_group"], B=B),
                          mean_ci(f["score"], f["row"], B=B))


@pytest.mark.parametrize("ratio", [False, True])
def test_group_diff_ci_resamples_clusters(ratio):
    f = clustered_frame(0)
    args = (f["score"], f["attr.race"])
    assert_estimate_wider(group_diff_ci(*args, f["cf_group"], "b", "a", B=B, ratio=ratio),
                          group_diff_ci(*args, f["row"], "b", "a", B=B, ratio=ratio))


def test_bootstrap_stat_resamples_clusters():
    f = clustered_frame(0)

    def median(d):
        return float(d["score"].median())
    assert_estimate_wider(bootstrap_stat(f, median, "cf_group", B=B),
                          bootstrap_stat(f, median, "row", B=B))


def test_quantiles_resample_clusters():
    f = clustered_frame(0)
    reps = [ClusterBootstrap(f[c], B=B).quantiles(f["score"], [0.5, 0.9])[1]
            for c in ("cf_group", "row")]
    lo, hi = np.quantile(reps[0], [0.025, 0.975], axis=0)
    rlo, rhi = np.quantile(reps[1], [0.025, 0.975], axis=0)
    assert ((hi - lo) > 1.5 * (rhi - rlo)).all()


# ---------------------------------------------------------------- metric tables

KW = {"B": B, "seed": 3, "min_cell": 1}
TABLES = {
    "rate_by_group": lambda f, cl: rate_by_group(f, "score", "m", ["race"], cluster=cl,
                                                 std=True, ratio=True, **KW),
    "demographic_parity": lambda f, cl: demographic_parity(f, ["race"], cluster=cl, **KW),
    "equalized_odds": lambda f, cl: equalized_odds(f, ["race"], cluster=cl, **KW),
    "calibration_by_group": lambda f, cl: calibration_by_group(f, ["race"], score="prob",
                                                               cluster=cl, **KW),
    "quality_of_service": lambda f, cl: quality_of_service(f, ["race"], cluster=cl, **KW),
    "unawareness_rate": lambda f, cl: unawareness_rate(f, ["race"], cluster=cl, **KW),
    "failure_rates": lambda f, cl: failure_rates(f, ["race"], cluster=cl, **KW),
    "intersectional_cells": lambda f, cl: intersectional_cells(f, ["race"], cluster=cl, **KW),
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_metric_table_resamples_clusters(name):
    f = clustered_frame(0)
    fn = TABLES[name]
    assert_wider(fn(f, "cf_group"), fn(f, "row"), min_compared=3)


def test_counterfactual_metrics_resample_clusters():
    f = clustered_frame(0)

    def run(cl):  # "unit" keeps each counterfactual pair whole: pairs resampled, not clusters
        return counterfactual_metrics(f, ["race"], cluster=cl, pair_on=("sample_index",), **KW)
    assert assert_wider(run("cf_group"), run("unit")) == 4


def test_all_metrics_resamples_clusters():
    f = clustered_frame(0)
    clustered = all_metrics(f, ["race"], cluster="cf_group", **KW)
    rows = all_metrics(f, ["race"], cluster="unit", **KW)
    # max-min gaps carry simultaneous pairwise bounds (judge.stats.fairness.gap_interval):
    # conservative under both resamplings, so their ratio is smaller, but well above the ~1
    # a row-resampling core would give
    gap = clustered["method"].astype(str).str.contains("simultaneous", na=False)
    n = assert_wider(clustered[~gap], rows)
    n_gap = assert_wider(clustered[gap], rows, factor=1.25) if gap.any() else 0
    assert n + n_gap >= 30


def test_counterfactual_set_summary_resamples_clusters():
    rng = np.random.default_rng(4)
    c = np.repeat(np.arange(20), 30)
    p = rng.choice([0.05, 0.95], 20)[c]
    differs, dimension = SET_DIFFERS, SET_DIMENSION  # the summary's default columns
    j = pd.DataFrame({"cf_group": c, "row": np.arange(len(c)),
                      differs: rng.random(len(c)) < p,
                      dimension: rng.choice(["tone", "decision", "quality"], 20)[c],
                      "worst_level": rng.choice(["a", "b", "c"], 20)[c]})
    j.loc[rng.random(len(c)) < 0.1, dimension] = "none"  # some within-cluster noise
    n = assert_wider(counterfactual_set_summary(j, cluster="cf_group", B=B, min_cell=1),
                     counterfactual_set_summary(j, cluster="row", B=B, min_cell=1))
    assert n == 7  # differs, 3 dimensions, 3 worst levels


def test_individual_fairness_resamples_clusters():
    rng = np.random.default_rng(6)
    c = np.repeat(np.arange(20), 30)
    d_out = np.clip(rng.uniform(0.1, 0.9, 20)[c] + rng.normal(0, 0.05, len(c)), 0, 1)
    pairs = pd.DataFrame({"cluster": c, "attribute": "race", "d_in": 0.5, "d_out": d_out,
                          "ratio": d_out / 0.5})
    t = individual_fairness(pairs, B=B, min_cell=1)
    r = individual_fairness(pairs.assign(cluster=np.arange(len(c))), B=B, min_cell=1)
    assert assert_wider(t, r) == 5  # distance and ratio means, violations, p50, p90


def test_producer_exposure_resamples_clusters():
    rng = np.random.default_rng(7)
    cat = pd.DataFrame({"producer_id": [f"p{i}" for i in range(6)],
                        "kind": ["x", "x", "x", "y", "y", "y"]})
    rows = []
    for c in range(20):
        order = rng.permutation(6)  # each cluster's responses favour the same producers
        none = rng.random() < 0.3
        for r in range(30):
            rid = f"c{c}-r{r}"
            if none and rng.random() < 0.9:
                rows.append({"response_id": rid, "producer_id": None, "rank": math.nan,
                             "cf_group": c})
                continue
            top = order if rng.random() < 0.9 else rng.permutation(6)
            rows += [{"response_id": rid, "producer_id": f"p{p}", "rank": k + 1,
                      "cf_group": c} for k, p in enumerate(top[:3])]
    m = pd.DataFrame(rows)
    n = assert_wider(producer_exposure(m, cat, cluster="cf_group", B=B, min_cell=1),
                     producer_exposure(m, cat, B=B, min_cell=1))
    assert n >= 15


# ---------------------------------------------------------------- agreement, bias, ppi

def _agreement_frames(seed=0):
    """Each cluster is one item template (judge score, three human scores), copied to its
    30 items with 10% of items drawn afresh."""
    rng = np.random.default_rng(seed)
    judge, human = [], []
    for c in range(20):
        t = rng.integers(1, 6, 4)
        for i in range(30):
            s = t if rng.random() < 0.9 else rng.integers(1, 6, 4)
            item = f"c{c}-{i}"
            judge.append({"item_id": item, "cluster": f"c{c}", "score": int(s[0]),
                          "group.race": "ab"[i % 2]})
            human += [{"item_id": item, "rater": f"r{k}", "score": int(s[k])}
                      for k in (1, 2, 3)]
    return pd.DataFrame(judge), pd.DataFrame(human)


def test_agreement_table_resamples_clusters():
    judge, human = _agreement_frames()
    kw = {"labels": [1, 2, 3, 4, 5], "level": "ordinal", "group_cols": ["group.race"], "B": B}
    t = agreement_table(judge, human, **kw)
    r = agreement_table(judge.assign(cluster=judge["item_id"]), human, **kw)
    assert assert_wider(t, r, keys=("attribute", "group", "metric")) == 27


def _bias_data(seed=0):
    rng = np.random.default_rng(seed)
    c = np.repeat(np.arange(20), 30)
    g = np.tile(["a", "b", "c"], 200)
    eff = rng.normal(0, 1, (20, 3))[c, np.tile([0, 1, 2], 200)]
    return eff + rng.normal(0, 0.3, len(c)), g, c.astype(str), np.arange(len(c)).astype(str)


def test_mean_by_group_resamples_clusters():
    d, g, c, rows = _bias_data()
    w = np.linspace(1, 2, len(d))
    for weights in (None, w):
        est, ref = mean_by_group(d, g, c, weights, B=B), mean_by_group(d, g, rows, weights, B=B)
        for k in ("a", "b", "c"):
            assert_estimate_wider(est[k], ref[k])


def test_differential_bias_resamples_clusters():
    d, g, c, rows = _bias_data()
    tab, _ = differential_bias(d, g, c, reference="a")
    ref, _ = differential_bias(d, g, rows, reference="a")
    assert assert_wider(tab, ref, keys=("group",)) == 2


def test_error_rates_and_rogan_gladen_resample_clusters():
    rng = np.random.default_rng(8)
    c = np.repeat(np.arange(20), 30)
    rows = np.arange(len(c))
    h = (rng.random(len(c)) < 0.5).astype(int)
    agree = rng.random(len(c)) < rng.choice([0.6, 0.97], 20)[c]
    j = np.where(agree, h, 1 - h)
    est = error_rates(j, h, c, [0, 1], B=B)
    ref = error_rates(j, h, rows, [0, 1], B=B)
    for lab in (0, 1):
        for rate in ("tpr", "fpr"):
            assert_estimate_wider(est[lab][rate], ref[lab][rate])
    # prevalence: all 600 items judged, every third labelled; clusters differ in prevalence
    j_all = (rng.random(len(c)) < rng.choice([0.1, 0.9], 20)[c]).astype(float)
    lab = rows[::3]
    h_lab = np.where(rng.random(len(lab)) < 0.95, j_all[lab], 1 - j_all[lab])
    rg = rogan_gladen(j_all, c, j_all[lab], h_lab, c[lab], B=B)
    rr = rogan_gladen(j_all, rows, j_all[lab], h_lab, rows[lab], B=B)
    assert_estimate_wider(rg, rr)


def test_ppi_gap_cluster_bootstrap_resamples_clusters():
    rng = np.random.default_rng(9)
    c = np.repeat(np.arange(20), 30)
    g = np.tile(["a", "b"], 300)
    eff = rng.normal(0, 1, (20, 2))[c, np.tile([0, 1], 300)]
    yhat = eff + rng.normal(0, 0.3, len(c))
    lab = np.arange(len(c))[::3]
    y = eff[lab] + rng.normal(0, 0.3, len(lab))
    ids = np.arange(len(c)).astype(str)

    def run(cl):
        return ppi_gap_cluster_bootstrap(y, yhat[lab], g[lab], cl[lab], yhat, g, cl, "b", "a",
                                         0.5, B=B)
    (_, lo, hi, nc), (_, rlo, rhi, _) = run(c.astype(str)), run(ids)
    assert nc == 20 and (hi - lo) > 1.5 * (rhi - rlo)



def test_sampled_ppi_mean_allows_for_clusters():
    """Not a bootstrap, but a public interval: human scores that move together within a
    cluster give a clearly wider interval than the same scores as independent items."""
    rng = np.random.default_rng(4)
    c = np.repeat(np.arange(20), 30)
    eff = rng.normal(0, 1, 20)[c]
    yhat = eff + rng.normal(0, 0.5, len(c))
    lab = np.arange(len(c))[::2]
    y = eff[lab] + rng.normal(0, 0.3, len(lab))
    clustered = sampled_ppi_mean(y, yhat[lab], yhat, clusters=c[lab])
    items = sampled_ppi_mean(y, yhat[lab], yhat, clusters=np.arange(len(lab)))
    assert (clustered.ci_high - clustered.ci_low) > 1.5 * (items.ci_high - items.ci_low)


# ---------------------------------------------------------------- probes

def _probe_judgments(seed=0):
    """Plain judgments, a verbosity probe and a repeat of each target; the probe's score
    change and the repeat's disagreement are shared within a counterfactual group."""
    rng = np.random.default_rng(seed)
    shift = rng.choice([-1.0, 0.0, 2.0], 20)
    unstable = rng.random(20) < 0.5
    rows = []
    for c in range(20):
        for i in range(30):
            base = {"judge": "j", "rubric_id": "r", "parse_status": "ok",
                    "target_ids": [f"g-{c}-{i}"], "cf_group": f"c{c}", "probe_meta": None,
                    "attr.race": "ab"[i % 2]}
            s = float(rng.integers(2, 5))
            rows.append({**base, "probe": None, "repeat": 0, "score.r.quality": s})
            rows.append({**base, "probe": None, "repeat": 1,
                         "score.r.quality": s + (1.0 if unstable[c] and rng.random() < 0.9
                                               else 0.0)})
            rows.append({**base, "probe": "verbosity", "repeat": 0,
                         "score.r.quality": s + shift[c] + rng.normal(0, 0.2)})
    return pd.DataFrame(rows)


def test_probe_effects_resample_clusters():
    j = _probe_judgments()
    t = probe_effects(j, B=B)
    r = probe_effects(j.assign(cf_group=j["target_ids"].map(lambda t: t[0])), B=B)
    assert assert_wider(t, r, keys=("probe", "metric", "attribute", "level")) == 3
