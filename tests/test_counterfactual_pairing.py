"""judge.stats.counterfactual: how pairs are formed and tested, on literal frames.

These belong with tests/stats/test_counterfactual.py (being rewritten elsewhere); kept apart
until then. Each kills a hand mutation that the planted-world tests let through.
"""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats as sps

from judge.stats import counterfactual_metrics


def _row(t: pd.DataFrame, metric: str, level: str) -> pd.Series:
    hit = t[(t.metric == metric) & (t.level == level)]
    assert len(hit) == 1, (metric, level)
    return hit.iloc[0]


def _frame(diffs: dict[str, list[float]]) -> pd.DataFrame:
    """cf_group -> the B-minus-A score difference of each sample (one pair per sample)."""
    rows = []
    for g, ds in diffs.items():
        for s, d in enumerate(ds):
            rows += [{"cf_group": g, "generator": "m", "sample_index": s, "attr.race": "A",
                      "score": 3.0},
                     {"cf_group": g, "generator": "m", "sample_index": s, "attr.race": "B",
                      "score": 3.0 + d}]
    return pd.DataFrame(rows)


def test_mutant_paired_score_test_runs_on_per_cluster_means():
    """Kills: the Wilcoxon test on raw pairs instead of one mean difference per cluster.

    Group c0 has five pairs, the others one: raw pairs would count c0 five times."""
    frame = _frame({"c0": [1.0] * 5, "c1": [-0.5], "c2": [2.0], "c3": [3.0], "c4": [-4.0],
                    "c5": [5.0]})
    t = counterfactual_metrics(frame, "race", reference="A", decision=None, B=50, min_cell=1)
    r = _row(t, "cf_score_diff", "B")
    assert (r.n, r.n_clusters) == (10, 6)
    per_cluster = [1.0, -0.5, 2.0, 3.0, -4.0, 5.0]  # by hand: one mean per cf_group
    expected = sps.wilcoxon(per_cluster, zero_method="wilcox").pvalue
    assert expected != pytest.approx(sps.wilcoxon([1.0] * 5 + per_cluster[1:]).pvalue)
    assert r.p_value == pytest.approx(expected)
    assert "wilcoxon" in r.method


def test_mutant_pairs_stay_within_a_sample():
    """Kills: ``sample`` dropped from the pairing keys. Sample 0 approves B and not A,
    sample 1 the reverse: every within-sample pair flips; pooled over samples nothing would
    (and there would be half as many pairs)."""
    rows = []
    for g in range(4):
        for s, (dec_a, dec_b) in enumerate([(0.0, 1.0), (1.0, 0.0)]):
            rows += [{"cf_group": f"g{g}", "generator": "m", "sample_index": s, "attr.race": "A",
                      "decision": dec_a},
                     {"cf_group": f"g{g}", "generator": "m", "sample_index": s, "attr.race": "B",
                      "decision": dec_b}]
    t = counterfactual_metrics(pd.DataFrame(rows), "race", reference="A", score=None, B=50,
                               min_cell=1)
    flip = _row(t, "cf_flip_rate", "B")
    assert (flip.value, flip.n, flip.n_clusters) == (1.0, 8, 4)
    assert _row(t, "cf_decision_diff", "B").value == pytest.approx(0.0)
