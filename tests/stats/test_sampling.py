"""Stratified labelling samples and their inclusion probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from judge.stats.sampling import allocate, stratified_sample


def test_allocate_floor_proportional_and_cap():
    assert allocate([10, 30, 60], 20, 2).tolist() == [2, 6, 12]
    assert allocate([1, 1, 100], 10, 2).tolist() == [1, 1, 8]  # capped at stratum size
    assert allocate([3, 50, 7], 17, 2).tolist() == [2, 13, 2]
    assert allocate([5, 5], 10, 2).tolist() == [5, 5]


def test_allocate_errors_name_the_fix():
    with pytest.raises(ValueError, match="raise n or lower min_per_stratum"):
        allocate([10, 10, 10], 4, 2)
    with pytest.raises(ValueError, match="exceeds the 30 items"):
        allocate([10, 10, 10], 31, 2)


def _items(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"item_id": [f"i{k:03d}" for k in range(n)],
                         "group.race": rng.choice(["a", "b"], n, p=[0.8, 0.2]),
                         "score": rng.integers(1, 6, n)})


def test_inclusion_probabilities_are_exact_and_weights_sum_to_population():
    items = _items()
    s = stratified_sample(items, 60, ["group.race", "score"], seed=3)
    assert s["sampled"].sum() == 60
    for _, grp in s.groupby("stratum"):
        assert grp["inclusion_prob"].nunique() == 1
        assert grp["inclusion_prob"].iloc[0] == pytest.approx(grp["sampled"].sum() / len(grp))
    # Horvitz-Thompson: sampled weights add up to the population size in every stratum
    assert s.loc[s.sampled, "weight"].sum() == pytest.approx(len(items))
    assert s.loc[s.sampled].groupby("stratum").size().min() >= 2


def test_sample_is_seeded_and_row_order_free():
    items = _items()
    a = stratified_sample(items, 50, ["group.race"], seed=1)
    b = stratified_sample(items.sample(frac=1, random_state=0), 50, ["group.race"], seed=1)
    assert set(a.item_id[a.sampled]) == set(b.item_id[b.sampled])
    c = stratified_sample(items, 50, ["group.race"], seed=2)
    assert set(a.item_id[a.sampled]) != set(c.item_id[c.sampled])
