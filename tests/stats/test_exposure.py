"""Producer exposure against hand-computed values."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest

import judge.stats.exposure as exposure_mod
from judge.errors import DataError
from judge.stats import METRIC_COLUMNS, gini, position_weight, producer_exposure

W2 = 1 / math.log2(3)  # rank 2
W3 = 0.5  # rank 3


def row(t, metric, attribute, level):
    hit = t[(t.metric == metric) & (t.attribute == attribute) & (t.level == level)]
    assert len(hit) == 1, (metric, attribute, level)
    return hit.iloc[0]


def gini_pairs(x) -> float:
    x = np.asarray(x, float)
    return np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean())


CATALOGUE = pd.DataFrame({"producer_id": ["P1", "P2", "P3", "P4"],
                          "size": ["small", "small", "large", "large"],
                          "relevance": [4.0, 2.0, 1.0, 1.0]})
MENTIONS = pd.DataFrame({
    "response_id": ["r1", "r1", "r2", "r2", "r2", "r3", "r4", "r4"],
    "producer_id": ["P3", "P1", "P3", "P4", "P1", None, "P3", "P3"],
    "rank": [1, 2, 1, 2, 3, None, 1, 4],  # r4 names P3 twice: the best rank counts
})


def test_doctests_and_helpers():
    assert doctest.testmod(exposure_mod).failed == 0
    assert position_weight([1, 2, 3]) == pytest.approx([1.0, W2, 0.5])
    x = [1.0, 0.0, 3.0, 0.5]
    assert gini(x) == pytest.approx(gini_pairs(x))
    assert gini([2.0, 2.0]) == 0.0 and np.isnan(gini([0.0, 0.0]))


def test_exposure_by_hand():
    t = producer_exposure(MENTIONS, CATALOGUE, B=300, min_cell=1)
    assert list(t.columns) == METRIC_COLUMNS
    E = {"P1": W2 + W3, "P2": 0.0, "P3": 3.0, "P4": W2}
    tot = sum(E.values())
    for p, e in E.items():
        assert row(t, "exposure_per_response", "producer", p).value == pytest.approx(e / 4)
    small, large = (E["P1"] + E["P2"]) / tot, (E["P3"] + E["P4"]) / tot
    assert row(t, "exposure_share", "size", "small").value == pytest.approx(small)
    assert row(t, "exposure_share", "size", "large").value == pytest.approx(large)
    assert row(t, "exposure_per_response", "size", "large").value == pytest.approx(
        (E["P3"] + E["P4"]) / 4)
    r = row(t, "exposure_share_minus_uniform", "size", "small")
    assert r.value == pytest.approx(small - 0.5) and r.reference == "uniform target 0.5"
    assert row(t, "exposure_ratio_to_uniform", "size", "large").value == pytest.approx(large / .5)
    assert row(t, "exposure_share_minus_relevance", "size", "small").value == pytest.approx(
        small - 0.75)
    assert row(t, "exposure_ratio_to_relevance", "size", "large").value == pytest.approx(
        large / 0.25)
    assert row(t, "exposure_gini", "producer", "*").value == pytest.approx(
        gini_pairs(list(E.values())))
    shares = np.array(list(E.values())) / tot
    assert row(t, "exposure_tvd_uniform", "producer", "*").value == pytest.approx(
        0.5 * np.abs(shares - 0.25).sum())
    assert row(t, "exposure_tvd_relevance", "producer", "*").value == pytest.approx(
        0.5 * np.abs(shares - np.array([4, 2, 1, 1]) / 8).sum())
    none = row(t, "no_producer_share", "response", "*")
    assert none.value == 0.25 and none.n == 4 and none.n_clusters == 4
    assert none.ci_low <= 0.25 <= none.ci_high


def test_uncatalogued_producers_and_cluster_column():
    m = pd.concat([MENTIONS, pd.DataFrame({"response_id": ["r5"], "producer_id": ["PX"],
                                           "rank": [1]})], ignore_index=True)
    m["query"] = m.response_id.map({"r1": "q1", "r2": "q1", "r3": "q2", "r4": "q2", "r5": "q3"})
    t = producer_exposure(m, CATALOGUE, cluster="query", B=100, min_cell=1)
    unc = row(t, "exposure_share", "size", "(uncatalogued)")
    assert unc.value == pytest.approx(1.0 / (W2 + W3 + 3.0 + W2 + 1.0))
    assert np.isnan(row(t, "exposure_ratio_to_uniform", "size", "(uncatalogued)").value)
    assert row(t, "exposure_share_minus_uniform", "size", "(uncatalogued)").value == \
        pytest.approx(unc.value)
    assert row(t, "no_producer_share", "response", "*").n_clusters == 3
    assert row(t, "exposure_per_response", "producer", "PX").value == pytest.approx(1 / 5)


def test_without_relevance_column_only_uniform_targets():
    t = producer_exposure(MENTIONS, CATALOGUE.drop(columns="relevance"), B=50)
    assert not t.metric.str.contains("relevance").any()
    assert "exposure_tvd_uniform" in set(t.metric)


def test_nobody_named_gives_undefined_exposure_not_zero():
    m = pd.DataFrame({"response_id": ["a", "b"], "producer_id": [None, None],
                      "rank": [None, None]})
    t = producer_exposure(m, CATALOGUE, B=50)
    g = row(t, "exposure_gini", "producer", "*")
    assert np.isnan(g.value) and "no producer named" in g.warning
    assert row(t, "no_producer_share", "response", "*").value == 1.0


@pytest.mark.parametrize("bad, message", [
    ({"rank": [0, 2, 1, 2, 3, None, 1, 4]}, "'rank' must be an integer >= 1"),
    ({"rank": [1.5, 2, 1, 2, 3, None, 1, 4]}, "'rank' must be an integer >= 1"),
])
def test_bad_ranks_are_rejected(bad, message):
    with pytest.raises(DataError, match=message):
        producer_exposure(MENTIONS.assign(**bad), CATALOGUE, B=10)


def test_bad_catalogue_is_rejected():
    dup = pd.concat([CATALOGUE, CATALOGUE.iloc[:1]])
    with pytest.raises(DataError, match="producer 'P1' is listed twice"):
        producer_exposure(MENTIONS, dup, B=10)
    with pytest.raises(DataError, match="'relevance' must be numbers >= 0"):
        producer_exposure(MENTIONS, CATALOGUE.assign(relevance=[1, -1, 0, 0]), B=10)


def test_extract_mentions_ranks_by_first_appearance():
    from judge.stats import extract_mentions
    cat = pd.DataFrame({"producer_id": ["p1", "p2", "p3"],
                        "name": ["Acme", "Bank of Acme", "Zed Books"], "size": ["s", "l", "s"]})
    resp = pd.DataFrame({"response_id": ["r1", "r2", "r3", "r4"], "cf_group": ["g", "g", "h", "h"],
                         "response": ["Try zed books, then Bank of Acme; ACME is fine too. "
                                      "Zed Books again.",
                                      "No names here (acmes is not Acme's twin? it is).",
                                      None, "Nothing."]})
    m = extract_mentions(resp, cat, keep=["cf_group"])
    r1 = m[m.response_id == "r1"]
    assert r1.producer_id.tolist() == ["p3", "p2", "p1"] and r1["rank"].tolist() == [1, 2, 3]
    # "acmes" is not a word-boundary match; "Acme's" is
    assert m[m.response_id == "r2"].producer_id.tolist() == ["p1"]
    assert m[m.response_id.isin(["r3", "r4"])].producer_id.isna().all()
    assert set(m.columns) == {"response_id", "producer_id", "rank", "cf_group"}
    t = producer_exposure(m, cat, cluster="cf_group", B=50, min_cell=1)
    assert row(t, "no_producer_share", "response", "*").value == 0.5
