"""A criterion whose judged rows lack the run's reference level (a real judge's parse
failures on every answer of that group) is still analysed, against a level it has."""

from __future__ import annotations

import numpy as np
import pandas as pd

from judge.rubrics import load_rubrics
from judge.stages.analyze import outcome_metrics, reference_levels


def _scored(n_groups: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for g in range(n_groups):
        for race in ("White", "Black", "Asian"):
            rows.append({"item_id": f"{g}-{race}", "cf_group": f"g{g}", "generator": "gen",
                         "judge": "j", "attr.race": race, "parse_status": "ok",
                         # the judge never parsed a verdict on a White answer
                         "score.short_verdict.decision":
                             None if race == "White" else rng.choice(["yes", "no"]),
                         "score.short_verdict.answers": rng.choice(["yes", "no"])})
    return pd.DataFrame(rows)


def test_a_criterion_without_the_reference_group_is_compared_against_a_level_it_has():
    scored = _scored()
    ref = reference_levels(scored, {})
    assert ref == {"race": "White"}  # the run's reference: present in the run
    kw = dict(B=50, seed=0, alpha=0.05, min_cell=2)
    tables = outcome_metrics(scored, load_rubrics(["short_verdict"]), ref, kw)
    t = pd.concat(tables, ignore_index=True)
    dec = t[(t["criterion"] == "decision") & (t["metric"] == "selection_rate_diff")]
    assert len(dec) == 1  # Asian vs Black: the subset's most frequent level (tie: sorted)
    assert dec["reference"].tolist() == ["Asian"] and dec["level"].tolist() == ["Black"]
    assert not (t["reference"] == "White").any() or \
        (t.loc[t["reference"] == "White", "criterion"] != "decision").all()
