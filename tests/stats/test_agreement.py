"""Agreement statistics against sklearn, scipy and krippendorff on the same data."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau, spearmanr
from sklearn.metrics import cohen_kappa_score

from judge.stats.agreement import (
    REASON_NO_VARIATION,
    REASON_NOMINAL,
    agreement_table,
    alpha_from_coincidence,
    kappa_from_table,
    kendall_tau_b_from_table,
    spearman_from_table,
    unit_coincidences,
)

LIKERT = [1, 2, 3, 4, 5]


def _table(a, b, K):
    T = np.zeros((K, K))
    np.add.at(T, (a, b), 1)
    return T


@pytest.mark.parametrize("weights", ["none", "linear", "quadratic"])
def test_kappa_equals_sklearn(weights):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 5, 300)
    b = np.clip(a + rng.integers(-1, 2, 300), 0, 4)
    ours = kappa_from_table(_table(a, b, 5), weights)
    ref = cohen_kappa_score(a, b, labels=range(5), weights=None if weights == "none" else weights)
    assert ours == pytest.approx(ref, abs=1e-12)


def test_kappa_label_set_includes_unused_labels():
    a, b = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    ours = kappa_from_table(_table(a, b, 5), "quadratic")
    assert ours == pytest.approx(cohen_kappa_score(a, b, labels=range(5), weights="quadratic"))


def test_kappa_without_variation_is_nan():
    assert math.isnan(kappa_from_table(_table(np.zeros(5, int), np.zeros(5, int), 3)))


def test_rank_correlations_equal_scipy_with_ties():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 4, 200)
    b = np.clip(a + rng.integers(-2, 3, 200), 0, 3)
    T = _table(a, b, 4)
    assert spearman_from_table(T) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert kendall_tau_b_from_table(T) == pytest.approx(kendalltau(a, b).statistic, abs=1e-12)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_equals_krippendorff(level):
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 5, 60)
    data = np.clip(truth + rng.integers(-1, 2, (4, 60)), 0, 4).astype(float)
    data[rng.random(data.shape) < 0.2] = np.nan
    coinc = sum(unit_coincidences(col[~np.isnan(col)].astype(int), 5) for col in data.T)
    ours = alpha_from_coincidence(coinc, level, values=np.arange(5.0))
    ref = krippendorff.alpha(reliability_data=data, level_of_measurement=level,
                             value_domain=list(range(5)))
    assert ours == pytest.approx(ref, abs=1e-10)


def _frames(seed=0, n_items=120, n_clusters=12, raters=3):
    rng = np.random.default_rng(seed)
    items = pd.DataFrame({
        "item_id": [f"i{k}" for k in range(n_items)],
        "cluster": [f"c{k % n_clusters}" for k in range(n_items)],
        "group.race": rng.choice(["a", "b"], n_items),
    })
    truth = rng.integers(1, 6, n_items)
    items["score"] = np.clip(truth + rng.integers(-1, 2, n_items), 1, 5)
    human = pd.DataFrame([
        {"item_id": f"i{k}", "rater": f"r{r}", "score": int(np.clip(truth[k] + rng.integers(-1, 2), 1, 5))}
        for k in range(0, n_items, 2) for r in range(raters)])
    return items, human


def test_agreement_table_point_values_match_references():
    judge, human = _frames()
    tab = agreement_table(judge, human, labels=LIKERT, level="ordinal",
                          group_cols=["group.race"], B=200, seed=1)
    pairs = human.merge(judge, on="item_id", suffixes=("_h", "_j"))
    get = lambda g, m: tab[(tab.group == g) & (tab.metric == m)].iloc[0]  # noqa: E731
    for g, sub in [("all", pairs), ("a", pairs[pairs["group.race"] == "a"])]:
        assert get(g, "cohen_kappa").value == pytest.approx(cohen_kappa_score(
            sub.score_j, sub.score_h, labels=LIKERT, weights="quadratic"))
        assert get(g, "exact_agreement").value == pytest.approx((sub.score_j == sub.score_h).mean())
        assert get(g, "kendall_tau_b").value == pytest.approx(kendalltau(sub.score_j, sub.score_h).statistic)
        assert get(g, "cohen_kappa").n == len(sub)
    rel = human.pivot(index="rater", columns="item_id", values="score")
    assert get("all", "alpha_humans").value == pytest.approx(krippendorff.alpha(
        rel.to_numpy(float), level_of_measurement="ordinal", value_domain=LIKERT))
    with_judge = pd.concat([rel, judge.set_index("item_id")["score"][rel.columns].to_frame("judge").T])
    assert get("all", "alpha_judge_humans").value == pytest.approx(krippendorff.alpha(
        with_judge.to_numpy(float), level_of_measurement="ordinal", value_domain=LIKERT))
    d = judge.set_index("item_id")["score"][rel.columns] - rel.mean()
    assert get("all", "ba_bias").value == pytest.approx(d.mean())
    assert get("all", "ba_loa_high").value == pytest.approx(d.mean() + 1.96 * d.std(ddof=1))
    row = get("all", "cohen_kappa")
    assert row.ci_low < row.value < row.ci_high and row.n_clusters == 6  # labelled items are the even ones


def test_agreement_table_bootstrap_is_seeded_and_replicate_exact():
    judge, human = _frames(seed=4)
    t1 = agreement_table(judge, human, labels=LIKERT, level="ordinal", B=100, seed=7)
    t2 = agreement_table(judge, human, labels=LIKERT, level="ordinal", B=100, seed=7)
    t3 = agreement_table(judge, human, labels=LIKERT, level="ordinal", B=100, seed=8)
    pd.testing.assert_frame_equal(t1, t2)
    assert not t1.ci_low.equals(t3.ci_low)


def test_nominal_scale_rank_metrics_are_nan_with_reason():
    judge, human = _frames()
    cats = {1: "x", 2: "y", 3: "z", 4: "x", 5: "y"}
    j2 = judge.assign(score=judge.score.map(cats))
    h2 = human.assign(score=human.score.map(cats))
    tab = agreement_table(j2, h2, labels=["x", "y", "z"], level="nominal", B=50)
    sp = tab[tab.metric == "spearman"].iloc[0]
    assert math.isnan(sp.value) and sp.warning == REASON_NOMINAL
    pairs = h2.merge(j2, on="item_id", suffixes=("_h", "_j"))
    k = tab[tab.metric == "cohen_kappa"].iloc[0].value
    assert k == pytest.approx(cohen_kappa_score(pairs.score_j, pairs.score_h, labels=["x", "y", "z"]))


def test_constant_ratings_give_nan_not_zero():
    judge, human = _frames()
    tab = agreement_table(judge.assign(score=3), human.assign(score=3), labels=LIKERT,
                          level="ordinal", B=50)
    k = tab[tab.metric == "cohen_kappa"].iloc[0]
    assert math.isnan(k.value) and k.warning == REASON_NO_VARIATION
    assert tab[tab.metric == "exact_agreement"].iloc[0].value == 1.0


def test_out_of_label_set_score_is_an_error():
    judge, human = _frames()
    with pytest.raises(ValueError, match="not in the label set"):
        agreement_table(judge.assign(score=9), human, labels=LIKERT, level="ordinal", B=10)
