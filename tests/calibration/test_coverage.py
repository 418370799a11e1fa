"""Fast coverage study: the 95% intervals cover the planted truth; the naive one misses."""

from __future__ import annotations

from functools import partial

import pytest

from judge.calibration import coverage_study, format_coverage, simulate_basic
from judge.calibration.coverage import expected_likert


def test_simulated_truth_is_the_expected_rounded_score():
    assert expected_likert(3.0, 1e-9) == 3.0
    assert expected_likert(9.0, 0.1) == 5.0  # clipped at the top
    j, h, truth = simulate_basic(0, n_clusters=10)
    assert truth["reference"] == "a" and set(truth["group_gap"]) == {"b", "c"}
    assert truth["differential_bias"]["b"] > 0.4  # the planted judge bias against b
    assert j.score.between(1, 5).all() and h.score.between(1, 5).all()


def test_coverage_fast():
    small = partial(simulate_basic, n_clusters=40, n_labelled=200)
    res = coverage_study(small, 60, B=1000)
    print(format_coverage(res))
    assert 0.87 <= res["differential_bias"]["coverage"] <= 1.0
    for est in ("ppi", "ppi_cluster_bootstrap", "ppi_isotonic"):
        assert 0.87 <= res["gap"][est]["coverage"] <= 1.0, est
    naive = res["gap"]["judge_only"]["coverage"]
    assert naive <= 0.75 and naive < res["gap"]["ppi"]["coverage"] - 0.2
    assert abs(res["gap"]["ppi"]["mean_error"]) < 0.05 < res["gap"]["judge_only"]["mean_error"]


def test_unequal_labelling_probabilities_feed_the_weights():
    j, h, truth = simulate_basic(1, n_clusters=20, n_labelled=60, oversample_high=4.0)
    pi = truth["inclusion_prob"]
    assert set(pi) == set(h.item_id)
    score = j.set_index("item_id")["score"]
    hi = {pi[i] for i in pi if score[i] >= 4}
    lo = {pi[i] for i in pi if score[i] < 4}
    assert len(hi) == len(lo) == 1 and hi.pop() == pytest.approx(4 * lo.pop())
    sim = partial(simulate_basic, n_clusters=20, n_labelled=60, oversample_high=4.0)
    res = coverage_study(sim, 2, B=200)
    assert res["weighted"] is True and res["gap"]["ppi"]["cells"] == 4
