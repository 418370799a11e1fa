"""Multiple-comparison corrections against statsmodels."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

import judge.stats.multiple as multiple_mod
from judge.stats import METRIC_COLUMNS, adjust_pvalues, adjust_table, metric_table


def test_doctests():
    assert doctest.testmod(multiple_mod).failed == 0


@pytest.mark.parametrize("method, sm", [("holm", "holm"), ("bh", "fdr_bh"),
                                        ("fdr_bh", "fdr_bh"), ("bonferroni", "bonferroni")])
def test_adjust_pvalues_matches_statsmodels_and_keeps_nan(method, sm):
    p = np.array([0.001, 0.2, np.nan, 0.03, 0.04, 0.5])
    got = adjust_pvalues(p, method)
    ok = ~np.isnan(p)
    assert np.isnan(got[2])
    assert got[ok] == pytest.approx(multipletests(p[ok], method=sm)[1])


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="correction method 'sidak!' is unknown"):
        adjust_pvalues([0.1], "sidak!")


def table() -> pd.DataFrame:
    rows = []
    for metric, ps in (("a", [0.01, 0.02, 0.04]), ("b", [0.01, np.nan])):
        for i, p in enumerate(ps):
            rows.append({"metric": metric, "attribute": "x", "level": str(i), "value": 0.0,
                         "p_value": p, "method": "m"})
    return metric_table(rows)


def test_adjust_table_within_families_and_overall():
    t = table()
    assert list(t.columns) == METRIC_COLUMNS
    by_metric = adjust_table(t, "holm")
    assert by_metric.p_adj[:3].tolist() == pytest.approx(
        multipletests([0.01, 0.02, 0.04], method="holm")[1])
    assert by_metric.p_adj[3] == pytest.approx(0.01) and np.isnan(by_metric.p_adj[4])
    assert by_metric.method[0] == "m; p_adj: holm over 3"
    assert by_metric.method[4] == "m"
    overall = adjust_table(t, "bh", family=None)
    assert overall.p_adj[[0, 1, 2, 3]].tolist() == pytest.approx(
        multipletests([0.01, 0.02, 0.04, 0.01], method="fdr_bh")[1])
    only_a = adjust_table(t, "holm", metrics=["a"])
    assert np.isnan(only_a.p_adj[3])
    assert np.isnan(t.p_adj).all()  # the input is not modified
