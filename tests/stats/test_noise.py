"""Counterfactual differences net of the same-query resampling baseline."""

import numpy as np
import pandas as pd
import pytest

from judge.stats.noise import (
    NOISE_EXPLANATION,
    WARN_ONE_SAMPLE,
    cf_pair_values,
    noise_floor_metrics,
    noise_pair_values,
)


def world(effect: float, groups: int = 80, samples: int = 4, seed: int = 0) -> pd.DataFrame:
    """A generator at temperature > 0: each counterfactual group has its own favourable
    probability p_g; level "B" shifts it by ``effect`` (0 = nothing planted)."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(groups):
        p = rng.uniform(0.3, 0.7)
        for lv in ("A", "B"):
            pl = min(max(p + (effect if lv == "B" else 0.0), 0.0), 1.0)
            for s in range(samples):
                dec = float(rng.random() < pl)
                rows.append({"cf_group": f"g{g}", "query_id": f"g{g}-{lv}", "sample_index": s,
                             "generator": "gen", "judge": "j", "attr.race": lv,
                             "decision": dec, "score": 3.0 + 2 * dec + rng.normal(0, 0.5)})
    return pd.DataFrame(rows)


def rows_by_metric(t: pd.DataFrame) -> dict:
    return {r["metric"]: r for r in t.to_dict("records")}


def test_no_planted_effect_excess_covers_zero_while_raw_flip_rate_is_large():
    f = world(0.0)
    t = rows_by_metric(noise_floor_metrics(f, reference={"race": "A"}, B=400, seed=1))
    cf = cf_pair_values(f, ("race",), "decision", "A", "cf_group", ("generator", "sample_index"))
    raw = cf["value"].mean()
    assert raw > 0.35  # the raw flip rate looks like a big effect...
    floor, ex = t["cf_flip_rate_noise_floor"], t["cf_flip_rate_excess"]
    assert floor["value"] == pytest.approx(raw, abs=0.08)  # ...but it is the noise floor
    assert ex["ci_low"] <= 0.0 <= ex["ci_high"] and ex["p_value"] > 0.05
    assert ex["value"] == pytest.approx(raw - floor["value"])
    assert ex["reference"] == "A" and ex["level"] == "B" and ex["n_clusters"] == 80
    sx = t["cf_score_absdiff_excess"]
    assert sx["ci_low"] <= 0.0 <= sx["ci_high"]


def test_planted_effect_gives_a_positive_excess():
    t = rows_by_metric(noise_floor_metrics(world(0.45, groups=120), reference={"race": "A"},
                                           B=400, seed=1))
    ex = t["cf_flip_rate_excess"]
    assert ex["ci_low"] > 0.0 and ex["p_value"] < 0.01


def test_deterministic_generator_with_identical_answers_scores_zero_excess():
    f = world(0.0)
    f["decision"] = (f["cf_group"].str[1:].astype(int) % 2).astype(float)
    f["score"] = 4.0
    t = rows_by_metric(noise_floor_metrics(f, B=200))
    for m in ("cf_flip_rate_noise_floor", "cf_flip_rate_excess", "cf_score_absdiff_excess"):
        assert t[m]["value"] == 0.0


def test_excess_is_paired_and_cluster_resampled():
    # flip rate and floor come from the same clusters: the excess interval is much narrower
    # than the two intervals would suggest if they were independent
    t = rows_by_metric(noise_floor_metrics(world(0.0, groups=60), B=400, seed=3))
    ex, fl = t["cf_flip_rate_excess"], t["cf_flip_rate_noise_floor"]
    assert ex["method"].startswith("paired cluster bootstrap")
    assert ex["n_clusters"] == fl["n_clusters"] == 60


def test_one_sample_per_query_has_no_floor_and_says_why():
    f = world(0.0, samples=1)
    t = rows_by_metric(noise_floor_metrics(f, B=100))
    assert np.isnan(t["cf_flip_rate_noise_floor"]["value"])
    assert np.isnan(t["cf_flip_rate_excess"]["value"])
    assert t["cf_flip_rate_excess"]["warning"] == WARN_ONE_SAMPLE
    assert noise_pair_values(f, ("race",), "decision", "cf_group").empty


def test_noise_pairs_are_sample_pairs_of_one_query():
    f = pd.DataFrame({"cf_group": "g", "query_id": ["q1"] * 3 + ["q2"] * 2,
                      "sample_index": [0, 1, 2, 0, 1], "attr.race": ["A"] * 3 + ["B"] * 2,
                      "decision": [1.0, 0.0, 1.0, 1.0, 1.0]})
    p = noise_pair_values(f, ("race",), "decision", "cf_group")
    assert sorted(p.loc[p["level"] == "A", "value"]) == [0.0, 1.0, 1.0]
    assert p.loc[p["level"] == "B", "value"].tolist() == [0.0]


def test_missing_attribute_values_are_not_a_level():
    f = world(0.0, groups=20)
    f.loc[f["cf_group"] == "g0", "attr.race"] = None
    t = noise_floor_metrics(f, B=100)
    assert set(t["level"]) == {"B"} and set(t["reference"]) == {"A"}


def test_explanation_is_one_sentence():
    assert NOISE_EXPLANATION.count(". ") == 0 and NOISE_EXPLANATION.endswith(".")


def test_all_metrics_puts_floor_and_excess_beside_the_flip_rate():
    from judge.stats import all_metrics

    f = world(0.0, groups=40)
    t = all_metrics(f, reference={"race": "A"}, B=100, intersections=False)
    fr = t[t.metric == "cf_flip_rate"].iloc[0]
    ex = t[t.metric == "cf_flip_rate_excess"].iloc[0]
    assert (fr.reference, fr.level) == (ex.reference, ex.level) == ("A", "B")
    assert {"cf_flip_rate_noise_floor", "cf_score_absdiff_noise_floor",
            "cf_score_absdiff_excess"} <= set(t.metric)
    assert np.isfinite(ex.p_adj)


def test_excess_interval_covers_zero_in_most_null_worlds():
    """Coverage of the paired interval under the null, over 40 planted worlds (nominal
    95%; a binomial allowance for 40 draws)."""
    covered = 0
    for s in range(40):
        t = rows_by_metric(noise_floor_metrics(world(0.0, groups=50, samples=3, seed=100 + s),
                                               reference={"race": "A"}, score=None, B=200,
                                               seed=s))
        ex = t["cf_flip_rate_excess"]
        covered += ex["ci_low"] <= 0.0 <= ex["ci_high"]
    assert covered >= 34


def test_reasons_name_what_is_missing():
    from judge.stats.noise import WARN_NO_PAIRS

    f = world(0.0, groups=10)
    f.loc[f["attr.race"] == "B", "decision"] = np.nan  # no pairs, but a floor for A
    t = rows_by_metric(noise_floor_metrics(f, score=None, B=50))
    assert t["cf_flip_rate_excess"]["warning"] == WARN_NO_PAIRS
    assert pd.isna(t["cf_flip_rate_noise_floor"]["warning"])
    assert np.isfinite(t["cf_flip_rate_noise_floor"]["value"])
