"""Group comparisons use only the counterfactual groups that vary the attribute."""

from __future__ import annotations

import numpy as np
import pandas as pd

from judge.stages.analyze import varied_within_groups


def test_levels_a_group_does_not_vary_are_set_aside():
    # g1 swaps race (age fixed at 65+), g2 swaps age (race fixed at Black)
    df = pd.DataFrame({
        "cf_group": ["g1", "g1", "g2", "g2", "g2"],
        "attr.race": ["White", "Black", "Black", "Black", "Black"],
        "attr.age": ["65+", "65+", "18-29", "65+", "30-49"],
        "score": [3.0, 2.0, 4.0, 2.0, 3.0]})
    out, dropped = varied_within_groups(df)
    assert out["attr.race"].isna().tolist() == [False, False, True, True, True]
    assert out["attr.age"].isna().tolist() == [True, True, False, False, False]
    assert dropped == {"race": 3, "age": 2}
    assert df["attr.race"].notna().all()  # the input is not modified


def test_an_attribute_no_group_varies_is_kept_as_observational():
    df = pd.DataFrame({"cf_group": ["a", "b", "c"], "attr.gender": ["f", "m", "f"],
                       "score": [1.0, 2.0, 3.0]})
    out, dropped = varied_within_groups(df)
    assert out["attr.gender"].tolist() == ["f", "m", "f"] and dropped == {}


def test_pooling_unvaried_levels_confounds_the_gap_and_the_filter_removes_it():
    """Planted: no age effect. A scenario with lower quality states age 65+ and swaps race;
    another swaps age. Pooled, 65+ looks worse; within the age-swapping groups it does not."""
    rng = np.random.default_rng(0)
    rows = []
    for g in range(200):
        for lvl in ("18-29", "65+"):  # age swaps: no effect
            rows.append({"cf_group": f"age{g}", "attr.age": lvl, "score": rng.normal(4, .3)})
        for race in ("White", "Black"):  # a harder scenario that states 65+
            rows.append({"cf_group": f"race{g}", "attr.age": "65+", "attr.race": race,
                         "score": rng.normal(2, .3)})
    df = pd.DataFrame(rows)

    def gap(d):
        m = d.groupby("attr.age")["score"].mean()
        return m["65+"] - m["18-29"]

    assert gap(df) < -0.5
    out, _ = varied_within_groups(df)
    assert abs(gap(out)) < 0.1
